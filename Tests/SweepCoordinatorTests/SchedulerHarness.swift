import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// Grids for the scenarios, written as users write them.
enum Grids {
  static let datasetSHA256 = String(repeating: "ab", count: 32)

  /// 3 points (base, alpha=0.05, alpha=0.5) x 2 thresholds x 2 seeds = 12 runs.
  static func alphaStudy(name: String = "ballcircle-alpha", alphas: String = "[0.05, 0.5]") -> GridFile {
    let text = """
      {
        "name": "\(name)",
        "task": "OfflineBallCircle-v0",
        "dataset": "datasets/SafetyBallCircle-v0-demo.hdf5",
        "algorithm": "trac",
        "base": {"alpha": 0.2, "bc_steps": 300, "steps": 1000},
        "vary": {"alpha": \(alphas)},
        "design": "one_at_a_time",
        "cost_thresholds": [10, 20],
        "seeds": [0, 1],
        "eval": {"episodes": 5, "seed": 0}
      }
      """
    return try! GridFile(parsing: Data(text.utf8))
  }

  static func submission(_ grid: GridFile) -> SweepSubmission {
    SweepSubmission(grid: grid) { _ in datasetSHA256 }
  }
}

/// A scheduler driven by a manual clock in milliseconds, its every event committed to a `SweepStore` in
/// a temporary directory (through `DurableScheduler`), which `restart()` closes and opens again as a
/// restarted coordinator would.
final class SchedulerHarness {
  let clock = ManualClock()
  let configuration: SchedulerConfiguration
  let directory: URL
  private(set) var store: SweepStore
  private(set) var durable: DurableScheduler
  /// Every command returned so far, in order.
  private(set) var history: [SchedulerCommand] = []

  /// The defaults without shared BC stages: these scenarios are about runs, each one unit of work
  /// (StageSchedulingTests turn sharing on).
  static let runsOnly = try! SchedulerConfiguration(shareBCStages: false)

  init(configuration: SchedulerConfiguration = SchedulerHarness.runsOnly) throws {
    self.configuration = configuration
    directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-sweep-coordinator-\(UUID().uuidString)")
    store = try SweepStore(directory: directory)
    durable = try DurableScheduler(store: store, configuration: configuration, now: clock.elapsed)
  }

  deinit {
    try? store.close()
    try? FileManager.default.removeItem(at: directory)
  }

  var scheduler: Scheduler { durable.current }
  var status: SchedulerStatus { durable.status() }

  @discardableResult
  func send(_ event: SchedulerEvent) throws -> [SchedulerCommand] {
    let commands = try durable.handle(event, now: clock.elapsed)
    history += commands
    return commands
  }

  func advance(milliseconds: Int64) { clock.advance(milliseconds: milliseconds) }

  @discardableResult
  func tick() throws -> [SchedulerCommand] { try send(.tick) }

  @discardableResult
  func submit(_ grid: GridFile) throws -> [SchedulerCommand] { try send(.submit(Grids.submission(grid))) }

  @discardableResult
  func hello(
    _ worker: WorkerID, slots: Int = 1, running: [AttemptID] = [], spooled: [AttemptID] = [],
    evaluates: Set<TaskFamily>? = nil, key: String? = nil
  ) throws -> [SchedulerCommand] {
    try send(
      .workerHello(
        worker: worker, host: "node-\(worker)", slots: slots, running: running, spooled: spooled,
        evaluates: evaluates, publicKey: key))
  }

  @discardableResult
  func heartbeat(_ worker: WorkerID, _ running: [AttemptID]) throws -> [SchedulerCommand] {
    try send(.heartbeat(worker: worker, running: running))
  }

  @discardableResult
  func succeed(_ assignment: RunAssignment) throws -> [SchedulerCommand] {
    try send(
      .result(
        worker: assignment.worker, attempt: assignment.attempt, outcome: .succeeded(payload(for: assignment)))
    )
  }

