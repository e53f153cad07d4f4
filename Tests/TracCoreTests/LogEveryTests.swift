import Foundation
import TracCore
import XCTest

/// The grid key `log_every` (docs/GRID.md): every run's train.jsonl cadence, in the run's spec only when
/// set (so grids without it keep their sweep and run ids).
final class LogEveryTests: XCTestCase {
  let base = """
    {"name": "k", "task": "OfflineBallCircle-v0", "algorithm": "trac", "cost_thresholds": [10], "seeds": [0]
    """

  func testTheGridKeySetsEveryRunsSpecAndIsLeftOutWhenAbsent() throws {
    let plain = try GridFile(parsing: Data((base + "}").utf8))
    let every = try GridFile(parsing: Data((base + #", "log_every": 10}"#).utf8))
    XCTAssertNil(plain.logEvery)
    XCTAssertNotEqual(plain.sweepID, every.sweepID)
    let spec = try XCTUnwrap(every.runs.first).spec(datasetSHA256: "ab")
    XCTAssertEqual(spec.logEvery, 10)
    XCTAssertTrue(String(decoding: spec.canonicalJSON, as: UTF8.self).contains(#""log_every":10"#))
    let unset = try XCTUnwrap(plain.runs.first).spec(datasetSHA256: "ab")
    XCTAssertFalse(String(decoding: unset.canonicalJSON, as: UTF8.self).contains("log_every"))
    XCTAssertEqual(try JSONCodec.decoder.decode(RunSpec.self, from: spec.canonicalJSON), spec)
    XCTAssertEqual(spec.bcStage, unset.bcStage, "the log cadence does not change the BC stage")
  }

  func testABadValueIsRefusedWithItsPath() {
    for bad in ["0", "-3", "1.5", "\"10\""] {
      XCTAssertThrowsError(try GridFile(parsing: Data((base + #", "log_every": \#(bad)}"#).utf8))) { error in
        XCTAssertTrue("\(error)".contains("$.log_every"), "\(bad): \(error)")
      }
    }
  }
}
