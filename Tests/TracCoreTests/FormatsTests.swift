import Foundation
import TracCore
import XCTest

/// The one home of the safetensors header, the policy layout and the checkpoint header.
final class FormatsTests: XCTestCase {
  func testSafetensorsHeaderReadsWhatItWrites() throws {
    let layout = PolicyLayout.tensors(observationDim: 8, actionDim: 2)
    var data = SafetensorsHeader.encode(
      tensors: layout.map { ($0.name, PolicyLayout.dtype, $0.shape, 4 * $0.shape.reduce(1, *)) },
      metadata: ["format": "x"])
    XCTAssertEqual((data.count - 8) % 8, 0, "padded to 8 bytes")
    let length = data.count
    data.append(Data(count: layout.reduce(0) { $0 + 4 * $1.shape.reduce(1, *) }))
    let header = try SafetensorsHeader(parsing: data)
    XCTAssertEqual(header.dataStart, length)
    XCTAssertEqual(header.metadata, ["format": "x"])
    XCTAssertEqual(header.tensors["layers.0.weight"]?.shape, [256, 8])
    XCTAssertEqual(header.tensors["layers.2.bias"]?.dataOffsets?.last, data.count - length)
    XCTAssertEqual(Set(header.tensors.keys), Set(layout.map(\.name)))
  }

  func testSafetensorsHeaderProblems() {
    XCTAssertThrowsError(try SafetensorsHeader(parsing: Data(count: 5))) {
      XCTAssertEqual($0 as? SafetensorsHeader.Problem, .tooShort(fileSize: 5))
    }
    var long = Data([200, 0, 0, 0, 0, 0, 0, 0])
    long.append(Data("{}".utf8))
    XCTAssertThrowsError(try SafetensorsHeader(parsing: long)) {
      XCTAssertEqual($0 as? SafetensorsHeader.Problem, .tooLong(length: 200, fileSize: 10))
    }
    var array = Data([8, 0, 0, 0, 0, 0, 0, 0])
    array.append(Data("[1]     ".utf8))
    XCTAssertThrowsError(try SafetensorsHeader(parsing: array)) {
      XCTAssertEqual($0 as? SafetensorsHeader.Problem, .notJSONObject)
    }
  }

  func testCheckpointHeaderRoundTrip() {
    let header = CheckpointHeader(runID: "00000000000000aa", step: 30, bcStage: "bb")
    let data = SafetensorsHeader.encode(tensors: [], metadata: header.metadata)
    XCTAssertEqual(CheckpointHeader(data), header)
    XCTAssertEqual(header.format, CheckpointFormat.current)
    XCTAssertNil(CheckpointHeader(SafetensorsHeader.encode(tensors: [], metadata: ["format": "x"])))
  }
}
