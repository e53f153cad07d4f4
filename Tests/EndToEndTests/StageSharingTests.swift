import Foundation
import SweepWire
import TracCore
import XCTest

/// Shared BC stages (docs/CHECKPOINTS.md) with a real coordinator, two real workers and the real
/// trainer: a 2 x 2 alpha x eta grid with 2 seeds trains 2 stage units (one per seed), not 8 BC phases,
/// and every run's policy is byte-identical to `trac-sweep train` of the same run alone.
final class StageSharingTests: XCTestCase {
  static let bcSteps = 60
  static let steps = 150

  func grid(_ cluster: ClusterHarness, name: String, alphas: [Double], etas: [Double], dataset: String) throws
    -> URL
  {
    let grid: [String: Any] = [
      "name": name, "task": "OfflineBallCircle-v0", "dataset": dataset, "algorithm": "trac",
      "base": ["bc_steps": Self.bcSteps, "steps": Self.steps, "batch_size": 32],
      "vary": ["alpha": alphas, "eta": etas], "design": "product",
      "cost_thresholds": [5], "seeds": [0, 1], "eval": ["episodes": 0, "seed": 0],
    ]
    let url = cluster.root.appendingPathComponent("\(name).json")
    try JSONSerialization.data(withJSONObject: grid).write(to: url)
    return url
  }

