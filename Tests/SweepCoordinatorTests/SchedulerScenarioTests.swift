import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// What a user running a sweep would notice, driven by a manual clock in milliseconds. Every scenario
/// commits each event to a real SQLite store and ends by restarting the coordinator from it.
final class SchedulerScenarioTests: XCTestCase {
  let grid = Grids.alphaStudy()
  var sweepID: SweepID { SweepID(of: grid) }

  func testTwoWorkersFinishASweepWithEveryRunRecordedOnce() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(pending: 12))

    var commands = try harness.hello("gpu-a", slots: 2)
    commands += try harness.hello("gpu-b", slots: 1)
    XCTAssertEqual(commands.assignments.count, 3)
    XCTAssertEqual(Set(commands.assignments.map(\.worker)), ["gpu-a", "gpu-b"])
    // Oldest first: the grid's first three runs.
    XCTAssertEqual(
      commands.assignments.map(\.attempt.run),
      grid.runs.prefix(3).map { RunID(of: $0.spec(datasetSHA256: Grids.datasetSHA256)) })

    let carriedOut = try harness.runUntilIdle(starting: commands)
    XCTAssertEqual(carriedOut.count, 12, "every run executed once, no more")
    XCTAssertEqual(Set(carriedOut.map(\.attempt.run)).count, 12)
    XCTAssertTrue(carriedOut.allSatisfy { $0.attempt.number == 1 })
    XCTAssertTrue(carriedOut.contains { $0.worker == "gpu-b" })
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(done: 12))
    XCTAssertEqual(harness.status.sweep(sweepID)?.isFinished, true)

    let results = try harness.store.results(sweep: sweepID)
    XCTAssertEqual(results.count, 12)
    XCTAssertEqual(results.map(\.pointID), grid.runs.map(\.pointID), "rows in the grid's order")
    XCTAssertEqual(results.map(\.spec.seed), grid.runs.map(\.seed))
    for row in results {
      XCTAssertEqual(try harness.store.resultCount(run: row.run), 1)
      XCTAssertTrue(row.runJSON.contains(row.run.rawValue))
    }
    try harness.restart()
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(done: 12))
    XCTAssertTrue(try harness.hello("gpu-a", slots: 2).assignments.isEmpty, "the sweep stops at its size")
  }

  func testSilentWorkersRunIsRequeuedAfterTheLeaseAndItsLateResultIsADuplicate() throws {
    let harness = try SchedulerHarness()  // 1 s x 3
    try harness.submit(grid)
    let first = try XCTUnwrap(try harness.hello("sleepy", slots: 1).assignments.first)
    XCTAssertEqual(first.leaseDeadline, .milliseconds(3000))
    harness.advance(milliseconds: 1000)
    try harness.heartbeat("sleepy", [first.attempt])  // lease now ends at 4000 ms
    // SIGSTOP: silence from here.
    harness.advance(milliseconds: 2999)
    XCTAssertTrue(try harness.tick().isEmpty)
    XCTAssertEqual(
      harness.scheduler.run(first.attempt.run)?.state.lease?.attempt, 1, "not requeued before 3 s")

    harness.advance(milliseconds: 1)  // 3 s of silence
    let lapse = try harness.tick()
    XCTAssertEqual(harness.scheduler.attempt(first.attempt)?.outcome, .lost)
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.state, .pending)
    XCTAssertEqual(harness.scheduler.worker("sleepy")?.state, .offline)
    XCTAssertTrue(lapse.logMessages.contains { $0.contains("lease lapsed") })
    try harness.restart()

    let second = try XCTUnwrap(try harness.hello("steady", slots: 1).assignments.first)
    XCTAssertEqual(
      second.attempt, AttemptID(run: first.attempt.run, counted: 2), "the requeued run goes first")
    XCTAssertEqual(second.spec, first.spec, "same seed, same everything")
    try harness.succeed(second)

    // SIGCONT: the first attempt finishes too and reports.
    let late = try harness.succeed(first)
    XCTAssertEqual(late.acknowledgements.map(\.disposition), [.duplicate], "acked, so the worker drops it")
    XCTAssertEqual(try harness.store.resultCount(run: first.attempt.run), 1)
    XCTAssertEqual(try harness.store.results(sweep: sweepID).first?.attempt, 2)
    let status = harness.status.sweep(sweepID)
    XCTAssertEqual(status?.duplicatesDiscarded, 1)
    XCTAssertEqual(status?.lostAttempts, 1)
    XCTAssertEqual(status?.failedAttempts, 0, "lost is not failed")
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.failureCount, 0)
    XCTAssertEqual(harness.status.duplicatesDiscarded, 1)
    try harness.restart()
    XCTAssertEqual(harness.status.sweep(sweepID)?.duplicatesDiscarded, 1)
  }

  func testLapsedRunsResultIsKeptWhenNobodyTookTheRunYet() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let first = try XCTUnwrap(try harness.hello("slow", slots: 1).assignments.first)
    harness.advance(milliseconds: 3000)
    try harness.tick()
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.state, .pending)

    let acks = try harness.succeed(first).acknowledgements
    XCTAssertEqual(acks.map(\.disposition), [.recorded], "nothing finished is lost")
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.state, .done)
    XCTAssertEqual(harness.scheduler.attempt(first.attempt)?.outcome, .succeeded)
    XCTAssertEqual(try harness.store.resultCount(run: first.attempt.run), 1)
    try harness.restart()
  }

  func testFirstResultWinsOverTheAttemptThatTookTheRunOver() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let first = try XCTUnwrap(try harness.hello("a", slots: 1).assignments.first)
    harness.advance(milliseconds: 3000)
    try harness.tick()
    let second = try XCTUnwrap(try harness.hello("b", slots: 1).assignments.first)
    XCTAssertEqual(second.attempt.run, first.attempt.run)

    let commands = try harness.succeed(first)
    XCTAssertEqual(commands.acknowledgements.map(\.disposition), [.recorded])
    XCTAssertEqual(commands.cancellations.map(\.attempt), [second.attempt], "b stops its now useless copy")
    XCTAssertEqual(harness.scheduler.attempt(second.attempt)?.outcome, .cancelled)
    XCTAssertEqual(try harness.succeed(second).acknowledgements.map(\.disposition), [.duplicate])
    XCTAssertEqual(try harness.store.resultCount(run: first.attempt.run), 1)
    try harness.restart()
  }

  func testAFailingTrainerIsRetriedUpToTheLimitThenFailed() throws {
    let harness = try SchedulerHarness(
      configuration: SchedulerConfiguration(maxAttempts: 3, quarantineAfter: 10, shareBCStages: false))
    try harness.submit(grid)
    var assignment = try XCTUnwrap(try harness.hello("w", slots: 1).assignments.first)
    let run = assignment.attempt.run
    for number in 1...3 {
      XCTAssertEqual(
        assignment.attempt, AttemptID(run: run, counted: number), "the failed run is retried first")
      XCTAssertEqual(assignment.spec.seed, grid.runs[0].seed)
      let commands = try harness.fail(assignment, stderr: "RuntimeError: NaN in loss at step \(number)")
      XCTAssertEqual(commands.acknowledgements.map(\.disposition), [.recorded])
      XCTAssertTrue(
        commands.logMessages.contains { $0.contains("NaN in loss at step \(number)") }, "shown at once")
      if number < 3 {
        XCTAssertEqual(harness.scheduler.run(run)?.state.lease?.attempt, number + 1)
        assignment = try XCTUnwrap(commands.assignments.first)
      } else {
        XCTAssertEqual(harness.scheduler.run(run)?.state, .failed)
        XCTAssertNotEqual(commands.assignments.first?.attempt.run, run)
      }
    }
    let status = harness.status
    XCTAssertEqual(status.sweep(sweepID)?.runs.failed, 1)
    XCTAssertEqual(status.sweep(sweepID)?.failedAttempts, 3)
    XCTAssertEqual(status.recentFailures.map(\.attempt.number), [1, 2, 3])
    XCTAssertEqual(status.recentFailures.last?.exitStatus, 1)
    XCTAssertTrue(status.recentFailures.last?.stderrTail.hasSuffix("NaN in loss at step 3") ?? false)
    XCTAssertEqual(status.recentFailures.map(\.runState), ["failed", "failed", "failed"])
    try harness.restart()
    XCTAssertEqual(harness.status.recentFailures, status.recentFailures, "failures survive a restart")
  }

  func testAnInputErrorFailsTheRunAtOnce() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let assignment = try XCTUnwrap(try harness.hello("w", slots: 1).assignments.first)
    let commands = try harness.fail(
      assignment, exitStatus: AttemptOutcome.inputErrorExitStatus,
      stderr: "no desirable segments at cost threshold 10")
    XCTAssertEqual(harness.scheduler.run(assignment.attempt.run)?.state, .failed)
    XCTAssertEqual(harness.scheduler.run(assignment.attempt.run)?.attemptCount, 1, "no retry")
    XCTAssertNotEqual(commands.assignments.first?.attempt.run, assignment.attempt.run)
    XCTAssertEqual(
      harness.scheduler.worker("w")?.consecutiveFailures, 0, "the input's fault, not the worker's")
    let failure = try XCTUnwrap(harness.status.recentFailures.last)
    XCTAssertTrue(failure.isInputError)
    XCTAssertEqual(failure.exitStatus, 65)
    XCTAssertEqual(failure.costThreshold, 10)
    try harness.restart()
    XCTAssertEqual(harness.scheduler.attempt(assignment.attempt)?.outcome, failure.outcome)
  }

  func testAWorkerFailingThreeTimesInARowIsQuarantinedUntilReleased() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    var assignment = try XCTUnwrap(try harness.hello("broken", slots: 1).assignments.first)
    // A success in between resets the count.
    assignment = try XCTUnwrap(try harness.fail(assignment).assignments.first)
    assignment = try XCTUnwrap(try harness.succeed(assignment).assignments.first)
    XCTAssertEqual(harness.scheduler.worker("broken")?.consecutiveFailures, 0)
    var commands: [SchedulerCommand] = []
    for _ in 1...3 {
      commands = try harness.fail(assignment)
      if let next = commands.assignments.first { assignment = next }
    }
    XCTAssertEqual(harness.scheduler.worker("broken")?.quarantined, true)
    XCTAssertTrue(commands.assignments.isEmpty, "no more work for a quarantined worker")
    XCTAssertTrue(commands.logMessages.contains { $0.contains("quarantined") })
    XCTAssertEqual(harness.status.worker("broken")?.quarantined, true)
    XCTAssertEqual(harness.status.worker("broken")?.consecutiveFailures, 3)
    XCTAssertTrue(try harness.hello("broken", slots: 1).assignments.isEmpty, "reconnecting does not lift it")
    try harness.restart()
    XCTAssertTrue(try harness.hello("broken", slots: 1).assignments.isEmpty, "nor does a restart")

    let healthy = try harness.hello("healthy", slots: 1).assignments
    XCTAssertEqual(healthy.map(\.worker), ["healthy"])
    let released = try harness.send(.releaseQuarantine("broken"))
    XCTAssertEqual(released.assignments.map(\.worker), ["broken"])
    XCTAssertEqual(harness.scheduler.worker("broken")?.quarantined, false)
    XCTAssertThrowsError(try harness.send(.releaseQuarantine("nobody"))) {
      XCTAssertEqual($0 as? CoordinatorError, .unknownWorker("nobody"))
    }
    try harness.restart()
  }

  func testSubmitIsIdempotentAndDoneRunsAreSharedAcrossSweeps() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let again = try harness.submit(try GridFile(parsing: grid.canonicalJSON))
    XCTAssertTrue(again.logMessages.contains { $0.contains("already submitted") })
    XCTAssertEqual(harness.scheduler.sweeps.count, 1)
    XCTAssertEqual(harness.scheduler.runs.count, 12)
    try harness.runUntilIdle(starting: try harness.hello("w", slots: 2))

    // alpha 0.05 is in both grids: base and alpha=0.05 (8 runs) are already done.
    let wider = Grids.alphaStudy(name: "ballcircle-alpha-wide", alphas: "[0.05, 1.0]")
    let widerID = SweepID(of: wider)
    let submitted = try harness.submit(wider)
    XCTAssertTrue(submitted.logMessages.contains { $0.contains("8 already done") })
    XCTAssertEqual(harness.status.sweep(widerID)?.runs.done, 8)
    XCTAssertEqual(harness.status.sweep(widerID)?.runs.total, 12)
    XCTAssertEqual(harness.scheduler.runs.count, 16, "shared runs are not duplicated")
    let newRuns = submitted.assignments
    XCTAssertEqual(newRuns.map(\.spec.hyperparameters.alpha), [1.0, 1.0], "only new runs are executed")
    XCTAssertEqual(newRuns.map(\.pointID), ["alpha=1", "alpha=1"])
    try harness.runUntilIdle(starting: submitted)
    XCTAssertEqual(harness.status.sweep(widerID)?.runs, RunCounts(done: 12))
    XCTAssertEqual(try harness.store.results(sweep: widerID).count, 12, "the shared results export with it")

    // A different grid under a taken name is refused with what differs.
    let renamed = Grids.alphaStudy(name: "ballcircle-alpha", alphas: "[0.05, 0.7]")
    XCTAssertThrowsError(try harness.submit(renamed)) { error in
      guard case .sweepNameTaken(let name, let existing, let differences) = error as? CoordinatorError else {
        return XCTFail("\(error)")
      }
      XCTAssertEqual(name, "ballcircle-alpha")
      XCTAssertEqual(existing, self.sweepID)
      XCTAssertEqual(differences, ["$.vary.alpha[1]: 0.5 -> 0.7"])
      XCTAssertTrue("\(error)".contains("0.5 -> 0.7"))
    }
    XCTAssertEqual(harness.scheduler.sweeps.count, 2)
    try harness.restart()
    XCTAssertEqual(try harness.submit(grid).assignments.count, 0)
    XCTAssertEqual(harness.scheduler.sweeps.count, 2)
  }

  func testTheSameGridWithAChangedDatasetIsRefusedAndBadWorkersAreTurnedAway() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let changed = SweepSubmission(grid: grid) { _ in String(repeating: "cd", count: 32) }
    XCTAssertThrowsError(try harness.send(.submit(changed))) { error in
      guard case .sweepChanged(let sweep, let message) = error as? CoordinatorError else {
        return XCTFail("\(error)")
      }
      XCTAssertEqual(sweep, self.sweepID)
      XCTAssertTrue(message.contains("dataset"), message)
    }
    XCTAssertEqual(harness.scheduler.runs.count, 12, "a refused submit changes nothing")
    XCTAssertThrowsError(try harness.hello("zero", slots: 0)) { error in
      XCTAssertTrue("\(error)".contains("at least 1"), "\(error)")
    }
    XCTAssertNil(harness.scheduler.worker("zero"))
    try harness.restart()
  }

  func testCancelStopsTheSweepsRunsButNotThoseAnotherSweepNeeds() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let running = try harness.hello("w", slots: 2).assignments
    XCTAssertEqual(running.count, 2)

    let cancelled = try harness.send(.cancel(sweepID))
    XCTAssertEqual(Set(cancelled.cancellations.map(\.attempt)), Set(running.map(\.attempt)))
    XCTAssertTrue(cancelled.assignments.isEmpty)
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(cancelled: 12))
    XCTAssertEqual(harness.status.sweep(sweepID)?.cancelled, true)
    XCTAssertTrue(try harness.heartbeat("w", []).assignments.isEmpty)
    XCTAssertThrowsError(try harness.send(.cancel("00000000"))) {
      XCTAssertEqual($0 as? CoordinatorError, .unknownSweep("00000000"))
    }
    XCTAssertThrowsError(try harness.send(.retryFailed(sweepID)))
    try harness.restart()

    // Submitting it again resumes it; a second sweep shares some runs, and cancelling it leaves those.
    XCTAssertEqual(try harness.submit(grid).logMessages.first?.contains("resumed"), true)
    let wider = Grids.alphaStudy(name: "wide", alphas: "[0.05, 1.0]")
    try harness.submit(wider)
    let again = try harness.hello("w", slots: 2).assignments
    XCTAssertEqual(again.count, 2)
    let stopped = try harness.send(.cancel(SweepID(of: wider)))
    XCTAssertTrue(stopped.cancellations.isEmpty, "the first sweep still needs the runs in progress")
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(pending: 10, running: 2))
    try harness.runUntilIdle(starting: again.map { .assign($0) })
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(done: 12))
    XCTAssertEqual(harness.status.sweep(SweepID(of: wider))?.runs, RunCounts(done: 8, cancelled: 4))
    try harness.restart()
  }

  func testRetryFailedRerunsExactlyTheFailedRunsWithTheirSeeds() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    var queue = try harness.hello("w", slots: 1).assignments
    var failedSpecs: [RunSpec] = []
    while !queue.isEmpty {
      let assignment = queue.removeFirst()
      let commands: [SchedulerCommand]
      if assignment.spec.costThreshold == 10 && assignment.spec.seed == 1 && assignment.pointID != "base" {
        failedSpecs.append(assignment.spec)
        commands = try harness.fail(assignment, exitStatus: 65, stderr: "no desirable segments")
      } else {
        commands = try harness.succeed(assignment)
      }
      queue += commands.assignments
    }
    XCTAssertEqual(failedSpecs.count, 2)
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(done: 10, failed: 2))
    try harness.restart()
    try harness.hello("w", slots: 4)

    let retried = try harness.send(.retryFailed(sweepID)).assignments
    XCTAssertEqual(retried.map(\.spec), failedSpecs, "exactly the failed runs, same seeds")
    XCTAssertEqual(retried.map(\.attempt.number), [2, 2])
    for assignment in retried { try harness.succeed(assignment) }
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(done: 12))
    XCTAssertEqual(try harness.store.results(sweep: sweepID).count, 12)
    try harness.restart()
  }

  func testAnAssignmentThatCrossesTheGoodbyeIsHandedBackAndAConfirmedOneNotHandedBackIsLost() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let (confirmed, crossing) = try {
      let held = try harness.hello("leaving", slots: 2).assignments
      return (held[0], held[1])
    }()
    // The worker names the first in a heartbeat; the second was sent after it and crosses its goodbye.
    try harness.heartbeat("leaving", [confirmed.attempt])
    try harness.send(.workerGoodbye(worker: "leaving", released: []))
    XCTAssertEqual(harness.scheduler.attempt(crossing.attempt)?.outcome, .released, "it never ran there")
    XCTAssertEqual(
      harness.scheduler.attempt(confirmed.attempt)?.outcome, .lost, "it ran and was not handed back")
    XCTAssertEqual(harness.status.sweep(sweepID)?.lostAttempts, 1)
  }

  func testGracefulGoodbyeHandsRunsBackWithoutCountingFailures() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let held = try harness.hello("leaving", slots: 2).assignments
    let goodbye = try harness.send(.workerGoodbye(worker: "leaving", released: held.map(\.attempt)))
    XCTAssertTrue(goodbye.assignments.isEmpty, "no work for a worker that left")
    for assignment in held {
      XCTAssertEqual(harness.scheduler.attempt(assignment.attempt)?.outcome, .released)
      XCTAssertEqual(harness.scheduler.run(assignment.attempt.run)?.state, .pending)
      XCTAssertEqual(harness.scheduler.run(assignment.attempt.run)?.failureCount, 0)
    }
    XCTAssertEqual(harness.scheduler.worker("leaving")?.state, .left)
    XCTAssertEqual(harness.scheduler.worker("leaving")?.consecutiveFailures, 0)
    XCTAssertEqual(harness.status.sweep(sweepID)?.lostAttempts, 0)
    XCTAssertEqual(harness.status.sweep(sweepID)?.failedAttempts, 0)
    try harness.restart()

    let taken = try harness.hello("staying", slots: 2).assignments
    XCTAssertEqual(taken.map(\.attempt), held.map { AttemptID(run: $0.attempt.run, counted: 2) })
  }

  func testARestartedCoordinatorReadoptsRunsItsWorkersAnnounce() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let held = try harness.hello("a", slots: 2).assignments
    harness.advance(milliseconds: 500)
    try harness.restart()  // running attempts stay running, with a fresh lease
    XCTAssertEqual(harness.scheduler.worker("a")?.state, .offline)

    harness.advance(milliseconds: 700)  // the worker reconnects with backoff
    let hello = try harness.hello("a", slots: 2, running: held.map(\.attempt))
    XCTAssertTrue(hello.assignments.isEmpty, "re-adopted, not started again")
    XCTAssertTrue(hello.cancellations.isEmpty)
    let carriedOut = try harness.runUntilIdle(starting: held.map { .assign($0) })
    XCTAssertEqual(carriedOut.count, 12)
    XCTAssertEqual(harness.history.assignments.count, 12, "no run started twice")
    XCTAssertEqual(harness.status.sweep(sweepID)?.runs, RunCounts(done: 12))
    try harness.restart()
  }

  func testAfterARestartRunsOfWorkersThatDoNotComeBackLapse() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let held = try harness.hello("gone", slots: 1).assignments
    harness.advance(milliseconds: 10_000)
    try harness.restart()
    try harness.hello("other", slots: 1)  // busy with the next run
    harness.advance(milliseconds: 2999)
    try harness.tick()
    XCTAssertNotNil(harness.scheduler.run(held[0].attempt.run)?.state.lease)
    harness.advance(milliseconds: 1)
    try harness.tick()
    XCTAssertEqual(harness.scheduler.run(held[0].attempt.run)?.state, .pending)
    XCTAssertEqual(harness.scheduler.attempt(held[0].attempt)?.outcome, .lost)
    try harness.restart()
  }

  func testAStaleAttemptAnnouncedByAWorkerIsCancelledAndAMissingOneIsLost() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let first = try XCTUnwrap(try harness.hello("a", slots: 1).assignments.first)
    harness.advance(milliseconds: 3000)
    try harness.tick()
    let second = try XCTUnwrap(try harness.hello("b", slots: 1).assignments.first)
    XCTAssertEqual(second.attempt.run, first.attempt.run)

    // a comes back still running its old attempt: it must stop, the run is b's now.
    let hello = try harness.hello("a", slots: 1, running: [first.attempt])
    XCTAssertEqual(hello.cancellations.map(\.attempt), [first.attempt])
    XCTAssertEqual(hello.assignments.count, 1, "a gets other work")
    // b reconnects without its attempt (it restarted): lost, and the run goes back to the queue.
    let reconnect = try harness.hello("b", slots: 1)
    XCTAssertEqual(harness.scheduler.attempt(second.attempt)?.outcome, .lost)
    XCTAssertEqual(reconnect.assignments.first?.attempt, AttemptID(run: first.attempt.run, counted: 3))
    // A heartbeat from a worker the coordinator has never met asks it to say hello.
    XCTAssertEqual(try harness.heartbeat("stranger", []), [.requestHello(worker: "stranger")])
    // A result for an attempt nobody was given is acknowledged and discarded.
    let bogus = try harness.send(
      .result(
        worker: "a", attempt: AttemptID(run: "0000000000000000", counted: 1),
        outcome: .failed(exitStatus: 1, stderrTail: "")))
    XCTAssertEqual(bogus.acknowledgements.map(\.disposition), [.discarded])
    try harness.restart()
  }

  func testAWorkerSilentAfterARunWasReadoptedKeepsItsLeaseWhileItHeartbeats() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let first = try XCTUnwrap(try harness.hello("a", slots: 1).assignments.first)
    for _ in 1...10 {
      harness.advance(milliseconds: 1000)
      try harness.heartbeat("a", [first.attempt])
      XCTAssertTrue(try harness.tick().isEmpty, "a long run with heartbeats is never lost")
    }
    // Lapsed, then heard from again before anyone took it: the heartbeat re-adopts it.
    harness.advance(milliseconds: 3000)
    try harness.tick()
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.state, .pending)
    let back = try harness.heartbeat("a", [first.attempt])
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.state.lease?.attempt, 1)
    XCTAssertEqual(harness.scheduler.attempt(first.attempt)?.outcome, nil)
    XCTAssertTrue(back.assignments.isEmpty)
    XCTAssertEqual(try harness.succeed(first).acknowledgements.map(\.disposition), [.recorded])
    try harness.restart()
  }
}
