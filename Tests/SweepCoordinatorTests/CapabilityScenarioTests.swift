import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// Which worker may take which run (what it announces it evaluates), and whose key a worker id is
/// (CURVE): scenarios on the manual clock, each committed to a real store and restarted from it.
final class CapabilityScenarioTests: XCTestCase {
  /// `runs` seeds of one point on `task`, evaluated with `episodes` episodes (0: train only).
  static func grid(name: String, task: String = "OfflineBallCircle-v0", episodes: Int, seeds: Int) -> GridFile
  {
    let text = """
      {
        "name": "\(name)", "task": "\(task)", "dataset": "datasets/demo.hdf5", "algorithm": "trac",
        "base": {"bc_steps": 300, "steps": 1000}, "cost_thresholds": [10],
        "seeds": \(Array(0..<seeds)), "eval": {"episodes": \(episodes), "seed": 0}
      }
      """
    return try! GridFile(parsing: Data(text.utf8))
  }

  func testAWorkerThatEvaluatesNothingGetsOnlyTrainOnlyRunsAndStatusSaysWhyTheOthersWait() throws {
    let harness = try SchedulerHarness()
    let evaluated = Self.grid(name: "evaluated", episodes: 5, seeds: 3)
    try harness.submit(evaluated)
    XCTAssertTrue(try harness.hello("no-eval", slots: 2, evaluates: []).assignments.isEmpty)
    XCTAssertEqual(harness.status.sweep(SweepID(of: evaluated))?.runs, RunCounts(pending: 3))
    XCTAssertEqual(harness.status.waiting, [WaitingRuns(family: .bulletGym, runs: 3)])
    XCTAssertEqual(
      harness.status.waiting.first?.reason,
      "3 runs need a worker that evaluates bullet_gym; no online worker does")
    XCTAssertEqual(harness.status.worker("no-eval")?.evaluates, [])

    // A train-only grid submitted later runs at once on it, past the older runs it cannot take.
    let trainOnly = Self.grid(name: "train-only", episodes: 0, seeds: 2)
    let submitted = try harness.submit(trainOnly)
    let assigned = submitted.assignments
    XCTAssertEqual(assigned.count, 2)
    XCTAssertTrue(assigned.allSatisfy { $0.worker == "no-eval" && $0.spec.evalEpisodes == 0 })
    try harness.runUntilIdle(starting: submitted)
    XCTAssertEqual(harness.status.sweep(SweepID(of: trainOnly))?.runs, RunCounts(done: 2))
    XCTAssertEqual(harness.status.sweep(SweepID(of: evaluated))?.runs, RunCounts(pending: 3))

    // A worker that evaluates BulletGym takes them; nothing waits any more.
    let commands = try harness.hello("gym", slots: 3, evaluates: [.bulletGym])
    XCTAssertEqual(commands.assignments.count, 3)
    XCTAssertTrue(commands.assignments.allSatisfy { $0.worker == "gym" })
    XCTAssertEqual(harness.status.waiting, [])
    try harness.runUntilIdle(starting: commands)
    XCTAssertEqual(harness.status.sweep(SweepID(of: evaluated))?.runs, RunCounts(done: 3))
    try harness.restart()
  }

