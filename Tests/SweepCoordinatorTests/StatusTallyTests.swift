import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// `status` and `metrics` read counters the scheduler keeps as it writes (`SchedulerTallies`) instead
/// of scanning every run and attempt per poll. Property: after every event of many random sequences
/// (submits of sweeps sharing runs, workers coming, failing, vanishing, results first and late,
/// checkpoints, cancels, retries, shared BC stage units, coordinator restarts), the kept counts equal
/// a brute-force recount of every record (`StatusRecount`, the code `status` ran before).
final class StatusTallyTests: XCTestCase {
  /// A deterministic generator, so that a failing sequence is replayed by its seed.
  struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  /// Four grids: "b" shares 8 of its 12 runs (alpha 0.2 and 0.5) with "a"; "point" needs the
  /// Safety-Gymnasium evaluator; "train-only" evaluates nothing.
  static let grids: [GridFile] = [
    Grids.alphaStudy(name: "a", alphas: "[0.05, 0.5]"),
    Grids.alphaStudy(name: "b", alphas: "[0.5, 0.9]"),
    CapabilityScenarioTests.grid(
      name: "point", task: "OfflinePointCircle1Gymnasium-v0", episodes: 2, seeds: 2),
    CapabilityScenarioTests.grid(name: "train-only", episodes: 0, seeds: 2),
  ]
  static let workerIDs: [WorkerID] = ["w1", "w2", "w3"]
  static let evaluatorChoices: [Set<TaskFamily>?] = [nil, [], [.bulletGym], [.bulletGym, .safetyGymnasium]]

  /// What the sequences did, summed: the test fails if some path was never taken.
  struct Coverage {
    var events = 0
    var restarts = 0
    var sharedRuns = 0
    var cancelledWhileRunning = 0
    var retried = 0
    var unitsDone = 0
    var checkpointsHeld = 0
    var duplicates = 0
    var lost = 0
    var failed = 0
    var waiting = 0
  }

  func testTalliedStatusEqualsABruteForceRecountAfterEveryEvent() throws {
    var coverage = Coverage()
    for seed in 0..<UInt64(40) {
      guard try runSequence(seed: seed, events: 120, coverage: &coverage) else { break }
    }
    XCTAssertGreaterThan(coverage.restarts, 0)
    XCTAssertGreaterThan(coverage.sharedRuns, 0, "a run in two sweeps")
    XCTAssertGreaterThan(coverage.cancelledWhileRunning, 0, "a sweep cancelled with runs under way")
    XCTAssertGreaterThan(coverage.retried, 0, "failed runs queued again")
    XCTAssertGreaterThan(coverage.unitsDone, 0, "a BC stage unit done")
    XCTAssertGreaterThan(coverage.checkpointsHeld, 0)
    XCTAssertGreaterThan(coverage.duplicates, 0)
    XCTAssertGreaterThan(coverage.lost, 0)
    XCTAssertGreaterThan(coverage.failed, 0)
    XCTAssertGreaterThan(coverage.waiting, 0, "runs waiting for an evaluator")
    print("status tallies checked after \(coverage.events) events: \(coverage)")
  }

