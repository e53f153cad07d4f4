import Foundation
import TracCore
import TracTrainer
import XCTest

/// Runs the built `trac-sweep` binary as a user would.
final class TrainCommandTests: XCTestCase {
  static let binary = CLI.binary
  static let python = CLI.python
  @discardableResult
  func run(_ executable: URL, _ arguments: [String]) throws -> CLI.Result {
    try CLI.run(executable, arguments)
  }
  func datasetFile() throws -> String { try CLI.datasetFile() }
  func trainArguments(_ dataset: String, out: URL, seed: Int = 0) -> [String] {
    CLI.trainArguments(dataset, out: out, seed: seed)
  }

  func testTrainWritesPolicyLogAndRunRecord() throws {
    let dataset = try datasetFile()
    let out = temporaryDirectory("train")
    let result = try run(Self.binary, trainArguments(dataset, out: out))
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stderr, "", "quiet when stderr is not a terminal")

    let lines = try String(contentsOf: out.appendingPathComponent("train.jsonl"), encoding: .utf8)
      .split(separator: "\n")
    XCTAssertEqual(lines.count, 4)  // steps 5, 10 (end of BC), 15, 20
    let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
    XCTAssertEqual(last["phase"] as? String, "trac")
    XCTAssertEqual(last["step"] as? Int, 20)
    XCTAssertNotNil(last["accuracy"] as? Double)

