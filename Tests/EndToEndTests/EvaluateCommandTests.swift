import Foundation
import TracCore
import TracTrainer
import XCTest

/// `train --evaluate` and `evaluate` against the real simulator (Bullet-Safety-Gym in .venv).
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
}