  /// One random sequence; false (after a failure naming the seed and the event) at the first mismatch.
  func runSequence(seed: UInt64, events: Int, coverage: inout Coverage) throws -> Bool {
    var random = SeededRandom(seed: seed)
    let configuration = try SchedulerConfiguration(
      maxAttempts: 2, quarantineAfter: 4, recentFailureLimit: 5, shareBCStages: seed % 4 != 3)
    let harness = try SchedulerHarness(configuration: configuration)
    var issued: [RunAssignment] = []
    var nextCheckpoint: UInt8 = 0

    func held(by worker: WorkerID? = nil) -> [RunAssignment] {
      let scheduler = harness.scheduler
      return issued.filter {
        (worker == nil || $0.worker == worker) && scheduler.holds($0.attempt, on: $0.worker)
      }
    }
    /// Mostly an attempt that is its run's current one; sometimes any ever issued (late, discarded).
    func pickAssignment() -> RunAssignment? {
      let current = held()
      if !current.isEmpty && Int.random(in: 0..<4, using: &random) > 0 {
        return current.randomElement(using: &random)
      }
      return issued.randomElement(using: &random)
    }
    func someOf<T>(_ items: [T], keeping chance: Double) -> [T] {
      items.filter { _ in Double.random(in: 0..<1, using: &random) < chance }
    }
    func send(_ event: SchedulerEvent) throws {
      do {
        issued += try harness.send(event).assignments
      } catch is CoordinatorError {
        // Refused as a user would see it (retry of a cancelled sweep...): it changed nothing.
      }
    }

    guard check(harness, seed: seed, step: 0, event: "start") else { return false }
    for step in 1...events {
      let roll = Int.random(in: 0..<100, using: &random)
      var event = ""
      let scheduler = harness.scheduler
      switch roll {
      case 0..<10:
        let grid = Self.grids.randomElement(using: &random)!
        event = "submit \(grid.name)"
        let known = Set(scheduler.runs.keys)
        let submission = Grids.submission(grid)
        coverage.sharedRuns +=
          submission.runs.filter {
            known.contains($0.runID) && scheduler.sweep(submission.id) == nil
          }.count
        try send(.submit(submission))
      case 10..<20:
        let worker = Self.workerIDs.randomElement(using: &random)!
        let running = someOf(held(by: worker).map(\.attempt), keeping: 0.8)
        let spooled = someOf(
          issued.filter { $0.worker == worker && scheduler.attempt($0.attempt)?.outcome == .lost }.map(
            \.attempt), keeping: 0.3)
        event = "hello \(worker) running \(running) spooled \(spooled)"
        try send(
          .workerHello(
            worker: worker, host: "node-\(worker)", slots: Int.random(in: 1...3, using: &random),
            running: running, spooled: spooled,
            evaluates: Self.evaluatorChoices.randomElement(using: &random)!))
      case 20..<42:
        guard let assignment = pickAssignment() else { continue }
        event = "succeed \(assignment.attempt) on \(assignment.worker)"
        var payload = harness.payload(for: assignment)
        if assignment.spec.isStageUnit {
          nextCheckpoint &+= 1
          payload.stageOutput = RunCheckpoint(
            sha256: SHA256Digest(of: Data([nextCheckpoint, 0xbc])), size: 5000 + Int(nextCheckpoint),
            step: assignment.spec.hyperparameters.steps)
          payload.stageSeconds = Double(Int.random(in: 10...50, using: &random)) + 0.3
        }
        try send(
          .result(worker: assignment.worker, attempt: assignment.attempt, outcome: .succeeded(payload)))
      case 42..<52:
        guard let assignment = pickAssignment() else { continue }
        let status: Int32 =
          Int.random(in: 0..<5, using: &random) == 0 ? AttemptOutcome.inputErrorExitStatus : 1
        event = "fail \(assignment.attempt) on \(assignment.worker) with \(status)"
        try send(
          .result(
            worker: assignment.worker, attempt: assignment.attempt,
            outcome: .trainerExited(status: status, stderrTail: "RuntimeError: NaN")))
      case 52..<60:
        guard let assignment = held().randomElement(using: &random) else { continue }
        nextCheckpoint &+= 1
        let step =
          (scheduler.run(assignment.attempt.run)?.checkpoint?.step ?? 0)
          + Int.random(in: 1...100, using: &random)
        event = "checkpoint of \(assignment.attempt) at \(step)"
        try send(
          .checkpointShipped(
            worker: assignment.worker, attempt: assignment.attempt,
            checkpoint: RunCheckpoint(
              sha256: SHA256Digest(of: Data([nextCheckpoint])), size: 1000 + Int(nextCheckpoint), step: step))
        )
      case 60..<68:
        let worker = Self.workerIDs.randomElement(using: &random)!
        event = "heartbeat \(worker)"
        try send(.heartbeat(worker: worker, running: someOf(held(by: worker).map(\.attempt), keeping: 0.9)))
      case 68..<72:
        let worker = Self.workerIDs.randomElement(using: &random)!
        event = "goodbye \(worker)"
        try send(
          .workerGoodbye(worker: worker, released: someOf(held(by: worker).map(\.attempt), keeping: 0.5)))
      case 72..<80:
        let milliseconds = Int64.random(in: 500...4000, using: &random)
        event = "tick after \(milliseconds) ms"
        harness.advance(milliseconds: milliseconds)
        try send(.tick)
      case 80..<86:
        guard let sweep = scheduler.sweeps.keys.sorted().randomElement(using: &random) else { continue }
        event = "cancel \(sweep)"
        if scheduler.sweep(sweep)?.cancelled == false, (scheduler.sweepStatus(sweep)?.runs.running ?? 0) > 0 {
          coverage.cancelledWhileRunning += 1
        }
        try send(.cancel(sweep))
      case 86..<92:
        guard let sweep = scheduler.sweeps.keys.sorted().randomElement(using: &random) else { continue }
        event = "retry \(sweep)"
        let failed = scheduler.sweepStatus(sweep)?.runs.failed ?? 0
        try send(.retryFailed(sweep))
        if failed > (harness.scheduler.sweepStatus(sweep)?.runs.failed ?? 0) { coverage.retried += 1 }
      case 92..<95:
        let worker = Self.workerIDs.randomElement(using: &random)!
        event = "release \(worker)"
        try send(.releaseQuarantine(worker))
      default:
        event = "restart"
        try harness.restart()
        coverage.restarts += 1
      }
      coverage.events += 1
      guard check(harness, seed: seed, step: step, event: event) else { return false }
      let status = harness.status
      coverage.unitsDone = max(coverage.unitsDone, status.stages.units.done)
      coverage.checkpointsHeld = max(coverage.checkpointsHeld, harness.scheduler.checkpointsHeld.runs)
      coverage.duplicates = max(coverage.duplicates, status.duplicatesDiscarded)
      coverage.lost = max(coverage.lost, harness.scheduler.totals.lostAttempts)
      coverage.failed = max(coverage.failed, harness.scheduler.totals.failedAttempts)
      coverage.waiting = max(coverage.waiting, status.waiting.count)
    }
    return true
  }

