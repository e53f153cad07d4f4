import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// Shared BC stages in the scheduler (docs/CHECKPOINTS.md): runs with the same BC stage wait for one
/// stage unit, trained once, and start their TraC phase from its end-of-BC checkpoint. Manual clock,
/// real SQLite store, restarts included.
final class StageSchedulingTests: XCTestCase {
  /// alpha 0.2 (base), 0.05, 0.5 x thresholds 10, 20 x seeds 0, 1: 12 runs, 4 stages (threshold x seed).
  let grid = Grids.alphaStudy()
  let sharing = try! SchedulerConfiguration(maxAttempts: 2, shareBCStages: true)

  func output(_ byte: UInt8) -> RunCheckpoint {
    RunCheckpoint(sha256: SHA256Digest(of: Data([byte, 0xbc])), size: 800_000 + Int(byte), step: 300)
  }

  /// The stage unit's result, with its end-of-BC checkpoint and the seconds its BC phase took.
  @discardableResult
  func finishUnit(
    _ harness: SchedulerHarness, _ unit: RunAssignment, output: RunCheckpoint, seconds: Double = 30
  )
    throws -> [SchedulerCommand]
  {
    var payload = harness.payload(for: unit)
    payload.stageOutput = output
    payload.stageSeconds = seconds
    return try harness.send(.result(worker: unit.worker, attempt: unit.attempt, outcome: .succeeded(payload)))
  }

  func grid(name: String, base: String, vary: String) -> GridFile {
    let text = """
      {"name": "\(name)", "task": "OfflineBallCircle-v0", "dataset": "datasets/SafetyBallCircle-v0-demo.hdf5",
       "algorithm": "trac", "base": {\(base), "bc_steps": 300, "steps": 1000}, "vary": {\(vary)},
       "design": "one_at_a_time", "cost_thresholds": [10, 20], "seeds": [0, 1], "eval": {"episodes": 5, "seed": 0}}
      """
    return try! GridFile(parsing: Data(text.utf8))
  }

  func testAStageNoOtherRunSharesGetsNoUnitAndALaterSweepThatSharesOneMakesIt() throws {
    let harness = try SchedulerHarness(configuration: sharing)
    // x is a BC input: the 12 runs (x 0.5, 0.25, 0.75 x 2 thresholds x 2 seeds) have 12 stages.
    try harness.submit(grid(name: "x-study", base: "\"x\": 0.5", vary: "\"x\": [0.25, 0.75]"))
    XCTAssertEqual(harness.scheduler.runs.count, 12, "no stage unit: each run trains its own BC phase")
    XCTAssertEqual(harness.status.stages.units.total, 0)
    let started = try harness.hello("node-a", slots: 16).assignments
    XCTAssertEqual(started.count, 12, "every run starts at once, none waits")
    XCTAssertTrue(started.allSatisfy { $0.initFrom == nil && !$0.spec.isStageUnit })
    // alpha at x = 0.25: alpha 0.2 is the x study's run (shared, already under way); 0.05 and 0.5 are
    // new and share their stage: one unit per threshold and seed.
    try harness.submit(grid(name: "alpha-at-x", base: "\"x\": 0.25", vary: "\"alpha\": [0.05, 0.5]"))
    XCTAssertEqual(harness.scheduler.runs.count, 12 + 8 + 4)
    XCTAssertEqual(harness.status.stages.units.total, 4)
    XCTAssertEqual(harness.status.stages.dependents, 8)
  }