  func testAWorkerThatDoesNotSayIsTakenToEvaluateBulletGymOnly() throws {
    let harness = try SchedulerHarness()
    let safety = Self.grid(name: "point", task: "OfflinePointCircle1Gymnasium-v0", episodes: 2, seeds: 2)
    let bullet = Self.grid(name: "ball", episodes: 2, seeds: 2)
    try harness.submit(safety)
    try harness.submit(bullet)
    let older = try harness.hello("older", slots: 4)  // no `evaluates`: an older worker
    XCTAssertEqual(older.assignments.map(\.spec.task), ["OfflineBallCircle-v0", "OfflineBallCircle-v0"])
    XCTAssertEqual(harness.status.worker("older")?.evaluates, [.bulletGym])
    XCTAssertEqual(harness.status.waiting, [WaitingRuns(family: .safetyGymnasium, runs: 2)])
    XCTAssertEqual(
      harness.status.waiting.first?.reason,
      "2 runs need a worker that evaluates safety_gymnasium; no online worker does")

    // A worker with the Safety-Gymnasium evaluator takes them.
    let sg = try harness.hello("sg", slots: 2, evaluates: [.bulletGym, .safetyGymnasium])
    XCTAssertEqual(
      sg.assignments.map(\.spec.task), Array(repeating: "OfflinePointCircle1Gymnasium-v0", count: 2))
    XCTAssertEqual(harness.status.waiting, [])
    try harness.runUntilIdle(starting: older + sg)
    XCTAssertEqual(harness.status.sweep(SweepID(of: safety))?.runs, RunCounts(done: 2))

    // It leaves: new Safety-Gymnasium runs wait again, and say so.
    try harness.send(.workerGoodbye(worker: "sg", released: []))
    let more = Self.grid(name: "point-more", task: "OfflinePointCircle1Gymnasium-v0", episodes: 2, seeds: 3)
    XCTAssertTrue(
      try harness.submit(more).assignments.isEmpty, "the older worker's slots are free, but it cannot")
    // Seeds 0 and 1 are the runs done above (cached): one run is new.
    XCTAssertEqual(harness.status.sweep(SweepID(of: more))?.runs, RunCounts(pending: 1, done: 2))
    XCTAssertEqual(harness.status.waiting, [WaitingRuns(family: .safetyGymnasium, runs: 1)])
    XCTAssertEqual(
      harness.status.waiting.first?.reason,
      "1 run needs a worker that evaluates safety_gymnasium; no online worker does")
    try harness.restart()
    XCTAssertEqual(harness.status.waiting, [WaitingRuns(family: .safetyGymnasium, runs: 1)])
  }

  func testMetaDriveRunsWaitForAWorkerWithTheMetaDriveEvaluator() throws {
    let harness = try SchedulerHarness()
    let drive = Self.grid(name: "drive", task: "OfflineMetadrive-mediummean-v0", episodes: 2, seeds: 2)
    try harness.submit(drive)
    let others = try harness.hello("others", slots: 2, evaluates: [.bulletGym, .safetyGymnasium])
    XCTAssertTrue(others.assignments.isEmpty)
    XCTAssertEqual(harness.status.waiting, [WaitingRuns(family: .metadrive, runs: 2)])
    XCTAssertEqual(
      harness.status.waiting.first?.reason,
      "2 runs need a worker that evaluates metadrive; no online worker does")
    let md = try harness.hello("md", slots: 2, evaluates: [.bulletGym, .metadrive])
    XCTAssertEqual(
      md.assignments.map(\.spec.task), ["OfflineMetadrive-mediummean-v0", "OfflineMetadrive-mediummean-v0"])
    XCTAssertTrue(md.assignments.allSatisfy { $0.worker == "md" })
    XCTAssertEqual(harness.status.waiting, [])
    try harness.runUntilIdle(starting: md)
    XCTAssertEqual(harness.status.sweep(SweepID(of: drive))?.runs, RunCounts(done: 2))
  }

  func testStatusSaysWhenTheOnlyWorkersThatCouldTakeTheRunsAreQuarantined() throws {
    let harness = try SchedulerHarness()
    try harness.submit(
      Self.grid(name: "point", task: "OfflinePointCircle1Gymnasium-v0", episodes: 2, seeds: 2))
    var commands = try harness.hello("sg", evaluates: [.safetyGymnasium])
    for _ in 0..<3 { commands = try harness.fail(try XCTUnwrap(commands.assignments.first)) }
    XCTAssertEqual(harness.status.worker("sg")?.quarantined, true)
    XCTAssertEqual(
      harness.status.waiting, [WaitingRuns(family: .safetyGymnasium, runs: 1, onlyQuarantinedCan: true)])
    XCTAssertEqual(
      harness.status.waiting.first?.reason,
      "1 run needs a worker that evaluates safety_gymnasium; the online workers that do are quarantined")
  }

