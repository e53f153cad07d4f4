import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

final class SweepStoreTests: XCTestCase {
  let grid = Grids.alphaStudy()

  func testTheDatabaseIsInWALModeInTheStateDirectory() throws {
    let harness = try SchedulerHarness()
    XCTAssertEqual(try harness.store.journalMode(), "wal")
    XCTAssertEqual(harness.store.databaseURL.lastPathComponent, "state.sqlite")
    XCTAssertTrue(FileManager.default.fileExists(atPath: harness.store.databaseURL.path))
  }

  /// `status`'s `age_seconds` counts from this date: the first submission, kept through a resubmission
  /// and a restart.
  func testASweepsSubmissionTimeIsKeptThroughResubmissionAndRestart() throws {
    let harness = try SchedulerHarness()
    let before = Date()
    try harness.submit(grid)
    let after = Date()
    let sweep = SweepID(of: grid)
    let first = try XCTUnwrap(try harness.store.sweepSubmissionDates()[sweep])
    XCTAssertGreaterThanOrEqual(first.timeIntervalSince(before), -0.001)
    XCTAssertLessThanOrEqual(first.timeIntervalSince(after), 0.001)
    try harness.submit(grid)
    XCTAssertEqual(try harness.store.sweepSubmissionDates()[sweep], first, "a resubmission does not reset it")
    try harness.restart()
    XCTAssertEqual(try harness.store.sweepSubmissionDates(), [sweep: first], "nor does a restart")
  }

  func testAResultCannotBeInsertedTwiceForTheSameRun() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let assignment = try XCTUnwrap(try harness.hello("w", slots: 1).assignments.first)
    try harness.succeed(assignment)
    XCTAssertEqual(try harness.store.resultCount(run: assignment.attempt.run), 1)

    // Even if a bug let the scheduler record it again, the database refuses, and the whole transaction
    // with it: the other changes of that event are not half-written either.
    var run = try XCTUnwrap(harness.scheduler.run(assignment.attempt.run))
    run.duplicateResults = 99
    let second = SchedulerRecords(
      runs: [run],
      results: [
        ResultRecord(attempt: assignment.attempt, worker: "w", payload: RunResultPayload(runJSON: "{}"))
      ])
    XCTAssertThrowsError(try harness.store.save(second)) { error in
      guard case .storage(_, let message) = error as? CoordinatorError else { return XCTFail("\(error)") }
      XCTAssertTrue(message.contains("UNIQUE"), message)
    }
    XCTAssertEqual(try harness.store.resultCount(run: assignment.attempt.run), 1)
    XCTAssertEqual(try harness.store.load().runs.first { $0.id == run.id }?.duplicateResults, 0)
    XCTAssertEqual(
      try harness.store.results(sweep: SweepID(of: grid)).first?.runJSON,
      harness.payload(for: assignment).runJSON)
  }

  func testAResultIsNotAcknowledgedWhenItCannotBeCommitted() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let assignment = try XCTUnwrap(try harness.hello("w", slots: 1).assignments.first)
    // Another writer (a bug, an operator) records the run behind the coordinator's back.
    let intruder = try SweepStore(directory: harness.directory)
    try intruder.save(
      SchedulerRecords(
        results: [
          ResultRecord(attempt: assignment.attempt, worker: "w", payload: RunResultPayload(runJSON: "{}"))
        ]))
    try intruder.close()

    XCTAssertThrowsError(try harness.succeed(assignment), "no commands, so no acknowledgement")
    // The scheduler went back to what is committed: the run is still running, its result not taken.
    XCTAssertEqual(harness.scheduler.run(assignment.attempt.run)?.state.lease?.attempt, 1)
    XCTAssertEqual(harness.history.acknowledgements.count, 0)
  }

  func testResultsExportCarriesEveryRunsCoordinates() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    try harness.runUntilIdle(starting: try harness.hello("w", slots: 3))
    let rows = try harness.store.results(sweep: SweepID(of: grid))
    XCTAssertEqual(rows.count, grid.runCount)
    for (row, run) in zip(rows, grid.runs) {
      XCTAssertEqual(row.sweep, SweepID(of: grid))
      XCTAssertEqual(row.pointID, run.pointID)
      XCTAssertEqual(row.spec, run.spec(datasetSHA256: Grids.datasetSHA256))
      XCTAssertEqual(row.run, RunID(of: row.spec))
      XCTAssertEqual(row.attempt, 1)
      XCTAssertEqual(row.artifactPaths, ["artifacts/runs/\(row.run)/policy.safetensors"])
      XCTAssertLessThan(abs(row.recordedAt.timeIntervalSinceNow), 600)
    }
    XCTAssertEqual(try harness.store.results(sweep: "0000ffff"), [])
  }

  func testAnEmptyDirectoryGivesAnEmptySchedulerAndAMissingOneIsCreated() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-sweep-store-\(UUID().uuidString)/nested/state")
    defer {
      try? FileManager.default.removeItem(
        at: directory.deletingLastPathComponent().deletingLastPathComponent())
    }
    let store = try SweepStore(directory: directory)
    let scheduler = try store.loadScheduler(configuration: .default, now: .zero)
    XCTAssertTrue(scheduler.runs.isEmpty)
    XCTAssertEqual(scheduler.status().sweeps, [])
    try store.close()
    // Opening again runs no migration twice.
    let reopened = try SweepStore(directory: directory)
    XCTAssertEqual(try reopened.load(), SchedulerRecords(duplicatesDiscarded: 0))
    try reopened.close()
  }
}

