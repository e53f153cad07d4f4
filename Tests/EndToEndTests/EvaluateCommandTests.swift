import Foundation
import TracCore
import TracTrainer
import XCTest

/// `train --evaluate` and `evaluate` against the real simulators (Bullet-Safety-Gym in .venv, Safety-Gymnasium
/// in .venv-safety-gymnasium).
final class EvaluateCommandTests: XCTestCase {

  func testTrainedPolicyIsEvaluatedIntoRunJSONAndEvaluationRepeats() throws {
    let dataset = try CLI.datasetFile()
    let out = temporaryDirectory("evaluate")
    let result = try CLI.run(
      CLI.binary, CLI.trainArguments(dataset, out: out) + ["--evaluate", "--eval-episodes", "2"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let record = try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: out.appendingPathComponent("run.json")))
    let evaluation = try XCTUnwrap(record.evaluation)
    XCTAssertEqual(evaluation.episodes, 2)
    XCTAssertEqual(evaluation.episodeLengths, [200, 200])
    let threshold = try XCTUnwrap(evaluation.byThreshold.first)
    XCTAssertEqual(threshold.costThreshold, 5)
    // DSRL's normalization, recomputed here from the per-episode returns.
    let task = try TaskInfo.named("OfflineBallCircle-v0")
    for (index, reward) in evaluation.rewardReturns.enumerated() {
      XCTAssertEqual(
        threshold.normalizedReward.perEpisode[index], task.normalizedReward(reward), accuracy: 1e-9)
      XCTAssertEqual(
        threshold.normalizedCost.perEpisode[index],
        normalizedCost(evaluation.costReturns[index], threshold: 5), accuracy: 1e-9)
    }
    XCTAssertEqual(threshold.safe, threshold.normalizedCost.mean <= 1)

    let policy = out.appendingPathComponent("policy.safetensors").path
    let arguments = [
      "evaluate", policy, "--task", "SafetyBallCircle-v0", "--cost-threshold", "0", "5", "--episodes", "2",
      "--json",
    ]
    let first = try CLI.run(CLI.binary, arguments)
    XCTAssertEqual(first.status, 0, first.stderr)
    let second = try CLI.run(CLI.binary, arguments)
    let decode = { (text: String) in
      try JSONCodec.decoder.decode(EvaluationResult.self, from: Data(text.utf8))
    }
    var (a, b) = (try decode(first.stdout), try decode(second.stdout))
    (a.wallSeconds, b.wallSeconds) = (0, 0)
    XCTAssertEqual(a, b, "the same policy, episodes and seed give the same numbers")
    XCTAssertEqual(a.rewardReturns, evaluation.rewardReturns)
    XCTAssertEqual(a.byThreshold.map(\.costThreshold), [0, 5])
  }