  /// Whether every kept count equals the recount; fails the test naming the sequence and event if not.
  func check(_ harness: SchedulerHarness, seed: UInt64, step: Int, event: String) -> Bool {
    let scheduler = harness.scheduler
    let status = scheduler.status()
    let recount = StatusRecount(scheduler)
    var mismatches: [String] = []
    func compare<T: Equatable>(_ name: String, _ kept: T, _ recounted: T) {
      if kept != recounted { mismatches.append("\(name): kept \(kept), recounted \(recounted)") }
    }
    compare("sweeps", status.sweeps, recount.sweeps)
    for sweep in recount.sweeps {
      compare("sweepStatus(\(sweep.id))", scheduler.sweepStatus(sweep.id), sweep)
      compare("sweep by id", scheduler.sweepID(matching: sweep.id.rawValue), sweep.id)
      compare("sweep by name", scheduler.sweepID(matching: sweep.name), sweep.id)
    }
    compare("waiting", status.waiting, recount.waiting)
    var stages = status.stages
    var recountedStages = recount.stages
    if abs(stages.secondsSaved - recountedStages.secondsSaved) < 1e-6 {
      (stages.secondsSaved, recountedStages.secondsSaved) = (0, 0)
    }
    compare("stages", stages, recountedStages)
    compare("checkpoints held (runs)", scheduler.checkpointsHeld.runs, recount.checkpointsHeld.runs)
    compare("checkpoints held (bytes)", scheduler.checkpointsHeld.bytes, recount.checkpointsHeld.bytes)
    compare("totals", scheduler.totals, recount.totals)
    compare("durable status", harness.status.sweeps, recount.sweeps)
    guard mismatches.isEmpty else {
      XCTFail("sequence \(seed), event \(step) (\(event)):\n" + mismatches.joined(separator: "\n"))
      return false
    }
    return true
  }
}