    let record = try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: out.appendingPathComponent("run.json")))
    XCTAssertEqual(record.spec.datasetSHA256, try sha256Hex(ofFileAt: dataset))
    XCTAssertEqual(record.spec.hyperparameters.bcSteps, 10)
    XCTAssertEqual(record.data.episodes, 24)
    XCTAssertEqual(record.final.steps, 20)
    XCTAssertTrue(result.stdout.hasPrefix(record.runID))

    // numpy reads the policy as docs/FORMATS.md says, and its forward pass gives Swift's actions.
    let (parameters, _) = try PolicyFile.read(out.appendingPathComponent("policy.safetensors"))
    let network = PolicyNetwork(
      shape: parameters.shape, capacity: 3, dropoutGenerator: SeededGenerator(seed: 0))
    network.parameters.copy(from: parameters)
    let observations: [[Float]] = (0..<3).map { row in (0..<8).map { Float(row * 8 + $0) / 10 - 1 } }
    for (row, observation) in observations.enumerated() {
      for (column, value) in observation.enumerated() { network.input[row * 8 + column] = value }
    }
    network.forward(rows: 3, dropout: false)
    let script = """
      import json, sys, numpy as np
      from safetensors.numpy import load_file
      from safetensors import safe_open
      t = load_file(sys.argv[1])
      with safe_open(sys.argv[1], "np") as f: meta = f.metadata()
      s = np.array(json.loads(sys.argv[2]), dtype=np.float32)
      h = np.maximum(s @ t["layers.0.weight"].T + t["layers.0.bias"], 0)
      h = np.maximum(h @ t["layers.1.weight"].T + t["layers.1.bias"], 0)
      a = np.tanh(h @ t["layers.2.weight"].T + t["layers.2.bias"])
      print(json.dumps({"actions": a.tolist(), "meta": meta, "shape": list(t["layers.0.weight"].shape)}))
      """
    let observationsJSON = String(
      decoding: try JSONSerialization.data(withJSONObject: observations), as: UTF8.self)
    let numpy = try run(
      Self.python, ["-c", script, out.appendingPathComponent("policy.safetensors").path, observationsJSON])
    XCTAssertEqual(numpy.status, 0, numpy.stderr)
    let answer = try JSONSerialization.jsonObject(with: Data(numpy.stdout.utf8)) as! [String: Any]
    XCTAssertEqual(answer["shape"] as? [Int], [256, 8])
    XCTAssertEqual((answer["meta"] as? [String: String])?["run_id"], record.runID)
    // The same observations through the evaluator's own forward pass (its `actions` request).
    let request: [String: Any] = [
      "id": 1, "op": "actions", "policy": out.appendingPathComponent("policy.safetensors").path,
      "observations": observations,
    ]
    let evaluator = try CLI.run(
      Self.python, [CLI.repository.appendingPathComponent("scripts/evaluator.py").path, "serve"],
      input: String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self) + "\n")
    let served = try JSONSerialization.jsonObject(with: Data(evaluator.stdout.utf8)) as! [String: Any]
    for actions in [answer["actions"] as! [[Double]], served["actions"] as! [[Double]]] {
      var largest = 0.0
      for row in 0..<3 {
        for column in 0..<2 {
          largest = max(largest, abs(actions[row][column] - Double(network.output[row * 2 + column])))
        }
      }
      XCTAssertLessThan(largest, 1e-5)
    }
  }

  func testSameInputsGiveABitIdenticalPolicyFile() throws {
    let dataset = try datasetFile()
    let first = temporaryDirectory("same1")
    let second = temporaryDirectory("same2")
    try run(Self.binary, trainArguments(dataset, out: first, seed: 7))
    try run(Self.binary, trainArguments(dataset, out: second, seed: 7))
    let name = "policy.safetensors"
    XCTAssertEqual(
      try Data(contentsOf: first.appendingPathComponent(name)),
      try Data(contentsOf: second.appendingPathComponent(name)))
  }

  /// `train --batching epochs` (docs/ALGORITHM.md section 5): another run (its id and policy differ from
  /// the default's), recorded in run.json's spec, and the same run again from its spec file.
  func testEpochBatchingIsItsOwnRunAndTravelsInTheSpecFile() throws {
    let dataset = try datasetFile()
    let full = temporaryDirectory("batching-full")
    let epochs = temporaryDirectory("batching-epochs")
    XCTAssertEqual(try run(Self.binary, trainArguments(dataset, out: full)).status, 0)
    let trained = try run(Self.binary, trainArguments(dataset, out: epochs) + ["--batching", "epochs"])
    XCTAssertEqual(trained.status, 0, trained.stderr)
    func record(_ out: URL) throws -> RunRecord {
      try JSONCodec.decoder.decode(
        RunRecord.self, from: Data(contentsOf: out.appendingPathComponent(RunFiles.runJSON)))
    }
    XCTAssertEqual(try record(epochs).spec.batching, .epochs)
    XCTAssertEqual(try record(full).spec.batching, .full)
    XCTAssertNotEqual(try record(epochs).runID, try record(full).runID)
    XCTAssertNotEqual(
      try Data(contentsOf: epochs.appendingPathComponent(RunFiles.policy)),
      try Data(contentsOf: full.appendingPathComponent(RunFiles.policy)))
    let specFile = temporaryDirectory("batching-spec").appendingPathComponent(RunFiles.spec)
    try RunSpecFile.write(try record(epochs).spec, to: specFile)
    let again = temporaryDirectory("batching-again")
    let bySpec = try run(
      Self.binary, ["train", "--spec", specFile.path, "--dataset", dataset, "--out", again.path])
    XCTAssertEqual(bySpec.status, 0, bySpec.stderr)
    XCTAssertEqual(
      try Data(contentsOf: again.appendingPathComponent(RunFiles.policy)),
      try Data(contentsOf: epochs.appendingPathComponent(RunFiles.policy)))
    let wrong = try run(Self.binary, trainArguments(dataset, out: again) + ["--batching", "epoch"])
    XCTAssertEqual(wrong.status, 64)
    XCTAssertTrue(wrong.stderr.contains("--batching must be full or epochs"), wrong.stderr)
  }

  /// `train --spec FILE` (how a worker starts the trainer) trains the run the file names: the same run
  /// id and policy as the options; a file that is not that run's canonical spec is refused, naming why.
  func testSpecFileTrainsTheSameRunAsTheOptions() throws {
    let dataset = try datasetFile()
    let byOptions = temporaryDirectory("spec-options")
    XCTAssertEqual(try run(Self.binary, trainArguments(dataset, out: byOptions)).status, 0)
    let record = try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: byOptions.appendingPathComponent(RunFiles.runJSON)))
    let scratch = temporaryDirectory("spec-files")
    let specFile = scratch.appendingPathComponent(RunFiles.spec)
    try RunSpecFile.write(record.spec, to: specFile)
    let bySpec = temporaryDirectory("spec-file")
    let trained = try run(
      Self.binary, ["train", "--spec", specFile.path, "--dataset", dataset, "--out", bySpec.path])
    XCTAssertEqual(trained.status, 0, trained.stderr)
    XCTAssertTrue(trained.stdout.hasPrefix(record.runID), trained.stdout)
    XCTAssertEqual(
      try Data(contentsOf: bySpec.appendingPathComponent(RunFiles.policy)),
      try Data(contentsOf: byOptions.appendingPathComponent(RunFiles.policy)))

    func refused(_ text: String, _ expected: String, status: Int32 = TracError.inputErrorExitStatus) throws {
      let file = scratch.appendingPathComponent("bad-\(UUID().uuidString.prefix(6)).json")
      try Data(text.utf8).write(to: file)
      let out = scratch.appendingPathComponent("out-\(UUID().uuidString.prefix(6))")
      let result = try run(
        Self.binary, ["train", "--spec", file.path, "--dataset", dataset, "--out", out.path])
      XCTAssertEqual(result.status, status, result.stderr)
      XCTAssertTrue(result.stderr.contains(expected), "\(expected): \(result.stderr)")
      XCTAssertFalse(
        FileManager.default.fileExists(atPath: out.appendingPathComponent(RunFiles.runJSON).path))
    }
    let canonical = String(decoding: RunSpecFile.encode(record.spec), as: UTF8.self)
    // Another dataset's run: the spec's run id is not the one computed from the dataset in hand.
    var otherData = record.spec
    otherData.datasetSHA256 = String(repeating: "0", count: 64)
    try refused(String(decoding: RunSpecFile.encode(otherData), as: UTF8.self), "SHA-256")
    // A misspelt key, a missing key, whitespace, and not JSON at all.
    try refused(canonical.replacingOccurrences(of: #""seed":"#, with: #""colour":1,"seed":"#), "colour")
    try refused(canonical.replacingOccurrences(of: #""cost_threshold":5,"#, with: ""), "cost_threshold")
    try refused(canonical.replacingOccurrences(of: ",", with: ", "), "canonical")
    try refused("not json", "is not a JSON object")
    // The options that set an input cannot be given with a spec (a usage error).
    let both = try run(
      Self.binary,
      ["train", "--spec", specFile.path, "--seed", "3", "--out", scratch.appendingPathComponent("x").path])
    XCTAssertEqual(both.status, 64)
    XCTAssertTrue(both.stderr.contains("leave out --seed"), both.stderr)
  }

  func testInputErrorsAreRefusedWithTheirNameAndNoFiles() throws {
    let dataset = try datasetFile()
    let out = temporaryDirectory("refused").appendingPathComponent("run")
    // A hyperparameter out of range: a usage error naming the option, before any work.
    var arguments = trainArguments(dataset, out: out)
    arguments += ["--x", "0.8", "--y", "0.5"]
    let badShare = try run(Self.binary, arguments)
    XCTAssertEqual(badShare.status, 64)
    XCTAssertTrue(badShare.stderr.contains("--x/--y"), badShare.stderr)
    // A negative count is read as a value and refused by its rule, not taken for an option.
    let negative = try run(Self.binary, trainArguments(dataset, out: out) + ["--steps", "-5"])
    XCTAssertEqual(negative.status, 64)
    XCTAssertTrue(
      negative.stderr.contains("--steps") && negative.stderr.contains("at least 1"), negative.stderr)
    XCTAssertFalse(negative.stderr.contains("Missing value"), negative.stderr)
    // No desirable segment: the reserved input-error status 65.
    arguments = trainArguments(dataset, out: out)
    arguments[arguments.firstIndex(of: "5")!] = "0.5"
    let noSafe = try run(Self.binary, arguments)
    XCTAssertEqual(noSafe.status, 65, noSafe.stderr)
    XCTAssertTrue(noSafe.stderr.contains("no desirable segments at cost threshold 0.5"), noSafe.stderr)
    // A dataset that is not HDF5.
    let notHDF5 = temporaryDirectory("nothdf5").appendingPathComponent("x.hdf5")
    try Data("hello".utf8).write(to: notHDF5)
    let broken = try run(Self.binary, trainArguments(notHDF5.path, out: out))
    XCTAssertEqual(broken.status, 65)
    XCTAssertTrue(broken.stderr.contains(notHDF5.path), broken.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no half-written output")
  }

  /// `--segments` (the paper's Figure 6): each selection trains and says so in run.json; an
  /// undesirable-only run without undesirable segments is an input error; a bad word is a usage error.
  func testSegmentSelectionTrainsOrRefusesWithItsOwnError() throws {
    let dataset = try datasetFile()
    let defaultOut = temporaryDirectory("segments-both")
    XCTAssertEqual(try run(Self.binary, trainArguments(dataset, out: defaultOut)).status, 0)
    let defaultJSON = try String(contentsOf: defaultOut.appendingPathComponent("run.json"), encoding: .utf8)
    XCTAssertFalse(defaultJSON.contains("\"segments\" : \""), "the default is left out, as in the run id")

    var ids: Set<String> = []
    for selection in ["desirable", "undesirable"] {
      let out = temporaryDirectory("segments-\(selection)")
      let result = try run(Self.binary, trainArguments(dataset, out: out) + ["--segments", selection])
      XCTAssertEqual(result.status, 0, result.stderr)
      let record = try JSONCodec.decoder.decode(
        RunRecord.self, from: Data(contentsOf: out.appendingPathComponent("run.json")))
      XCTAssertEqual(record.spec.hyperparameters.segments.rawValue, selection)
      XCTAssertEqual(record.runID, record.spec.runID)
      ids.insert(record.runID)
      if selection == "desirable" {
        XCTAssertEqual(record.data.undesirableSegments, 0)
        XCTAssertGreaterThan(record.data.desirableSegments, 0)
      } else {
        XCTAssertEqual(record.data.desirableSegments, 0)
        XCTAssertEqual(record.data.undesirableSegments, record.data.unsafeSegments)  // y = 0
        XCTAssertNotNil(record.final.tracLoss)
      }
    }
    XCTAssertEqual(ids.count, 2)

    // Every episode costs at most 10, so at threshold 100 nothing is unsafe, and y = 0.
    let out = temporaryDirectory("segments-none").appendingPathComponent("run")
    var arguments = trainArguments(dataset, out: out) + ["--segments", "undesirable"]
    arguments[arguments.firstIndex(of: "5")!] = "100"
    let noUndesirable = try run(Self.binary, arguments)
    XCTAssertEqual(noUndesirable.status, TracError.inputErrorExitStatus, noUndesirable.stderr)
    XCTAssertTrue(
      noUndesirable.stderr.contains("no undesirable segments at cost threshold 100"), noUndesirable.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no half-written output")

    let bad = try run(Self.binary, trainArguments(dataset, out: out) + ["--segments", "safe"])
    XCTAssertEqual(bad.status, 64)
    XCTAssertTrue(bad.stderr.contains("--segments must be both, desirable or undesirable"), bad.stderr)
  }

  /// `--warmup-steps` and `--trac-lr-scale`: the TraC phase's learning rate in train.jsonl follows
  /// them, run.json records them, and the run id is the spec's; a negative warm-up is a usage error.
  /// A spec's `log_every` (a grid's key) sets the train.jsonl cadence, and `--log-every` still wins.
  func testTheSpecsLogEverySetsTheCurvesCadence() throws {
    let dataset = try datasetFile()
    let plain = temporaryDirectory("log-every-plain")
    XCTAssertEqual(try run(Self.binary, trainArguments(dataset, out: plain)).status, 0)
    var spec = try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: plain.appendingPathComponent(RunFiles.runJSON))
    ).spec
    spec.logEvery = 2
    let specFile = temporaryDirectory("log-every-spec").appendingPathComponent(RunFiles.spec)
    try RunSpecFile.write(spec, to: specFile)
    func steps(_ extra: [String]) throws -> [Int] {
      let out = temporaryDirectory("log-every")
      let result = try run(
        Self.binary, ["train", "--spec", specFile.path, "--dataset", dataset, "--out", out.path] + extra)
      XCTAssertEqual(result.status, 0, result.stderr)
      return try String(contentsOf: out.appendingPathComponent("train.jsonl"), encoding: .utf8)
        .split(separator: "\n").compactMap {
          (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int
        }
    }
    XCTAssertEqual(try steps([]), Array(stride(from: 2, through: 20, by: 2)))
    XCTAssertEqual(try steps(["--log-every", "10"]), [10, 20])
  }

  func testWarmUpOptionsShapeTheTraCLearningRate() throws {
    let dataset = try datasetFile()
    let out = temporaryDirectory("warmup")
    let arguments = trainArguments(dataset, out: out) + ["--warmup-steps", "5", "--trac-lr-scale", "0.5"]
    let result = try run(Self.binary, arguments)
    XCTAssertEqual(result.status, 0, result.stderr)
    let record = try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: out.appendingPathComponent("run.json")))
    XCTAssertEqual(record.spec.hyperparameters.warmupSteps, 5)
    XCTAssertEqual(record.spec.hyperparameters.tracLRScale, 0.5)
    XCTAssertEqual(record.runID, record.spec.runID)
    let lines = try String(contentsOf: out.appendingPathComponent("train.jsonl"), encoding: .utf8)
      .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    // Logged at steps 5 and 10 (BC, lr 1e-4), then 15 and 20: TraC updates 5 and 10, warmed up.
    XCTAssertEqual(lines.map { $0["step"] as? Int }, [5, 10, 15, 20])
    XCTAssertEqual(lines.map { $0["lr"] as? Double }, [1e-4, 1e-4, 5e-5, 5e-5])

    let negative = try run(Self.binary, trainArguments(dataset, out: out) + ["--warmup-steps=-1"])
    XCTAssertEqual(negative.status, 64)
    XCTAssertTrue(negative.stderr.contains("--warmup-steps"), negative.stderr)
  }

  func testBenchRunsAndReportsTheRatioToPeak() throws {
    let bench = try run(Self.binary, ["bench", "trainer", "--steps", "1", "--threads", "1"])
    XCTAssertEqual(bench.status, 0, bench.stderr)
    XCTAssertTrue(bench.stdout.contains("sgemm peak"), bench.stdout)
    XCTAssertTrue(bench.stdout.contains("BallCircle   trac"), bench.stdout)
    // Each of the 4 rows: the share of this kernel's sgemm peak, of the best kernel's, of the FMA peak.
    // (The FMA peak needs the clock in /proc/cpuinfo; without it that column shows "-".)
    XCTAssertTrue([8, 12].contains(bench.stdout.components(separatedBy: "%").count - 1), bench.stdout)
    // The library and the kernel are named, and the best kernel this CPU runs.
    XCTAssertTrue(bench.stdout.contains("BLAS: OpenBLAS"), bench.stdout)
    XCTAssertTrue(bench.stdout.contains(", kernel "), bench.stdout)
    XCTAssertTrue(bench.stdout.contains("best kernel on this CPU: "), bench.stdout)
  }
}

func temporaryDirectory(_ name: String) -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "trac-e2e-\(name)-\(UUID().uuidString)")
  try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// Running the built binary, as a user would.
