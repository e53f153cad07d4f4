import Foundation
import Logging
import SweepCoordinator
import SweepWire
import TracCore

/// `trac-sweep bench status-poll`: what a dashboard polling `status` and `metrics` costs the
/// coordinator's loop as the state grows. For each size, a state directory holding that many attempts
/// (4 sweeps, 8 workers; most runs done, a tenth of them failed once and retried, some running and
/// pending) is written through the scheduler and its store, a real coordinator restarts on it and
/// answers polls over tcp://127.0.0.1, and the loop's own pass timings (`metrics`' loop histogram)
/// give the microseconds it spent per poll. A ratio near 1 between the largest and the smallest
/// size means a poll does not scan runs or attempts.
public enum StatusPollBenchmark {
  /// One size's figures.
  public struct Measurement: Sendable {
    public var attempts: Int
    public var runs: Int
    /// Loop time per poll (receive, answer, reply), from the loop's own histogram: the best of 5 batches.
    public var statusMicroseconds: Double
    public var metricsMicroseconds: Double
    /// Client-side round trip per `status`, for reference (includes the client's decoding).
    public var statusRoundTripMicroseconds: Double
  }

  static let sweeps = 4
  static let workers = 8
  static let slots = 4

  /// The table for `sizes` (attempts), `polls` polls of each kind per size; the last line is the
  /// ratio of the largest size's loop time per poll to the smallest's.
  public static func run(sizes: [Int], polls: Int) throws -> [String] {
    var lines = [
      "status-poll: coordinator loop time per poll, best of 5 batches of \(max(1, polls / 5)) "
        + "(\(sweeps) sweeps, \(workers) workers)",
      [("attempts", 10), ("runs", 9), ("status µs", 11), ("metrics µs", 11), ("round trip µs", 15)].map {
        String(repeating: " ", count: max(0, $0.1 - $0.0.count)) + $0.0
      }.joined(separator: " "),
    ]
    var measured: [Measurement] = []
    for size in sizes {
      let measurement = try measure(attempts: size, polls: polls)
      measured.append(measurement)
      lines.append(
        String(
          format: "%10d %9d %11.1f %11.1f %15.1f", measurement.attempts, measurement.runs,
          measurement.statusMicroseconds, measurement.metricsMicroseconds,
          measurement.statusRoundTripMicroseconds))
    }
    if let smallest = measured.min(by: { $0.attempts < $1.attempts }),
      let largest = measured.max(by: { $0.attempts < $1.attempts }), measured.count > 1
    {
      lines.append(
        String(
          format: "ratio %d/%d attempts: status %.2f, metrics %.2f (1 = a poll costs the same at any size)",
          largest.attempts, smallest.attempts, largest.statusMicroseconds / smallest.statusMicroseconds,
          largest.metricsMicroseconds / smallest.metricsMicroseconds))
    }
    return lines
  }

