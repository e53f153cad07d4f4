import Foundation
import TracCore
import TracTrainer
import XCTest

/// A Safety-Gymnasium sweep through a real coordinator and worker on tcp://127.0.0.1, with the real
/// trainer: the worker's `train --evaluate` evaluates in `.venv-safety-gymnasium`.
final class SafetyGymnasiumClusterTests: XCTestCase {
  func testASafetyGymnasiumSweepIsTrainedAndEvaluatedByAWorker() throws {
    let cluster = ClusterHarness("safety-gymnasium")
    try cluster.startCoordinator()
    try cluster.startWorker("sg", trainer: CLI.binary)
    let grid: [String: Any] = [
      "name": "sg", "task": "OfflinePointCircle1Gymnasium-v0",
      "dataset": try EvaluateCommandTests.pointCircleDataset(), "algorithm": "trac",
      "base": ["bc_steps": 2, "steps": 4, "batch_size": 4], "cost_thresholds": [20], "seeds": [0],
      "eval": ["episodes": 1, "seed": 0],
    ]
    let url = cluster.root.appendingPathComponent("sg.json")
    try JSONSerialization.data(withJSONObject: grid).write(to: url)
    let submitted = try cluster.client(["submit", url.path, "--wait"])
    XCTAssertEqual(submitted.status, 0, submitted.stderr + cluster.logs())
    let status = try cluster.status()
    XCTAssertEqual(status.sweeps.first?.done, 1, cluster.logs())

    let runs = cluster.stateDirectory.appendingPathComponent("artifacts/runs")
    let stored = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { !$0.hasPrefix(".") }
    XCTAssertEqual(stored.count, 1)
    let record = try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: runs.appendingPathComponent("\(stored[0])/run.json")))
    XCTAssertEqual(record.spec.task, "OfflinePointCircle1Gymnasium-v0")
    XCTAssertEqual(record.spec.hyperparameters.alpha, 0.1, "the Safety-Gymnasium default")
    let evaluation = try XCTUnwrap(record.evaluation)
    XCTAssertEqual(evaluation.task, "SafetyPointCircle1Gymnasium-v0")
    XCTAssertEqual(evaluation.episodeLengths, [500])
    XCTAssertTrue(evaluation.byThreshold.allSatisfy { $0.normalizedReward.mean.isFinite })
  }
}
