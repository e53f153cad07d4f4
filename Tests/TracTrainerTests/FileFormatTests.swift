import Foundation
import TracCore
import TracTrainer
import XCTest

final class DatasetFileTests: XCTestCase {
  func testRoundTripThroughDSRLLayout() throws {
    let (dataset, done) = learnableDataset(episodes: 6, length: 5)
    let path = temporaryDirectory("h5").appendingPathComponent("d.hdf5").path
    try DSRLDataset.write(
      dataset, terminals: [Bool](repeating: false, count: done.count), timeouts: done, to: path)
    let loaded = try DSRLDataset.load(path: path, task: try TaskInfo.named("OfflineBallCircle-v0"))
    XCTAssertEqual(loaded.observations, dataset.observations)
    XCTAssertEqual(loaded.actions, dataset.actions)
    XCTAssertEqual(loaded.episodes.count, 6)
    XCTAssertEqual(loaded.maxEpisodeLength, 5)
  }

  func testFloat64ObservationsAndUInt8Flags() throws {
    let path = temporaryDirectory("h5").appendingPathComponent("d.hdf5").path
    let file = try HDF5File(path: path, create: true)
    try file.write("observations", doubles: [0.5, 1.5, 2.5, 3.5], dimensions: [2, 2])
    try file.write("next_observations", doubles: [0, 0, 0, 0], dimensions: [2, 2])
    try file.write("actions", floats: [0.1, 0.2], dimensions: [2, 1])
    try file.write("rewards", floats: [1, 2], dimensions: [2])
    try file.write("costs", floats: [0, 1], dimensions: [2])
    try file.write("terminals", bytes: [1, 0], dimensions: [2])
    try file.write("timeouts", bytes: [0, 1], dimensions: [2])
    let dataset = try DSRLDataset.load(path: path)
    XCTAssertEqual(dataset.observations, [0.5, 1.5, 2.5, 3.5])
    XCTAssertEqual(dataset.episodes, [0..<1, 1..<2])
  }

  func testBadFilesNameTheFileAndKey() throws {
    let directory = temporaryDirectory("bad")
    // A missing key.
    let missing = directory.appendingPathComponent("missing.hdf5").path
    do {
      let file = try HDF5File(path: missing, create: true)
      try file.write("observations", floats: [0, 0], dimensions: [1, 2])
    }
    assertDatasetError(missing, key: "next_observations", contains: "missing")
    // An empty file and a truncated copy of a real one.
    let empty = directory.appendingPathComponent("empty.hdf5").path
    _ = FileManager.default.createFile(atPath: empty, contents: Data())
    assertDatasetError(empty, key: "file", contains: "not an HDF5 file")
    let (dataset, done) = learnableDataset(episodes: 30, length: 20)
    let whole = directory.appendingPathComponent("whole.hdf5").path
    try DSRLDataset.write(dataset, terminals: done, timeouts: done, to: whole)
    let truncated = directory.appendingPathComponent("truncated.hdf5").path
    let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
    XCTAssertThrowsError(try DSRLDataset.load(path: truncated)) { error in
      XCTAssertTrue("\(error)".hasPrefix(truncated), "\(error)")
    }
    // Widths that do not match the task.
    XCTAssertThrowsError(try DSRLDataset.load(path: whole, task: try TaskInfo.named("OfflineAntCircle-v0"))) {
      error in
      XCTAssertEqual((error as? DatasetError)?.key, "observations")
      XCTAssertTrue("\(error)".contains("34"), "\(error)")
    }
    // A shape mismatch and a NaN.
    let mismatch = directory.appendingPathComponent("mismatch.hdf5").path
    do {
      let file = try HDF5File(path: mismatch, create: true)
      try file.write("observations", floats: [0, 0, 0, 0], dimensions: [2, 2])
      try file.write("next_observations", floats: [0, 0, 0, 0], dimensions: [2, 2])
      try file.write("actions", floats: [0, 0], dimensions: [2, 1])
      try file.write("rewards", floats: [1, .nan], dimensions: [2])
      try file.write("costs", floats: [0, 0, 0], dimensions: [3])
      try file.write("terminals", flags: [false, true], dimensions: [2])
      try file.write("timeouts", flags: [false, true], dimensions: [2])
    }
    assertDatasetError(mismatch, key: "costs", contains: "shape")
    assertDatasetError("/nonexistent/file.hdf5", key: "file", contains: "no such file")
  }