  /// Writes a state of `attempts` attempts, starts a coordinator on it and polls it.
  public static func measure(attempts: Int, polls: Int) throws -> Measurement {
    let state = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-bench-status-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: state) }
    let (runs, written) = try populate(state, attempts: attempts)

    let service = try CoordinatorService(
      configuration: .init(
        bind: "tcp://127.0.0.1:*", stateDirectory: state,
        // Long heartbeats: the loop ticks every 150 s, so no tick falls among the timed polls.
        scheduler: try SchedulerConfiguration(heartbeatInterval: .seconds(600), shareBCStages: false),
        datasetDirectories: [state]),
      logger: .init(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
    let thread = Thread { service.run() }
    thread.stackSize = 8 << 20
    thread.start()
    defer {
      service.requestStop()
      while !thread.isFinished { usleep(10_000) }
    }
    let client = try RequestClient(endpoint: service.endpoint)
    func metrics() throws -> MetricsReply {
      try client.call(ClientRequest(command: .metrics), expecting: MetricsReply.self, timeout: .seconds(120))
    }
    func status() throws -> StatusReply {
      try client.call(ClientRequest(command: .status), expecting: StatusReply.self, timeout: .seconds(120))
    }
    for _ in 0..<min(polls, 20) {
      _ = try status()
      _ = try metrics()
    }

    // Loop time per pass from the loop's own histogram, between two `metrics` readings. The best of
    // 5 batches: on a shared machine a batch can lose the CPU to another process; none gains any.
    let batches = 5
    let batch = max(1, polls / batches)
    var metricsPass = Double.infinity
    var statusPass = Double.infinity
    var roundTrip = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<batches {
      // Metrics alone: each pass between the readings answered one `metrics` (the first reading's
      // own pass included: it is observed after its reply).
      let start = try metrics()
      for _ in 0..<batch { _ = try metrics() }
      let afterMetrics = try metrics()
      let metricsMean =
        (afterMetrics.loopPassSeconds.sum - start.loopPassSeconds.sum)
        / Double(max(1, afterMetrics.loopPassSeconds.count - start.loopPassSeconds.count))
      metricsPass = min(metricsPass, metricsMean)

      // Status: the passes between the readings are `batch` status polls and one `metrics` (the
      // first reading's), averaged together: the metrics pass adds at most 1/batch of its time.
      // (Subtracting the metrics mean measured above instead could go below zero on a busy machine,
      // where that mean is inflated, and the best of the batches would then be a negative time.)
      let roundTripStart = clock.now
      for _ in 0..<batch { _ = try status() }
      roundTrip = min(roundTrip, CoordinatorBenchmark.seconds(clock.now - roundTripStart) / Double(batch))
      let afterStatus = try metrics()
      let passes = afterStatus.loopPassSeconds.count - afterMetrics.loopPassSeconds.count
      statusPass = min(
        statusPass,
        (afterStatus.loopPassSeconds.sum - afterMetrics.loopPassSeconds.sum) / Double(max(1, passes)))
    }
    return Measurement(
      attempts: written, runs: runs, statusMicroseconds: statusPass * 1e6,
      metricsMicroseconds: metricsPass * 1e6,
      statusRoundTripMicroseconds: roundTrip * 1e6)
  }

  /// Writes a coordinator state with about `attempts` attempts into `directory`, as a coordinator
  /// would have: every event through the scheduler, committed to its store. Every tenth run fails its
  /// first attempt and is retried; the last assignments stay running, runs never reached stay pending.
  /// Returns the runs and attempts written.
  static func populate(_ directory: URL, attempts target: Int) throws -> (runs: Int, attempts: Int) {
    let store = try SweepStore(directory: directory)
    defer { try? store.close() }
    let durable = try DurableScheduler(
      store: store,
      configuration: try SchedulerConfiguration(quarantineAfter: 100, shareBCStages: false), now: .zero)
    let runCount = max(sweeps, target * 10 / 11 + workers * slots)
    var seed = 0
    for index in 0..<sweeps {
      let share = runCount / sweeps + (index < runCount % sweeps ? 1 : 0)
      let grid: [String: Any] = [
        "name": "poll-\(index)", "task": "OfflineBallCircle-v0", "dataset": "bench.hdf5", "algorithm": "trac",
        "base": ["bc_steps": 1, "steps": 2], "cost_thresholds": [10], "seeds": Array(seed..<(seed + share)),
        "eval": ["episodes": 0],
      ]
      seed += share
      let text = try JSONSerialization.data(withJSONObject: grid)
      let submission = SweepSubmission(grid: try GridFile(parsing: text)) { _ in
        String(repeating: "ab", count: 32)
      }
      _ = try durable.handle(.submit(submission), now: .zero, commit: false)
    }
    var queue: [RunAssignment] = []
    for index in 0..<workers {
      queue += try durable.handle(
        .workerHello(
          worker: try WorkerID("poll-\(index)"), host: "bench", slots: slots, running: [], spooled: []),
        now: .zero, commit: false
      ).assignments
    }
    var started = queue.count
    var next = 0
    while next < queue.count && started < target {
      let assignment = queue[next]
      next += 1
      let failsOnce = assignment.attempt.number == 1 && assignment.spec.seed % 10 == 0
      let outcome: ReportedOutcome =
        failsOnce
        ? .failed(exitStatus: 1, stderrTail: "RuntimeError: bench")
        : .succeeded(RunResultPayload(runJSON: #"{"run_id": "\#(assignment.attempt.run)"}"#))
      let assigned = try durable.handle(
        .result(worker: assignment.worker, attempt: assignment.attempt, outcome: outcome), now: .zero,
        commit: false
      ).assignments
      queue += assigned
      started += assigned.count
    }
    try durable.commit(now: .zero)
    return durable.read { scheduler in
      (scheduler.runs.count, scheduler.runs.values.reduce(0) { $0 + $1.attemptCount })
    }
  }
}

extension [SchedulerCommand] {
  fileprivate var assignments: [RunAssignment] {
    compactMap { if case .assign(let assignment) = $0 { return assignment } else { return nil } }
  }
}
