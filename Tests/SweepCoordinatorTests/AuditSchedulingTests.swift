import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// Audits in the scheduler (docs/SECURITY.md): a drawn result is trained again by a worker with no part
/// in it; agreement passes it; a disagreement is refereed by a third worker, and the side the referee
/// contradicts is convicted (quarantined, its recorded results suspect and trained again).
final class AuditSchedulingTests: XCTestCase {
  /// 2 runs (base and alpha = 0.5, one threshold, one seed).
  static let grid = try! GridFile(
    parsing: Data(
      """
      {"name": "audited", "task": "OfflineBallCircle-v0", "dataset": "datasets/demo.hdf5", "algorithm": "trac",
       "base": {"alpha": 0.2, "bc_steps": 300, "steps": 1000}, "vary": {"alpha": [0.5]},
       "design": "one_at_a_time", "cost_thresholds": [10], "seeds": [0], "eval": {"episodes": 5, "seed": 0}}
      """.utf8))

  func harness(share: Double = 1) throws -> SchedulerHarness {
    try SchedulerHarness(
      configuration: try SchedulerConfiguration(
        shareBCStages: false, auditShare: share, auditSalt: "test-salt"))
  }

  /// What a worker's training of `assignment` gives: the same bytes from honest workers, others from
  /// `cheats`.
  func result(
    _ assignment: RunAssignment, cheats: Set<WorkerID> = [], kernel: String = "Zen"
  ) -> ReportedOutcome {
    var payload = RunResultPayload(
      runJSON: #"{"run_id": "\#(assignment.attempt.run)", "seed": \#(assignment.spec.seed)}"#,
      artifactPaths: ["artifacts/runs/\(assignment.attempt.run)/policy.safetensors"])
    let bytes = cheats.contains(assignment.worker) ? "forged-\(assignment.worker)" : "honest"
    payload.fingerprint = ResultFingerprint(
      sha256: sha256Hex(Data("\(assignment.attempt.run)-\(bytes)".utf8)), kernels: [kernel],
      reproducible: false,
      reward: 0.5, cost: 0.25)
    return .succeeded(payload)
  }

  /// Workers carry out every assignment, cheats forging, until nothing is left to do.
  @discardableResult
  func runUntilIdle(
    _ harness: SchedulerHarness, _ commands: [SchedulerCommand], cheats: Set<WorkerID> = []
  ) throws -> [RunAssignment] {
    var queue = commands.assignments
    var done: [RunAssignment] = []
    while !queue.isEmpty {
      let assignment = queue.removeFirst()
      // A cancelled attempt (its worker was convicted) is not reported.
      guard harness.scheduler.attempt(assignment.attempt)?.outcome == nil else { continue }
      harness.advance(milliseconds: 10)
      queue += try harness.send(
        .result(
          worker: assignment.worker, attempt: assignment.attempt, outcome: result(assignment, cheats: cheats))
      ).assignments
      done.append(assignment)
    }
    return done
  }

  func testAnAgreeingAuditPassesAndRecordsNothingTwice() throws {
    let harness = try harness()
    let (a, b) = (WorkerID(stringLiteral: "node-a"), WorkerID(stringLiteral: "node-b"))
    try harness.hello(a)
    try harness.hello(b)
    let done = try runUntilIdle(harness, try harness.submit(Self.grid))
    XCTAssertEqual(done.count, 4, "2 runs and 2 audits")
    let counts = harness.status.audits
    XCTAssertEqual(counts.passed, 2)
    XCTAssertEqual(counts.waiting + counts.running + counts.disputed + counts.mismatch, 0)
    for run in harness.scheduler.runs.values {
      XCTAssertEqual(run.state, .done)
      XCTAssertEqual(run.attemptCount, 2)
      XCTAssertEqual(try harness.store.resultCount(run: run.id), 1)
      let audit = try XCTUnwrap(harness.scheduler.audit(of: run.id))
      XCTAssertNotEqual(
        audit.producer, harness.scheduler.attempt(AttemptID(run: run.id, counted: 2))?.worker,
        "audited by the other worker")
    }
    XCTAssertEqual(harness.scheduler.workers.values.filter(\.quarantined).count, 0)
    // Audits survive a restart as they were.
    let before = harness.scheduler.runs.keys.sorted().map { harness.scheduler.audit(of: $0) }
    try harness.restart()
    XCTAssertEqual(harness.scheduler.runs.keys.sorted().map { harness.scheduler.audit(of: $0) }, before)
    XCTAssertEqual(harness.status.audits.passed, 2)
  }