  @discardableResult
  func fail(_ assignment: RunAssignment, exitStatus: Int32 = 1, stderr: String = "RuntimeError: NaN in loss")
    throws -> [SchedulerCommand]
  {
    try send(
      .result(
        worker: assignment.worker, attempt: assignment.attempt,
        outcome: .trainerExited(
          status: exitStatus, stderrTail: "Traceback (most recent call last):\n\(stderr)")))
  }

  func payload(for assignment: RunAssignment) -> RunResultPayload {
    RunResultPayload(
      runJSON: #"{"run_id": "\#(assignment.attempt.run)", "seed": \#(assignment.spec.seed)}"#,
      artifactPaths: ["artifacts/runs/\(assignment.attempt.run)/policy.safetensors"])
  }

  /// Workers finish every assignment they get, one at a time, 10 ms apart, until nothing is left to do.
  /// Returns the assignments carried out.
  @discardableResult
  func runUntilIdle(starting commands: [SchedulerCommand]) throws -> [RunAssignment] {
    var queue = commands.assignments
    var carriedOut: [RunAssignment] = []
    while !queue.isEmpty {
      let assignment = queue.removeFirst()
      advance(milliseconds: 10)
      let commands = try succeed(assignment)
      XCTAssertEqual(commands.acknowledgements.first?.disposition, .recorded)
      carriedOut.append(assignment)
      queue += commands.assignments
    }
    return carriedOut
  }

  /// Closes the store and opens it again, as a coordinator that restarts now. Fails the test unless the
  /// reloaded state is the state before (leases get a fresh deadline; workers are offline until they
  /// say hello again).
  func restart(file: StaticString = #filePath, line: UInt = #line) throws {
    let before = Self.comparable(scheduler.snapshot())
    try store.close()
    store = try SweepStore(directory: directory)
    durable = try DurableScheduler(store: store, configuration: configuration, now: clock.elapsed)
    let after = Self.comparable(scheduler.snapshot())
    XCTAssertEqual(after.sweeps, before.sweeps, "sweeps after a restart", file: file, line: line)
    XCTAssertEqual(after.runs, before.runs, "runs after a restart", file: file, line: line)
    XCTAssertEqual(after.attempts, before.attempts, "attempts after a restart", file: file, line: line)
    XCTAssertEqual(after.workers, before.workers, "workers after a restart", file: file, line: line)
    XCTAssertEqual(after.duplicatesDiscarded, before.duplicatesDiscarded, file: file, line: line)
    for run in after.runs where run.state.lease != nil {
      XCTAssertEqual(
        scheduler.run(run.id)?.state.lease?.leaseDeadline, clock.elapsed + configuration.leaseDuration,
        "a running attempt gets a fresh lease", file: file, line: line)
    }
  }

  /// A snapshot without what a restart resets: lease deadlines, when workers were last heard from, and
  /// whether they are online.
  static func comparable(_ records: SchedulerRecords) -> SchedulerRecords {
    var records = records
    records.runs = records.runs.map { run in
      var run = run
      if var lease = run.state.lease {
        lease.leaseDeadline = .zero
        run.state = .running(lease)
      }
      return run
    }
    records.workers = records.workers.map { worker in
      var worker = worker
      worker.lastSeen = .zero
      worker.evaluates = WorkerRecord.assumedEvaluates  // announced again by every hello, not saved
      if worker.state == .online { worker.state = .offline }
      return worker
    }
    return records
  }
}

extension Array where Element == SchedulerCommand {
  var assignments: [RunAssignment] {
    compactMap { if case .assign(let assignment) = $0 { return assignment } else { return nil } }
  }

  var acknowledgements: [(worker: WorkerID, attempt: AttemptID, disposition: ResultDisposition)] {
    compactMap {
      if case .acknowledge(let worker, let attempt, let disposition) = $0 {
        return (worker, attempt, disposition)
      }
      return nil
    }
  }

  var cancellations: [(worker: WorkerID, attempt: AttemptID)] {
    compactMap {
      if case .cancelRun(let worker, let attempt) = $0 { return (worker, attempt) } else { return nil }
    }
  }

  var logMessages: [String] {
    compactMap { if case .log(_, let message) = $0 { return message } else { return nil } }
  }
}