  func testMissingEvaluatorFailsWithAHintBeforeTraining() throws {
    let dataset = try CLI.datasetFile()
    let out = temporaryDirectory("noeval")
    let process = Process()
    process.executableURL = CLI.binary
    process.arguments = CLI.trainArguments(dataset, out: out) + ["--evaluate"]
    var environment = ProcessInfo.processInfo.environment
    environment["TRAC_PYTHON"] = "/nonexistent/python"
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = Pipe()
    try process.run()
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 1)
    XCTAssertTrue(stderr.contains("/nonexistent/python"), stderr)
    XCTAssertTrue(stderr.contains("scripts/setup.sh"), stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("train.jsonl").path))
  }

  func testEvaluatorThatDiesGivesItsStderrTail() throws {
    // A stand-in evaluator that crashes on its first request, as a broken simulator would.
    let directory = temporaryDirectory("dying")
    let script = directory.appendingPathComponent("evaluator.py")
    try
      "import sys\nsys.stdin.readline()\nsys.stderr.write('pybullet: cannot connect to physics server\\n')\nsys.exit(3)\n"
      .write(to: script, atomically: true, encoding: .utf8)
    let location = EvaluatorProcess.Location(python: CLI.python, script: script)
    let evaluator = try EvaluatorProcess(location: location)
    XCTAssertThrowsError(
      try evaluator.evaluate(
        policy: script, task: try TaskInfo.named("OfflineBallCircle-v0"), costThresholds: [20], episodes: 1,
        seed: 0,
        timeout: .seconds(60))
    ) { error in
      XCTAssertTrue("\(error)".contains("cannot connect to physics server"), "\(error)")
      XCTAssertTrue("\(error)".contains("exited"), "\(error)")
    }
  }

  // MARK: Safety-Gymnasium

  /// A small dataset of PointCircle1's shapes (28 observations, 2 actions) in DSRL's layout.
  static func pointCircleDataset() throws -> String {
    var generator = SeededGenerator(seed: 5)
    // 40-step episodes: with seg_ratio 0.75 a segment is 30 steps, (40 - 30) / 6 = 1 segment per episode.
    let (episodes, length, obs) = (24, 40, 28)
    let count = episodes * length
    let dataset = try OfflineDataset(
      observationDim: obs, actionDim: 2,
      observations: (0..<(count * obs)).map { _ in Float(generator.gaussian()) },
      actions: (0..<(count * 2)).map { _ in Float(generator.uniformDouble() * 2 - 1) },
      rewards: (0..<count).map { _ in Float(generator.uniformDouble()) },
      costs: (0..<count).map { ($0 / length) % 2 == 0 ? 0.1 : 1 },
      done: (0..<count).map { ($0 + 1) % length == 0 })
    let path = temporaryDirectory("sg-data").appendingPathComponent(
      "SafetyPointCircle1Gymnasium-v0-test.hdf5"
    ).path
    let done = (0..<count).map { ($0 + 1) % length == 0 }
    try DSRLDataset.write(
      dataset, terminals: [Bool](repeating: false, count: count), timeouts: done, to: path)
    return path
  }

  static func pointCircleTrainArguments(_ dataset: String, out: URL) -> [String] {
    [
      "train", "--dataset", dataset, "--task", "OfflinePointCircle1Gymnasium-v0", "--cost-threshold", "5",
      "--bc-steps", "10", "--steps", "20", "--batch-size", "4", "--log-every", "5", "--out", out.path,
      "--evaluate",
      "--eval-episodes", "1",
    ]
  }

  func testSafetyGymnasiumTaskTrainsWithItsDefaultsAndIsEvaluatedInItsOwnSimulator() throws {
    let dataset = try Self.pointCircleDataset()
    let out = temporaryDirectory("sg-evaluate")
    let result = try CLI.run(CLI.binary, Self.pointCircleTrainArguments(dataset, out: out))
    XCTAssertEqual(result.status, 0, result.stderr)
    let record = try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: out.appendingPathComponent("run.json")))
    var expected = TaskFamily.safetyGymnasium.defaultHyperparameters
    (expected.bcSteps, expected.steps, expected.batchSize) = (10, 20, 4)
    XCTAssertEqual(
      record.spec.hyperparameters, expected, "the paper's Safety-Gymnasium defaults (alpha 0.1, ...)")
    XCTAssertEqual(record.data.segmentLength, 30, "seg_ratio 0.75 of the 40-step episodes")
    let evaluation = try XCTUnwrap(record.evaluation)
    XCTAssertEqual(evaluation.task, "SafetyPointCircle1Gymnasium-v0")
    XCTAssertEqual(evaluation.episodeLengths, [500])
    let task = try TaskInfo.named("OfflinePointCircle1Gymnasium-v0")
    let threshold = try XCTUnwrap(evaluation.byThreshold.first)
    XCTAssertEqual(
      threshold.normalizedReward.perEpisode[0], task.normalizedReward(evaluation.rewardReturns[0]),
      accuracy: 1e-9)
    XCTAssertTrue(threshold.normalizedReward.mean.isFinite && threshold.normalizedCost.mean.isFinite)

    // The same policy in a fresh evaluator gives the same numbers.
    let again = try CLI.run(
      CLI.binary,
      [
        "evaluate", out.appendingPathComponent("policy.safetensors").path, "--task",
        "SafetyPointCircle1Gymnasium-v0",
        "--cost-threshold", "5", "--episodes", "1", "--json",
      ])
    XCTAssertEqual(again.status, 0, again.stderr)
    let repeated = try JSONCodec.decoder.decode(EvaluationResult.self, from: Data(again.stdout.utf8))
    XCTAssertEqual(repeated.rewardReturns, evaluation.rewardReturns)
    XCTAssertEqual(repeated.costReturns, evaluation.costReturns)
  }

  func testMissingSafetyGymnasiumEnvironmentFailsWithAHintBeforeTraining() throws {
    let dataset = try Self.pointCircleDataset()
    let out = temporaryDirectory("sg-noeval")
    let process = Process()
    process.executableURL = CLI.binary
    process.arguments = Self.pointCircleTrainArguments(dataset, out: out)
    var environment = ProcessInfo.processInfo.environment
    environment["TRAC_SAFETY_GYMNASIUM_PYTHON"] = "/nonexistent/python3.10"
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = Pipe()
    try process.run()
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 1)
    XCTAssertTrue(stderr.contains("/nonexistent/python3.10"), stderr)
    XCTAssertTrue(stderr.contains("Python 3.10") && stderr.contains("scripts/setup.sh"), stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("train.jsonl").path))
  }

  func testThisMachineCanEvaluateEveryFamily() {
    // scripts/setup.sh --for-tests builds the three environments; a worker reports this set in its hello.
    XCTAssertEqual(EvaluatorEnvironment.availableFamilies(), [.bulletGym, .safetyGymnasium, .metadrive])
    XCTAssertEqual(EvaluatorEnvironment(family: .safetyGymnasium).venv, ".venv-safety-gymnasium")
    XCTAssertEqual(EvaluatorEnvironment(family: .metadrive).venv, ".venv-metadrive")
    XCTAssertEqual(EvaluatorEnvironment(family: .metadrive).pythonVariable, "TRAC_METADRIVE_PYTHON")
  }
}