  func testNoAuditWithoutASecondWorkerAndNoneAtShareZero() throws {
    let alone = try harness()
    let a = WorkerID(stringLiteral: "node-a")
    try alone.hello(a)
    XCTAssertEqual(try runUntilIdle(alone, try alone.submit(Self.grid)).count, 2)
    XCTAssertEqual(alone.status.audits.waiting, 2, "drawn, waiting for a worker with no part in the runs")
    // A second worker takes them.
    let b = WorkerID(stringLiteral: "node-b")
    XCTAssertEqual(try runUntilIdle(alone, try alone.hello(b)).map(\.worker), [b, b])
    XCTAssertEqual(alone.status.audits.passed, 2)

    let off = try harness(share: 0)
    try off.hello(a)
    try off.hello(b)
    XCTAssertEqual(try runUntilIdle(off, try off.submit(Self.grid)).count, 2)
    XCTAssertEqual(off.status.audits.total, 0)
  }

  func testTheDrawFollowsTheShareAndTheSalt() throws {
    let runs = (0..<2000).map {
      AttemptID(run: RunID(rawValue: String(format: "%016x", $0 * 7919))!, counted: 1)
    }
    func drawn(_ share: Double, salt: String) throws -> Set<AttemptID> {
      let scheduler = Scheduler(configuration: try SchedulerConfiguration(auditShare: share, auditSalt: salt))
      return Set(runs.filter { scheduler.isDrawnForAudit($0) })
    }
    let two = try drawn(0.02, salt: "one")
    XCTAssertTrue((20...60).contains(two.count), "about 2% of 2000: \(two.count)")
    XCTAssertEqual(try drawn(0.02, salt: "one"), two, "the same salt draws the same results")
    XCTAssertNotEqual(try drawn(0.02, salt: "two"), two, "another salt, another draw")
    XCTAssertEqual(try drawn(1, salt: "one").count, 2000)
    XCTAssertThrowsError(try SchedulerConfiguration(auditShare: 1.5)) { error in
      XCTAssertTrue("\(error)".contains("--audit"), "\(error)")
    }
  }

  func testAForgingProducerIsConvictedByAuditorAndRefereeAndItsResultsTrainedAgain() throws {
    let harness = try harness()
    let (a, b, cheat) = (
      WorkerID(stringLiteral: "node-a"), WorkerID(stringLiteral: "node-b"), WorkerID(stringLiteral: "cheat")
    )
    // The cheat alone when the sweep arrives: it records the first run.
    try harness.hello(cheat)
    var commands = try harness.submit(Self.grid)
    commands += try harness.hello(a)
    commands += try harness.hello(b)
    try runUntilIdle(harness, commands, cheats: [cheat])

    XCTAssertEqual(harness.scheduler.worker(cheat)?.quarantined, true)
    XCTAssertEqual(harness.scheduler.worker(a)?.quarantined, false, "an honest worker flagged")
    XCTAssertEqual(harness.scheduler.worker(b)?.quarantined, false, "an honest worker flagged")
    let counts = harness.status.audits
    XCTAssertEqual(counts.mismatch, 1, "the forged result")
    XCTAssertEqual(counts.suspect, 0, "trained again since")
    XCTAssertEqual(counts.waiting + counts.running + counts.disputed, 0)
    for run in harness.scheduler.runs.values {
      XCTAssertEqual(run.state, .done)
      XCTAssertEqual(try harness.store.resultCount(run: run.id), 1)
      let audit = try XCTUnwrap(harness.scheduler.audit(of: run.id))
      XCTAssertNotEqual(audit.producer, cheat, "every recorded result is an honest one")
      XCTAssertEqual(audit.state, .passed)
    }
    let log = harness.history.compactMap { command -> String? in
      if case .log(_, let message) = command { return message } else { return nil }
    }
    XCTAssertTrue(log.contains { $0.contains("worker cheat convicted by audit") }, "\(log)")
  }

