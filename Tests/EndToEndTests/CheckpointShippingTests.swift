import Foundation
import SweepWire
import TracCore
import TracTrainer
import XCTest

/// Preemption costs minutes, not hours (docs/CHECKPOINTS.md): a worker SIGKILLed in the middle of a run
/// loses only the steps since the last checkpoint it shipped; another worker resumes from there, and the
/// policy is byte-identical to the run trained alone. Real coordinator, real workers, the real trainer.
final class CheckpointShippingTests: XCTestCase {
  static let bcSteps = 500
  static let steps = 1500
  static let checkpointEvery = 50

  func writeGrid(_ cluster: ClusterHarness, dataset: String) throws -> URL {
    let grid: [String: Any] = [
      "name": "preempted", "task": "OfflineBallCircle-v0", "dataset": dataset, "algorithm": "trac",
      "base": ["bc_steps": Self.bcSteps, "steps": Self.steps, "batch_size": 32],
      "cost_thresholds": [5], "seeds": [0], "eval": ["episodes": 0, "seed": 0],
    ]
    let url = cluster.root.appendingPathComponent("preempted.json")
    try JSONSerialization.data(withJSONObject: grid).write(to: url)
    return url
  }

  /// The steps of the "checkpoint sent" lines in a worker's log.
  func shippedSteps(_ cluster: ClusterHarness, worker: String) -> [Int] {
    let log =
      (try? String(contentsOf: cluster.root.appendingPathComponent("worker-\(worker).log"), encoding: .utf8))
      ?? ""
    return log.split(separator: "\n").filter { $0.contains("checkpoint sent") }.compactMap { line in
      guard let range = line.range(of: #"step=[0-9]+"#, options: .regularExpression) else { return nil }
      return Int(line[range].dropFirst("step=".count))
    }
  }

  func testAWorkerKilledAt60PercentLosesOnlyTheStepsSinceItsLastShippedCheckpoint() throws {
    let cluster = ClusterHarness("ship-checkpoints")
    try cluster.startCoordinator()
    let dataset = try CLI.datasetFile()
    let shipping = [
      "--no-evaluate", "--ship-checkpoints", "0.1", "--checkpoint-every", "\(Self.checkpointEvery)",
    ]
    try cluster.startWorker("doomed", trainer: CLI.binary, extra: shipping)
    let submitted = try cluster.client(["submit", try writeGrid(cluster, dataset: dataset).path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr)
    let sweep = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

    // Wait until a checkpoint at 60% or more has been shipped, then SIGKILL the worker (its trainer
    // dies with it).
    // Meanwhile `status` shows how far the run is, from the worker's heartbeats: the trainer's
    // progress.json, every 2 s whatever --log-every says (train.jsonl has a line every --log-every steps
    // and at the end of BC, step 500).
    let deadline = Date().addingTimeInterval(120)
    var reported: StatusReply.RunProgress?
    var steps: [Int] = []
    var polled = Date.distantPast
    while (shippedSteps(cluster, worker: "doomed").max() ?? 0) < Self.steps * 6 / 10 {
      XCTAssertLessThan(Date(), deadline, "no checkpoint at 60% shipped:\n\(cluster.logs())")
      if Date() > deadline { return }
      if Date().timeIntervalSince(polled) > 0.25, let progress = try? cluster.status().progress.first {
        polled = Date()
        if reported == nil {
          // The text view shows it too: run, worker, phase, step/total.
          let text = try cluster.client(["status"]).stdout
          XCTAssertTrue(text.contains("RUNNING") && text.contains("/\(Self.steps)"), text)
        }
        reported = progress
        steps.append(progress.step)
      }
      Thread.sleep(forTimeInterval: 0.02)
    }
    cluster.signal(worker: "doomed", SIGKILL)
    let shippedBeforeKill = shippedSteps(cluster, worker: "doomed").max() ?? 0
    if reported == nil { reported = try cluster.status().progress.first }
    let progress = try XCTUnwrap(reported, "status never showed the run's progress")
    XCTAssertEqual(progress.totalSteps, Self.steps)
    XCTAssertGreaterThan(progress.step, 0)
    // Live, not a log line: steps between train.jsonl's lines (its default cadence here) show.
    let logEvery = TrainingRun.defaultLogEvery(steps: Self.steps, bcSteps: Self.bcSteps)
    XCTAssertTrue(
      steps.contains { $0 % logEvery != 0 },
      "progress moved only with train.jsonl (every \(logEvery)): \(steps)")
    XCTAssertTrue(["bc", "trac"].contains(progress.phase), progress.phase)
    XCTAssertEqual(progress.sweeps, [sweep])
    let held = try cluster.status().checkpoints
    XCTAssertEqual(held.runs, 1, "the coordinator holds the run's checkpoint")
    XCTAssertGreaterThan(held.bytes, 0)

    try cluster.startWorker("rescuer", trainer: CLI.binary, extra: shipping)
    let status = try cluster.waitFor("the run to be done by the rescuer", timeout: 120) {
      $0.sweeps.first?.done == 1
    }
    XCTAssertGreaterThanOrEqual(status.sweeps.first?.lostAttempts ?? 0, 1)
    XCTAssertEqual(status.checkpoints.runs, 0, "a finished run's checkpoint is deleted")
    let leftovers = try FileManager.default.contentsOfDirectory(
      atPath: cluster.stateDirectory.appendingPathComponent("artifacts/checkpoints").path)
    XCTAssertEqual(leftovers, [], "no checkpoint file is left on the coordinator's disk")

    // The recorded run resumed from the checkpoint shipped last (or a later one), not from step 0.
    let runs = cluster.stateDirectory.appendingPathComponent("artifacts/runs")
    let runID = try XCTUnwrap(
      try FileManager.default.contentsOfDirectory(atPath: runs.path).first { !$0.hasPrefix(".") })
    let record = try XCTUnwrap(
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: runs.appendingPathComponent("\(runID)/run.json")))
        as? [String: Any])
    let resumedFrom = try XCTUnwrap(record["resumed_from_step"] as? Int, "\(record)")
    let trained = try XCTUnwrap(record["steps_trained"] as? Int)
    XCTAssertGreaterThanOrEqual(resumedFrom, shippedBeforeKill)
    XCTAssertEqual(resumedFrom + trained, Self.steps)
    // For the log: what the killed attempt had logged (every --log-every steps).
    let killedLog = cluster.root.appendingPathComponent("worker-doomed/runs/\(runID)/attempt-1/train.jsonl")
    let killedSteps = ((try? String(contentsOf: killedLog, encoding: .utf8)) ?? "").split(separator: "\n")
      .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
      .compactMap { $0["step"] as? Int }
    print(
      "preempted: last step logged \(killedSteps.max() ?? 0) of \(Self.steps), last checkpoint seen shipped "
        + "\(shippedBeforeKill), resumed from \(resumedFrom)")

    // train.jsonl continues without a gap or a repeated step.
    let log = try String(contentsOf: runs.appendingPathComponent("\(runID)/train.jsonl"), encoding: .utf8)
    let logged = log.split(separator: "\n").compactMap {
      (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int
    }
    XCTAssertEqual(logged, logged.sorted())
    XCTAssertEqual(Set(logged).count, logged.count, "a step logged twice")
    XCTAssertEqual(logged.last, Self.steps)
    let spacing = Set(zip(logged.dropFirst(), logged).map { $0 - $1 })
    XCTAssertEqual(spacing.count, 1, "a gap in train.jsonl: \(logged)")

    // Byte-identical to the same run trained alone.
    let alone = temporaryDirectory("alone")
    let solo = try CLI.run(
      CLI.binary,
      [
        "train", "--dataset", dataset, "--task", "OfflineBallCircle-v0", "--cost-threshold", "5", "--seed",
        "0",
        "--algorithm", "trac", "--bc-steps", "\(Self.bcSteps)", "--steps", "\(Self.steps)", "--batch-size",
        "32",
        "--eval-episodes", "0", "--eval-seed", "0", "--out", alone.path,
      ])
    XCTAssertEqual(solo.status, 0, solo.stderr)
    let soloRecord = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(contentsOf: alone.appendingPathComponent("run.json")))
        as? [String: Any])
    XCTAssertEqual(soloRecord["run_id"] as? String, runID, "the same run")
    XCTAssertEqual(
      try Data(contentsOf: runs.appendingPathComponent("\(runID)/policy.safetensors")),
      try Data(contentsOf: alone.appendingPathComponent("policy.safetensors")),
      "the resumed run's policy is byte-identical to the run trained alone")
    _ = sweep
  }
}