  func testAWorkerThatEvaluatesEveryFamilyTakesTheOldestRunFirst() throws {
    let harness = try SchedulerHarness()
    // Submitted in this order, each waiting in the queue of what it needs.
    for grid in [
      Self.grid(name: "first", task: "OfflinePointCircle1Gymnasium-v0", episodes: 1, seeds: 1),
      Self.grid(name: "second", episodes: 0, seeds: 1), Self.grid(name: "third", episodes: 1, seeds: 1),
    ] {
      try harness.submit(grid)
    }
    var commands = try harness.hello("all", slots: 1, evaluates: [.bulletGym, .safetyGymnasium])
    var order: [String] = []
    while let assignment = commands.assignments.first {
      order.append(assignment.spec.task + "/\(assignment.spec.evalEpisodes)")
      commands = try harness.succeed(assignment)
    }
    XCTAssertEqual(
      order, ["OfflinePointCircle1Gymnasium-v0/1", "OfflineBallCircle-v0/0", "OfflineBallCircle-v0/1"],
      "submit order across what the runs need")
  }

  func testAWorkerIDBelongsToTheKeyThatRegisteredItAndQuarantineFollowsTheKey() throws {
    let harness = try SchedulerHarness()
    try harness.submit(Self.grid(name: "ball", episodes: 0, seeds: 6))
    var commands = try harness.hello("node-old", key: "KEY-A")
    XCTAssertEqual(harness.scheduler.worker("node-old")?.publicKey, "KEY-A")
    for _ in 0..<3 {
      let assignment = try XCTUnwrap(commands.assignments.first)
      commands = try harness.fail(assignment)
    }
    XCTAssertEqual(harness.status.worker("node-old")?.quarantined, true)
    XCTAssertTrue(commands.assignments.isEmpty)

    // The same machine (key) with a fresh work directory: a new worker id, still quarantined.
    let fresh = try harness.hello("node-fresh", key: "KEY-A")
    XCTAssertTrue(fresh.assignments.isEmpty, "a quarantined key does not start clean under a new id")
    XCTAssertEqual(harness.status.worker("node-fresh")?.quarantined, true)
    XCTAssertTrue(
      fresh.logMessages.contains { $0.contains("its CURVE key is that of quarantined worker node-old") })
    // Another key's worker is not touched by it.
    XCTAssertEqual(try harness.hello("other", key: "KEY-B").assignments.count, 1)
    XCTAssertEqual(harness.status.worker("other")?.quarantined, false)

    // A restart keeps every id's key and quarantine; the id refuses another key.
    try harness.restart()
    XCTAssertEqual(harness.scheduler.worker("node-old")?.publicKey, "KEY-A")
    XCTAssertThrowsError(try harness.hello("node-old", key: "KEY-B")) { error in
      XCTAssertEqual(error as? CoordinatorError, .refused("worker id node-old is bound to another CURVE key"))
    }
    XCTAssertEqual(harness.scheduler.worker("node-old")?.publicKey, "KEY-A", "never rebound")
    XCTAssertTrue(try harness.hello("node-old", key: "KEY-A").assignments.isEmpty, "still quarantined")

    // Releasing one id releases the key: both ids take work again.
    try harness.send(.releaseQuarantine("node-fresh"))
    XCTAssertEqual(harness.status.worker("node-old")?.quarantined, false)
    XCTAssertEqual(harness.status.worker("node-fresh")?.quarantined, false)
    XCTAssertFalse(try harness.hello("node-fresh", key: "KEY-A").assignments.isEmpty)
    try harness.restart()
  }

  func testWithoutKeysAFreshWorkerIDStartsClean() throws {
    let harness = try SchedulerHarness()
    try harness.submit(Self.grid(name: "ball", episodes: 0, seeds: 5))
    var commands = try harness.hello("node-old")
    for _ in 0..<3 { commands = try harness.fail(try XCTUnwrap(commands.assignments.first)) }
    XCTAssertEqual(harness.status.worker("node-old")?.quarantined, true)
    XCTAssertEqual(try harness.hello("node-fresh").assignments.count, 1, "plaintext: no key to follow")
    XCTAssertNil(harness.scheduler.worker("node-fresh")?.publicKey)
  }
}