  func testAForgingAuditorIsConvictedWhenTheRefereeAgreesWithTheProducer() throws {
    let harness = try harness()
    let (a, b, cheat) = (
      WorkerID(stringLiteral: "node-a"), WorkerID(stringLiteral: "node-b"), WorkerID(stringLiteral: "cheat")
    )
    try harness.hello(a, slots: 2)
    // Both runs recorded by node-a before anyone else is there.
    try runUntilIdle(harness, try harness.submit(Self.grid))
    XCTAssertEqual(harness.status.audits.waiting, 2)
    // The cheat audits both and forges; node-b referees.
    let audits = try harness.hello(cheat, slots: 2).assignments
    XCTAssertEqual(audits.map(\.worker), [cheat, cheat])
    var next: [SchedulerCommand] = []
    for assignment in audits {
      next += try harness.send(
        .result(worker: cheat, attempt: assignment.attempt, outcome: result(assignment, cheats: [cheat])))
    }
    XCTAssertEqual(harness.status.audits.disputed, 2)
    next += try harness.hello(b, slots: 2)
    try runUntilIdle(harness, next, cheats: [cheat])
    XCTAssertEqual(harness.scheduler.worker(cheat)?.quarantined, true)
    XCTAssertEqual(harness.scheduler.worker(a)?.quarantined, false)
    XCTAssertEqual(harness.status.audits.passed, 2)
    XCTAssertEqual(harness.status.audits.suspect, 0, "node-a's results stand")
  }

  func testResultsOfOtherKernelsAreNotComparedAndAnotherWorkerAudits() throws {
    let harness = try harness()
    let (a, b, c) = (
      WorkerID(stringLiteral: "node-a"), WorkerID(stringLiteral: "node-b"), WorkerID(stringLiteral: "node-c")
    )
    try harness.hello(a, slots: 2)
    try runUntilIdle(harness, try harness.submit(Self.grid))
    // node-b computes with another kernel: its trainings are not compared, nobody is flagged.
    for assignment in try harness.hello(b, slots: 2).assignments {
      try harness.send(
        .result(worker: b, attempt: assignment.attempt, outcome: result(assignment, kernel: "SkylakeX")))
    }
    XCTAssertEqual(harness.status.audits.waiting, 2)
    XCTAssertEqual(harness.status.audits.disputed, 0)
    try runUntilIdle(harness, try harness.hello(c, slots: 2))
    XCTAssertEqual(harness.status.audits.passed, 2)
    XCTAssertTrue(harness.scheduler.workers.values.allSatisfy { !$0.quarantined })
  }

  func testALostAuditAttemptWaitsForAWorkerAgain() throws {
    let harness = try harness()
    let (a, b) = (WorkerID(stringLiteral: "node-a"), WorkerID(stringLiteral: "node-b"))
    try harness.hello(a, slots: 2)
    try runUntilIdle(harness, try harness.submit(Self.grid))
    let audits = try harness.hello(b, slots: 2).assignments
    XCTAssertEqual(audits.count, 2)
    // node-b goes silent: its audit attempts lapse, and come back to it when it says hello again.
    harness.advance(milliseconds: 10_000)
    try harness.heartbeat(a, [])
    try harness.tick()
    XCTAssertEqual(harness.status.audits.waiting, 2)
    XCTAssertEqual(try runUntilIdle(harness, try harness.hello(b, slots: 2)).count, 2)
    XCTAssertEqual(harness.status.audits.passed, 2)
  }
}