  private func assertDatasetError(_ path: String, key: String, contains text: String, line: UInt = #line) {
    XCTAssertThrowsError(try DSRLDataset.load(path: path), line: line) { error in
      guard let error = error as? DatasetError else { return XCTFail("\(error)", line: line) }
      XCTAssertEqual(error.file, path, line: line)
      XCTAssertEqual(error.key, key, "\(error)", line: line)
      XCTAssertTrue(error.description.contains(text), error.description, line: line)
    }
  }
}

final class PolicyFileTests: XCTestCase {
  func testPolicyFileLayoutAndRoundTrip() throws {
    let shape = PolicyShape(observationDim: 8, actionDim: 2)
    let parameters = ParameterBuffer(shape: shape)
    var generator = SeededGenerator(seed: 3)
    parameters.initializeOrthogonal(generator: &generator)
    let url = temporaryDirectory("policy").appendingPathComponent("policy.safetensors")
    try PolicyFile.write(parameters, task: try TaskInfo.named("OfflineBallCircle-v0"), runID: "abc", to: url)
    let data = try Data(contentsOf: url)
    // 8-byte little-endian header length, JSON header padded to 8 bytes, then 4 bytes a parameter.
    let headerLength = Int(data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    XCTAssertEqual(headerLength % 8, 0)
    XCTAssertEqual(data.count, 8 + headerLength + 4 * shape.parameterCount)
    let header =
      try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
    XCTAssertEqual((header["layers.0.weight"] as! [String: Any])["shape"] as! [Int], [256, 8])
    XCTAssertEqual((header["layers.2.bias"] as! [String: Any])["shape"] as! [Int], [2])
    let metadata = header["__metadata__"] as! [String: String]
    XCTAssertEqual(metadata["format"], "trac-policy/1")
    XCTAssertEqual(metadata["output_activation"], "tanh")
    XCTAssertEqual(metadata["obs_dim"], "8")
    XCTAssertEqual(metadata["run_id"], "abc")
    let (read, _) = try PolicyFile.read(url)
    XCTAssertEqual(read.values, parameters.values)
  }

  func testMalformedPolicyFilesAreRefused() throws {
    let directory = temporaryDirectory("badpolicy")
    let truncated = directory.appendingPathComponent("t.safetensors")
    try Data([16, 0, 0, 0, 0, 0, 0, 0, 123]).write(to: truncated)
    XCTAssertThrowsError(try PolicyFile.read(truncated)) {
      XCTAssertTrue("\($0)".contains("header length"), "\($0)")
    }
    let wrongShape = directory.appendingPathComponent("w.safetensors")
    let tensors = [
      ("layers.0.weight", Safetensors.Tensor(shape: [3, 8], values: [Float](repeating: 0, count: 24)))
    ]
    try Safetensors.encode(tensors: tensors, metadata: ["format": "trac-policy/1"]).write(to: wrongShape)
    XCTAssertThrowsError(try PolicyFile.read(wrongShape)) {
      XCTAssertTrue("\($0)".contains("layers"), "\($0)")
    }
  }
}

final class DatasetResolutionTests: XCTestCase {
  func testTaskResolvesToItsDSRLFile() throws {
    let directory = temporaryDirectory("dsrl")
    let task = try TaskInfo.named("OfflineBallCircle-v0")
    XCTAssertThrowsError(try DSRLDatasetDirectory.resolve(task: task, in: directory)) { error in
      XCTAssertTrue("\(error)".contains("DSRL_DATASET_DIR"), "\(error)")
    }
    _ = FileManager.default.createFile(
      atPath: directory.appendingPathComponent("SafetyBallRun-v0-80-100.hdf5").path, contents: nil)
    _ = FileManager.default.createFile(
      atPath: directory.appendingPathComponent("SafetyBallCircle-v0-80-886.hdf5").path, contents: nil)
    XCTAssertEqual(
      try DSRLDatasetDirectory.resolve(task: task, in: directory),
      directory.appendingPathComponent("SafetyBallCircle-v0-80-886.hdf5").path)
  }
}