  func testRunsWithTheSameStageWaitForOneUnitAndStartFromItsCheckpoint() throws {
    let harness = try SchedulerHarness(configuration: sharing)
    try harness.submit(grid)
    XCTAssertEqual(harness.scheduler.runs.count, 12 + 4, "12 runs and 4 stage units")

    // Only the units can start: 10 free slots, 4 assignments.
    let units = try harness.hello("node-a", slots: 10).assignments
    XCTAssertEqual(units.count, 4)
    for unit in units {
      XCTAssertTrue(unit.spec.isStageUnit)
      XCTAssertEqual(unit.spec.hyperparameters.steps, 300, "a unit trains the BC phase only")
      XCTAssertEqual(unit.spec.evalEpisodes, 0, "a unit evaluates nothing")
      XCTAssertNil(unit.sweep, "a unit belongs to no sweep")
      XCTAssertNil(unit.initFrom)
    }
    XCTAssertEqual(Set(units.map { $0.spec.bcStage!.stageID }).count, 4)
    XCTAssertEqual(harness.status.sweeps[0].runs.pending, 12, "the runs wait, pending")
    XCTAssertEqual(harness.status.stages.units.running, 4)
    XCTAssertEqual(harness.status.stages.dependents, 12)

    // A restart keeps them waiting.
    try harness.restart()
    var assigned = try harness.hello("node-a", slots: 10, running: units.map(\.attempt)).assignments
    XCTAssertEqual(assigned, [], "no run starts before its unit is done")

    // One unit done: its three runs (alpha 0.2, 0.05, 0.5 at its threshold and seed) start from it.
    let first = units[0]
    let done = try finishUnit(harness, first, output: output(1))
    XCTAssertEqual(done.acknowledgements.first?.disposition, .recorded)
    assigned = done.assignments
    XCTAssertEqual(assigned.count, 3)
    for run in assigned {
      XCTAssertEqual(run.spec.bcStage?.stageID, first.spec.bcStage?.stageID)
      XCTAssertEqual(run.initFrom, output(1), "the TraC phase starts from the unit's checkpoint")
      XCTAssertNil(run.checkpoint)
      XCTAssertEqual(harness.scheduler.run(run.attempt.run)?.stage, first.attempt.run)
    }
    XCTAssertEqual(Set(assigned.map(\.spec.hyperparameters.alpha)), [0.2, 0.05, 0.5])
    XCTAssertEqual(
      harness.scheduler.run(first.attempt.run)?.checkpoint, output(1), "the unit's output is kept")
    XCTAssertEqual(
      harness.scheduler.checkpointsHeld.runs, 0, "a done unit's output is not an unfinished run's")

    // Everything else finishes; each unit is recorded once and its output stays on disk.
    var outputs = [first.attempt.run: output(1)]
    for (index, unit) in units.dropFirst().enumerated() {
      let bytes = output(UInt8(index + 2))
      outputs[unit.attempt.run] = bytes
      assigned += try finishUnit(harness, unit, output: bytes).assignments
    }
    XCTAssertEqual(assigned.count, 10, "as many as the free slots")
    var finishedRuns = 0
    while !assigned.isEmpty {
      let run = assigned.removeFirst()
      XCTAssertEqual(run.initFrom, outputs[harness.scheduler.run(run.attempt.run)!.stage!])
      let finished = try harness.succeed(run)
      XCTAssertFalse(
        finished.contains { if case .deleteCheckpoint = $0 { return true } else { return false } },
        "a run's result deletes no unit's checkpoint")
      assigned += finished.assignments
      finishedRuns += 1
    }
    XCTAssertEqual(finishedRuns, 12)
    XCTAssertEqual(harness.status.sweeps[0].runs.done, 12)
    let stages = harness.status.stages
    XCTAssertEqual(stages.units.done, 4)
    XCTAssertEqual(stages.dependentsDone, 12)
    XCTAssertEqual(stages.bytes, outputs.values.map(\.size).reduce(0, +))
    XCTAssertEqual(stages.secondsSaved, 4 * 30 * 2, "each unit saved 2 of its 3 runs a BC phase")
    try harness.restart()
    XCTAssertEqual(harness.status.stages, stages)

    // A later sweep with another alpha starts from the units at once: no new unit.
    let later = try harness.submit(Grids.alphaStudy(name: "later", alphas: "[0.1]"))
    XCTAssertEqual(harness.scheduler.runs.count, 16 + 4, "4 new runs (alpha 0.1 x 2 thresholds x 2 seeds)")
    let reused = later.assignments + (try harness.hello("node-a", slots: 10).assignments)
    XCTAssertEqual(reused.filter { $0.spec.hyperparameters.alpha == 0.1 }.count, 4)
    for run in reused { XCTAssertNotNil(run.initFrom, "\(run.spec.hyperparameters)") }
  }

  func testAUnitThatFailsForGoodFailsItsRunsAndRetryQueuesBothAgain() throws {
    let harness = try SchedulerHarness(configuration: sharing)  // 2 attempts
    try harness.submit(grid)
    let sweep = harness.scheduler.sweeps.keys.first!
    let units = try harness.hello("node-a", slots: 1).assignments
    XCTAssertEqual(units.count, 1)
    let unit = units[0]
    let retried = try harness.fail(unit, stderr: "RuntimeError: out of memory").assignments
    XCTAssertEqual(retried.map(\.attempt.run), [unit.attempt.run], "the unit is retried first")
    let failed = try harness.fail(retried[0], stderr: "RuntimeError: out of memory")
    XCTAssertEqual(harness.scheduler.run(unit.attempt.run)?.state, .failed)
    XCTAssertTrue(
      failed.logMessages.contains {
        $0.contains("the 3 runs that start from it fail too") && $0.contains("memory")
      },
      "\(failed.logMessages)")
    XCTAssertEqual(harness.status.sweeps[0].runs.failed, 3)
    XCTAssertEqual(harness.status.stages.units.failed, 1)
    // The next unit runs on the free slot meanwhile.
    XCTAssertNotEqual(failed.assignments.first?.attempt.run, unit.attempt.run)
    try harness.restart()

    // retry --failed: the three runs wait again, and their unit is pending with a fresh failure count.
    try harness.send(.retryFailed(sweep))
    XCTAssertEqual(harness.scheduler.run(unit.attempt.run)?.state, .pending)
    XCTAssertEqual(harness.scheduler.run(unit.attempt.run)?.failureCount, 0)
    XCTAssertEqual(harness.status.sweeps[0].runs.failed, 0)
    XCTAssertEqual(harness.status.sweeps[0].runs.pending, 12)
  }