enum CLI {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()
  static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("trac-sweep")
  static let python = repository.appendingPathComponent(".venv/bin/python")

  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The process died of a signal (then `status` is the signal's number).
    var signalled = false
  }

  @discardableResult
  static func run(
    _ executable: URL, _ arguments: [String], input: String? = nil, environment extra: [String: String] = [:]
  ) throws -> Result {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_NUM_THREADS"] = "1"
    environment.merge(extra) { $1 }
    process.environment = environment
    let output = Pipe()
    let errors = Pipe()
    let inputPipe = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = inputPipe
    try process.run()
    if let input { inputPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try inputPipe.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
      stderr: String(decoding: err, as: UTF8.self), signalled: process.terminationReason == .uncaughtSignal)
  }

  /// A small dataset file in DSRL's layout.
  static func datasetFile() throws -> String {
    var generator = SeededGenerator(seed: 11)
    let episodes = 24
    let length = 10
    let count = episodes * length
    let dataset = try OfflineDataset(
      observationDim: 8, actionDim: 2,
      observations: (0..<(count * 8)).map { _ in Float(generator.gaussian()) },
      actions: (0..<(count * 2)).map { _ in Float(generator.uniformDouble() * 2 - 1) },
      rewards: (0..<count).map { _ in Float(generator.uniformDouble()) },
      costs: (0..<count).map { ($0 / length) % 2 == 0 ? 0.1 : 1 },
      done: (0..<count).map { ($0 + 1) % length == 0 })
    let path = temporaryDirectory("cli").appendingPathComponent("data.hdf5").path
    let done = (0..<count).map { ($0 + 1) % length == 0 }
    try DSRLDataset.write(
      dataset, terminals: [Bool](repeating: false, count: count), timeouts: done, to: path)
    return path
  }

  static func trainArguments(_ dataset: String, out: URL, seed: Int = 0) -> [String] {
    [
      "train", "--dataset", dataset, "--task", "OfflineBallCircle-v0", "--cost-threshold", "5", "--seed",
      "\(seed)",
      "--bc-steps", "10", "--steps", "20", "--batch-size", "4", "--log-every", "5", "--out", out.path,
    ]
  }

}