  func submit(_ cluster: ClusterHarness, _ grid: URL) throws -> String {
    let submitted = try cluster.client(["submit", grid.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr)
    return submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func rows(_ cluster: ClusterHarness, sweep: String) throws -> [[String: Any]] {
    let result = try cluster.client(["results", sweep, "--format", "json"])
    XCTAssertEqual(result.status, 0, result.stderr)
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
  }

  /// How many trainers the workers started, from their logs.
  func trainerStarts(_ cluster: ClusterHarness) -> Int {
    ["a", "b"].map { name in
      ((try? String(contentsOf: cluster.root.appendingPathComponent("worker-\(name).log"), encoding: .utf8))
        ?? "")
        .components(separatedBy: "trainer started").count - 1
    }.reduce(0, +)
  }

  func testA2x2AlphaEtaGridTrainsOneStagePerSeedAndEveryPolicyIsTheRunTrainedAlone() throws {
    let cluster = ClusterHarness("stage-sharing")
    cluster.sharesBCStages = true
    try cluster.startCoordinator()
    let dataset = try CLI.datasetFile()
    for name in ["a", "b"] {
      try cluster.startWorker(name, trainer: CLI.binary, extra: ["--no-evaluate"])
    }
    let sweep = try submit(
      cluster, try grid(cluster, name: "alpha-eta", alphas: [0.1, 0.5], etas: [0.25, 1.0], dataset: dataset))
    var status = try cluster.waitFor("the 8 runs to be done", timeout: 300) { $0.sweeps.first?.done == 8 }
    XCTAssertEqual(status.sweeps.first?.failed, 0)

    // Two units (one per seed), each trained once; 8 runs started from them.
    XCTAssertEqual(status.stages.units, 2)
    XCTAssertEqual(status.stages.done, 2)
    XCTAssertEqual(status.stages.runs, 8)
    XCTAssertEqual(status.stages.runsDone, 8)
    XCTAssertGreaterThan(status.stages.bytes, 0)
    XCTAssertGreaterThan(status.stages.secondsSaved, 0, "6 of 8 runs did not train their BC phase")
    XCTAssertEqual(trainerStarts(cluster), 10, "2 stage units + 8 runs, nothing trained twice")
    let text = try cluster.client(["status"]).stdout
    XCTAssertTrue(text.contains("BC stages: 2 units (2 done), shared by 8 runs"), text)

    let rows = try self.rows(cluster, sweep: sweep)
    XCTAssertEqual(rows.count, 8)
    XCTAssertEqual(Set(rows.compactMap { $0["bc_stage"] as? String }).count, 2, "one stage per seed")
    for row in rows {
      XCTAssertEqual(row["steps_trained"] as? Int, Self.steps - Self.bcSteps, "\(row)")
    }

    // Every policy is the bytes of the same run trained alone, BC phase and all.
    for row in rows {
      let alpha = try XCTUnwrap(row["alpha"] as? Double)
      let eta = try XCTUnwrap(row["eta"] as? Double)
      let seed = try XCTUnwrap(row["seed"] as? Int)
      let alone = temporaryDirectory("stage-alone")
      let solo = try CLI.run(
        CLI.binary,
        [
          "train", "--dataset", dataset, "--task", "OfflineBallCircle-v0", "--cost-threshold", "5",
          "--seed", "\(seed)", "--algorithm", "trac", "--alpha", "\(alpha)", "--eta", "\(eta)",
          "--bc-steps", "\(Self.bcSteps)", "--steps", "\(Self.steps)", "--batch-size", "32",
          "--eval-episodes", "0", "--eval-seed", "0", "--out", alone.path,
        ])
      XCTAssertEqual(solo.status, 0, solo.stderr)
      let policy = try XCTUnwrap(row["policy"] as? String)
      XCTAssertEqual(
        try Data(contentsOf: URL(fileURLWithPath: policy)),
        try Data(contentsOf: alone.appendingPathComponent("policy.safetensors")),
        "run \(row["run_id"] ?? "?") (alpha \(alpha), eta \(eta), seed \(seed)) differs from the run trained alone"
      )
      let soloRecord = try XCTUnwrap(
        try JSONSerialization.jsonObject(with: Data(contentsOf: alone.appendingPathComponent("run.json")))
          as? [String: Any])
      XCTAssertEqual(soloRecord["run_id"] as? String, row["run_id"] as? String)
      XCTAssertEqual(soloRecord["bc_stage"] as? String, row["bc_stage"] as? String)
    }

    // A later sweep with another alpha reuses the units already trained: no new unit, no BC phase.
    let later = try submit(
      cluster, try grid(cluster, name: "later", alphas: [0.2], etas: [0.25], dataset: dataset))
    status = try cluster.waitFor("the later sweep to be done", timeout: 120) {
      $0.sweeps.first { $0.id == later }?.done == 2
    }
    XCTAssertEqual(status.stages.units, 2, "the units trained for the first sweep are reused")
    XCTAssertEqual(status.stages.runsDone, 10)
    XCTAssertEqual(trainerStarts(cluster), 12)
    for row in try self.rows(cluster, sweep: later) {
      XCTAssertEqual(row["steps_trained"] as? Int, Self.steps - Self.bcSteps, "\(row)")
    }
  }

  /// With `--no-share-bc-stages` every run trains its own BC phase: no units, `steps_trained` = steps,
  /// and the same policies (the stage column names the stage all the same).
  func testWithoutSharingEveryRunTrainsItsOwnBCPhase() throws {
    let cluster = ClusterHarness("stage-no-sharing")
    try cluster.startCoordinator()
    let dataset = try CLI.datasetFile()
    try cluster.startWorker("a", trainer: CLI.binary, slots: 2, extra: ["--no-evaluate"])
    let sweep = try submit(
      cluster, try grid(cluster, name: "unshared", alphas: [0.1, 0.5], etas: [0.25], dataset: dataset))
    let status = try cluster.waitFor("the 4 runs to be done", timeout: 300) { $0.sweeps.first?.done == 4 }
    XCTAssertEqual(status.stages.units, 0)
    let rows = try self.rows(cluster, sweep: sweep)
    XCTAssertEqual(rows.count, 4)
    for row in rows {
      XCTAssertEqual(row["steps_trained"] as? Int, Self.steps, "\(row)")
      XCTAssertEqual((row["bc_stage"] as? String)?.count, 16, "\(row)")
    }
  }
}