  func testCancellingTheOnlySweepStopsItsUnitsButAUnitAnotherSweepNeedsIsKept() throws {
    let harness = try SchedulerHarness(configuration: sharing)
    try harness.submit(grid)
    // Another sweep needs the stages of threshold 10 only (one point, alpha 0.1, threshold 10 x 2 seeds).
    let other = """
      {"name": "other", "task": "OfflineBallCircle-v0", "dataset": "datasets/SafetyBallCircle-v0-demo.hdf5",
       "algorithm": "trac", "base": {"alpha": 0.1, "bc_steps": 300, "steps": 1000},
       "cost_thresholds": [10], "seeds": [0, 1], "eval": {"episodes": 5, "seed": 0}}
      """
    try harness.submit(try GridFile(parsing: Data(other.utf8)))
    let units = try harness.hello("node-a", slots: 2).assignments
    XCTAssertEqual(units.count, 2)
    let first = harness.scheduler.sweeps.values.first { $0.name == "ballcircle-alpha" }!.id
    let cancelled = try harness.send(.cancel(first))
    // The threshold-20 units are no run's any more: the running one is stopped, the pending one cancelled.
    let unitStates = harness.scheduler.runs.values.filter(\.isStageUnit).map {
      ($0.spec.costThreshold, $0.state.name)
    }
    XCTAssertEqual(
      unitStates.filter { $0.0 == 20 }.map(\.1).sorted(), ["cancelled", "cancelled"], "\(unitStates)")
    XCTAssertEqual(
      unitStates.filter { $0.0 == 10 }.map(\.1).sorted().filter { $0 == "cancelled" }, [],
      "the other sweep still needs the threshold-10 units: \(unitStates)")
    let stopped = Set(cancelled.cancellations.map(\.attempt.run))
    XCTAssertEqual(
      stopped, Set(units.filter { $0.spec.costThreshold == 20 }.map(\.attempt.run)),
      "only the running unit no sweep needs is stopped")
    XCTAssertTrue(cancelled.logMessages.contains { $0.contains("BC stage units no run needs now") })

    // Resubmitting the cancelled sweep brings its units back.
    try harness.submit(grid)
    XCTAssertFalse(harness.scheduler.runs.values.contains { $0.isStageUnit && $0.state == .cancelled })
  }

  func testARunResumingFromItsOwnCheckpointIsNotGivenTheStageAndAfterAFailureItIs() throws {
    let harness = try SchedulerHarness(configuration: sharing)
    try harness.submit(grid)
    let unit = try XCTUnwrap(try harness.hello("node-a", slots: 1).assignments.first)
    let run = try XCTUnwrap(try finishUnit(harness, unit, output: output(7)).assignments.first)
    XCTAssertEqual(run.initFrom, output(7))
    let own = RunCheckpoint(sha256: SHA256Digest(of: Data([9])), size: 900_000, step: 600)
    _ = try harness.send(.checkpointShipped(worker: "node-a", attempt: run.attempt, checkpoint: own))
    // The worker dies; the next attempt resumes from the run's own checkpoint, not the stage.
    harness.advance(milliseconds: 3000)
    _ = try harness.tick()
    let resumed = try XCTUnwrap(
      try harness.hello("node-b", slots: 1).assignments.first { $0.attempt.run == run.attempt.run })
    XCTAssertEqual(resumed.checkpoint, own)
    XCTAssertNil(resumed.initFrom)
    // It fails: its checkpoint is dropped, the retry starts from the stage again.
    let retry = try XCTUnwrap(
      try harness.fail(resumed).assignments.first { $0.attempt.run == run.attempt.run })
    XCTAssertNil(retry.checkpoint)
    XCTAssertEqual(retry.initFrom, output(7))
  }
}