final class SchedulerConfigurationTests: XCTestCase {
  func testDefaultsAreOneSecondTimesThree() throws {
    let configuration = SchedulerConfiguration.default
    XCTAssertEqual(configuration.heartbeatInterval, .seconds(1))
    XCTAssertEqual(configuration.liveness, 3)
    XCTAssertEqual(configuration.leaseDuration, .seconds(3))
    XCTAssertEqual(configuration.maxAttempts, 3)
    XCTAssertEqual(configuration.quarantineAfter, 3)
    XCTAssertEqual(
      try SchedulerConfiguration(heartbeatInterval: .milliseconds(250), liveness: 4).leaseDuration,
      .seconds(1))
  }

  func testBadHeartbeatSettingsAreRefusedWithWhatToDo() {
    func message(_ make: @autoclosure () throws -> SchedulerConfiguration) -> String {
      do {
        _ = try make()
        return "accepted"
      } catch {
        return "\(error)"
      }
    }
    XCTAssertEqual(
      message(try SchedulerConfiguration(heartbeatInterval: .milliseconds(5))),
      "--heartbeat-interval: must be at least 10 ms, got 5 ms: workers could not keep their leases under load "
        + "and every run would be requeued over and over")
    XCTAssertTrue(
      message(try SchedulerConfiguration(heartbeatInterval: .zero)).hasPrefix("--heartbeat-interval"))
    XCTAssertTrue(
      message(try SchedulerConfiguration(heartbeatInterval: .seconds(-1))).hasPrefix("--heartbeat-interval"))
    XCTAssertTrue(
      message(try SchedulerConfiguration(heartbeatInterval: .seconds(7200))).contains("at most 1 hour"))
    XCTAssertTrue(
      message(try SchedulerConfiguration(liveness: 1)).hasPrefix("--liveness: must be at least 2"))
    XCTAssertTrue(message(try SchedulerConfiguration(maxAttempts: 0)).hasPrefix("--max-attempts"))
    XCTAssertTrue(message(try SchedulerConfiguration(quarantineAfter: 0)).hasPrefix("--quarantine-after"))
    XCTAssertEqual(
      message(try SchedulerConfiguration(heartbeatInterval: .milliseconds(10), liveness: 2)), "accepted")
  }

  func testAShortHeartbeatLapsesOnlyTheSilentAttempt() throws {
    let harness = try SchedulerHarness(
      configuration: SchedulerConfiguration(heartbeatInterval: .milliseconds(10), liveness: 2))
    try harness.submit(Grids.alphaStudy())
    let quiet = try XCTUnwrap(try harness.hello("quiet", slots: 1).assignments.first)
    let chatty = try XCTUnwrap(try harness.hello("chatty", slots: 1).assignments.first)
    for _ in 1...5 {
      harness.advance(milliseconds: 10)
      try harness.heartbeat("chatty", [chatty.attempt])
      try harness.tick()
    }
    XCTAssertEqual(harness.scheduler.attempt(quiet.attempt)?.outcome, .lost)
    XCTAssertNil(harness.scheduler.attempt(chatty.attempt)?.outcome, "still running")
    XCTAssertEqual(harness.scheduler.worker("chatty")?.state, .online)
  }

  func testManualClockWakesSleepersWhenAdvanced() async throws {
    let clock = ManualClock()
    let woke = expectation(description: "woke")
    let sleeper = Task {
      try await clock.sleep(until: clock.now.advanced(by: .milliseconds(1000)))
      woke.fulfill()
    }
    while clock.sleeperCount == 0 { await Task.yield() }
    clock.advance(milliseconds: 999)
    XCTAssertEqual(clock.sleeperCount, 1)
    clock.advance(milliseconds: 1)
    await fulfillment(of: [woke], timeout: 5)
    try await sleeper.value
    XCTAssertEqual(clock.elapsed, .milliseconds(1000))

    let cancelled = Task { try await clock.sleep(until: clock.now.advanced(by: .seconds(60))) }
    while clock.sleeperCount == 0 { await Task.yield() }
    cancelled.cancel()
    do {
      try await cancelled.value
      XCTFail("a cancelled sleep must throw")
    } catch is CancellationError {}
  }
}
