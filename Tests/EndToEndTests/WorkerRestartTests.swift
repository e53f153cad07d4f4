import Foundation
import SweepWire
import TracCore
import XCTest

/// A worker restarted mid-sweep on its own work folder: it reuses the BC stage it fetched before (not
/// fetched or trained again), removes the partial copy a download left beside a complete file, and the
/// runs that start from the stage train only their TraC phase.
final class WorkerRestartTests: XCTestCase {
  static let bcSteps = 60
  static let steps = 600

  func testARestartedWorkerReusesItsFetchedStageAndTrainsNoBCPhaseAgain() throws {
    let cluster = ClusterHarness("worker-restart")
    cluster.sharesBCStages = true
    try cluster.startCoordinator()
    let dataset = try CLI.datasetFile()
    try cluster.startWorker("a", trainer: CLI.binary, extra: ["--no-evaluate"])
    // Two runs that differ only in alpha: one BC stage unit, both runs start from it.
    let grid: [String: Any] = [
      "name": "restart", "task": "OfflineBallCircle-v0", "dataset": dataset, "algorithm": "trac",
      "base": ["bc_steps": Self.bcSteps, "steps": Self.steps, "batch_size": 16],
      "vary": ["alpha": [0.1, 0.5]], "design": "product", "cost_thresholds": [5], "seeds": [0],
      "eval": ["episodes": 0, "seed": 0],
    ]
    let gridFile = cluster.root.appendingPathComponent("restart.json")
    try JSONSerialization.data(withJSONObject: grid).write(to: gridFile)
    let submitted = try cluster.client(["submit", gridFile.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr)
    let sweep = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

    // The stage is done and a run that starts from it is training: stop the worker (SIGTERM: it
    // hands the run back) and start it again on the same folder, with a stale partial download in it.
    _ = try cluster.waitFor("the stage unit done and a run training", timeout: 120) {
      $0.stages.done == 1 && ($0.sweeps.first?.running ?? 0) == 1
    }
    let first = try XCTUnwrap(cluster.workers["a"])
    cluster.signal(worker: "a", SIGTERM)
    first.waitUntilExit()
    let workFolder = cluster.root.appendingPathComponent("worker-a")
    let stages = workFolder.appendingPathComponent("stages")
    let kept = try FileManager.default.contentsOfDirectory(atPath: stages.path).filter {
      $0.hasSuffix(".safetensors")
    }
    XCTAssertEqual(kept.count, 1, "the worker keeps the stage it fetched: \(kept)")
    // What a worker killed between publishing the stage and deleting its partial copy leaves.
    let stale = stages.appendingPathComponent(
      ".\(kept[0].replacingOccurrences(of: ".safetensors", with: "")).partial")
    try Data("left by a killed download".utf8).write(to: stale)
    let firstLog = try String(
      contentsOf: cluster.root.appendingPathComponent("worker-a.log"), encoding: .utf8)
    try cluster.startWorker("a", trainer: CLI.binary, extra: ["--no-evaluate"])

    let status = try cluster.waitFor("both runs done", timeout: 180) { $0.sweeps.first?.done == 2 }
    XCTAssertEqual(status.sweeps.first?.failed, 0)
    XCTAssertEqual(status.stages.units, 1)
    let secondLog = try String(
      contentsOf: cluster.root.appendingPathComponent("worker-a.log"), encoding: .utf8)
    for problem in ["training from step 0", "cannot get", "A file with the same name already exists"] {
      XCTAssertFalse(secondLog.contains(problem), "the restarted worker: \(problem)\n\(secondLog)")
    }
    XCTAssertFalse(
      FileManager.default.fileExists(atPath: stale.path), "its stale partial download is removed")
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: stages.path).filter {
        $0.hasSuffix(".safetensors")
      },
      kept, "the same stage file, not fetched again under another name")
    // Neither run trained its BC phase: each started from the stage unit's checkpoint.
    let rows = try cluster.resultRows(sweep)
    XCTAssertEqual(rows.count, 2)
    for row in rows {
      XCTAssertEqual(
        row["steps_trained"] as? Int, Self.steps - Self.bcSteps, "\(row)\n\(firstLog)\n\(secondLog)")
    }
  }
}
