import Foundation
import Glibc
import Logging
import SweepCoordinator
import SweepWire
import TracCore

/// `trac-sweep bench coordinator`: a real coordinator (in this process, over tcp://127.0.0.1) and
/// many simulated workers whose "trainer" answers at once, to measure what the coordinator itself
/// can do: runs dispatched and recorded per second, and how many workers it holds at 1 s heartbeats
/// without a lease lapsing falsely.
///
/// The simulated workers live in child processes (`trac-sweep bench simulate-workers`), each with its
/// own poller, so that the coordinator's process does nothing but coordinate and the CPU time of each
/// side can be read apart.
public enum CoordinatorBenchmark {
  /// Raises the open-file limit as far as allowed: each simulated worker holds a few descriptors.
  public static func raiseFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    // Root may raise the hard limit too; if that is refused, the soft limit goes up to the hard one.
    var wanted = limit
    wanted.rlim_max = max(limit.rlim_max, 65_536)
    wanted.rlim_cur = wanted.rlim_max
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &wanted) != 0 {
      limit.rlim_cur = limit.rlim_max
      _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
  }

  public static var fileLimit: Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    return Int(limit.rlim_cur)
  }

  // MARK: - The coordinator side

  struct Harness {
    let service: CoordinatorService
    let thread: Thread
    let state: URL

    func stop() {
      service.requestStop()
      while !thread.isFinished { usleep(10_000) }
      try? FileManager.default.removeItem(at: state)
    }
  }

  static func startCoordinator(heartbeat: Duration) throws -> Harness {
    MessageMemory.returnLargeBlocksToTheSystem()  // as `trac-sweep coordinator` does at its start
    let state = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-bench-\(UUID().uuidString)")
    let service = try CoordinatorService(
      configuration: .init(
        bind: "tcp://127.0.0.1:*", stateDirectory: state,
        // Simulated results carry no BC stage checkpoint: every run is one unit of work here.
        scheduler: try SchedulerConfiguration(
          heartbeatInterval: heartbeat, liveness: 3, shareBCStages: false),
        // `submit` writes the stand-in dataset into the state directory.
        datasetDirectories: [state]),
      logger: .init(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
    let thread = Thread { service.run() }
    thread.stackSize = 8 << 20
    thread.start()
    return Harness(service: service, thread: thread, state: state)
  }

  /// Submits a sweep of `runs` runs (one per seed) over a small stand-in dataset file.
  static func submit(runs: Int, endpoint: String, directory: URL) throws -> String {
    let dataset = directory.appendingPathComponent("bench.hdf5")
    try Data(repeating: 7, count: 1024).write(to: dataset)
    let grid: [String: Any] = [
      "name": "bench-\(runs)", "task": "OfflineBallCircle-v0", "dataset": dataset.path, "algorithm": "trac",
      "base": ["bc_steps": 1, "steps": 2], "cost_thresholds": [10], "seeds": Array(0..<runs),
      "eval": ["episodes": 0],
    ]
    let text = String(decoding: try JSONSerialization.data(withJSONObject: grid), as: UTF8.self)
    let client = try RequestClient(endpoint: endpoint)
    return try client.call(
      ClientRequest(command: .submit, grid: text), expecting: SubmitReply.self, timeout: .seconds(300)
    ).sweepID
  }

  /// CPU seconds (user + system) this process has used.
  static func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
      + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
  }

  /// CPU seconds (user + system) process `pid` has used, from /proc; 0 if it cannot be read.
  static func cpuSeconds(of pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return 0 }
    // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
  }

  /// Simulator child processes, `count` workers split evenly among them.
  final class Simulators {
    let processes: [Process]
    let outputs: [Pipe]

    init(
      executable: String, endpoint: String, mode: String, workers count: Int, slots: Int = 1, processes: Int
    ) throws {
      var started: [Process] = []
      var pipes: [Pipe] = []
      let share = (count + processes - 1) / processes
      for index in 0..<processes {
        let first = index * share
        let size = min(share, count - first)
        guard size > 0 else { break }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
          "bench", "simulate-workers", "--endpoint", endpoint, "--mode", mode, "--first", "\(first)",
          "--count", "\(size)", "--slots", "\(slots)",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        started.append(process)
        pipes.append(pipe)
      }
      self.processes = started
      outputs = pipes
    }

    var cpuSeconds: Double { processes.map { cpuSeconds(of: $0.processIdentifier) }.reduce(0, +) }

    private func cpuSeconds(of pid: Int32) -> Double { CoordinatorBenchmark.cpuSeconds(of: pid) }

    /// Stops every simulator and sums what they report.
    func stop() -> SimulatorReport {
      for process in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
      var total = SimulatorReport()
      for (process, pipe) in zip(processes, outputs) {
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
          let report = try? JSONDecoder().decode(SimulatorReport.self, from: Data(line.utf8))
        {
          total.add(report)
        }
      }
      return total
    }

    var allRunning: Bool { processes.allSatisfy(\.isRunning) }
  }

  /// What the simulators did, summed.
  public struct SimulatorReport: Codable, Sendable {
    public var workers = 0
    public var heartbeatsSent = 0
    public var pongs = 0
    public var assigns = 0
    public var acks = 0
    public var errors = 0
    /// The longest time between two heartbeats of one worker: past the lease (3 s), a lost attempt is
    /// the simulator's doing (starved of CPU), not the coordinator's.
    public var longestGapMilliseconds = 0

    public init() {}

    mutating func add(_ other: SimulatorReport) {
      workers += other.workers
      heartbeatsSent += other.heartbeatsSent
      pongs += other.pongs
      assigns += other.assigns
      acks += other.acks
      errors += other.errors
      longestGapMilliseconds = max(longestGapMilliseconds, other.longestGapMilliseconds)
    }
  }

  static func seconds(_ duration: Duration) -> Double { duration.seconds }

  /// Waits until `condition` holds, checking every 5 ms; false if `limit` passes first.
  static func wait(upTo limit: Duration, _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
      if condition() { return true }
      usleep(5_000)
    }
    return condition()
  }

  static func simulatorCount(workers: Int, requested: Int?) -> Int {
    requested ?? max(1, min(10, (workers + 999) / 1_000))
  }

  /// Runs dispatched and recorded per second with `workers` simulated workers of `slots` slots answering
  /// at once, measured from the submit's reply to the last acknowledgement.
  public static func throughput(
    workers count: Int, slots: Int = 1, runs: Int, executable: String, processes: Int?
  ) throws -> String {
    let harness = try startCoordinator(heartbeat: .seconds(1))
    defer { harness.stop() }
    let service = harness.service
    let simulators = try Simulators(
      executable: executable, endpoint: service.endpoint, mode: "throughput", workers: count, slots: slots,
      processes: simulatorCount(workers: count, requested: processes))
    guard wait(upTo: .seconds(120), { service.counters.hellos >= count }) else {
      _ = simulators.stop()
      throw BenchmarkError("only \(service.counters.hellos) of \(count) simulated workers said hello")
    }
    let clock = ContinuousClock()
    let submitStart = clock.now
    let before = (service.counters, ownCPUSeconds(), simulators.cpuSeconds)
    do {
      _ = try submit(runs: runs, endpoint: service.endpoint, directory: harness.state)
    } catch {
      _ = simulators.stop()  // no simulator outlives a failed benchmark
      throw error
    }
    let start = clock.now
    let finished = wait(upTo: .seconds(600)) { service.counters.acknowledged >= runs }
    let elapsed = seconds(clock.now - start)
    let after = (service.counters, ownCPUSeconds(), simulators.cpuSeconds)
    let report = simulators.stop()
    let recorded = after.0.acknowledged - before.0.acknowledged
    return String(
      format:
        "throughput: %d simulated workers x %d slots (%d processes), %d runs%@: %d recorded in %.2f s "
        + "after the submit's reply: %.0f runs/s dispatched and recorded; submit %.2f s; %d lost attempts; "
        + "%.0f heartbeats/s handled; %.0f messages/s in %.0f commits/s; CPU s (submit included): "
        + "coordinator %.2f, simulators %.2f; simulators saw %d assigns, %d acks, %d errors",
      count, slots, simulators.processes.count, runs, finished ? "" : " (NOT all recorded)", recorded,
      elapsed, Double(recorded) / elapsed, seconds(start - submitStart), try lostAttempts(service.endpoint),
      Double(after.0.heartbeats - before.0.heartbeats) / elapsed,
      Double(after.0.messages - before.0.messages) / elapsed,
      Double(after.0.batches - before.0.batches) / elapsed,
      after.1 - before.1, after.2 - before.2, report.assigns, report.acks, report.errors)
  }

  static func lostAttempts(_ endpoint: String) throws -> Int {
    try status(endpoint).sweeps.first?.lostAttempts ?? -1
  }

  static func status(_ endpoint: String) throws -> StatusReply {
    try RequestClient(endpoint: endpoint).call(
      ClientRequest(command: .status), expecting: StatusReply.self, timeout: .seconds(120))
  }

  /// Whether `workers` simulated workers, each holding a lease and heartbeating every second (each at
  /// its own phase, as independent machines do), keep every lease for `seconds`.
  /// `watch`, given the coordinator's endpoint once every lease is handed out, starts something that
  /// watches it (a dashboard) and returns how to stop it; the report then says so.
  public static func capacity(
    workers count: Int, seconds hold: Double, executable: String, processes: Int?,
    watch: ((String) throws -> () -> String)? = nil
  )
    throws -> String
  {
    let harness = try startCoordinator(heartbeat: .seconds(1))
    defer { harness.stop() }
    let service = harness.service
    let simulators = try Simulators(
      executable: executable, endpoint: service.endpoint, mode: "capacity", workers: count,
      processes: simulatorCount(workers: count, requested: processes))
    let clock = ContinuousClock()
    let connectStart = clock.now
    guard wait(upTo: .seconds(300), { service.counters.hellos >= count }) else {
      _ = simulators.stop()
      throw BenchmarkError("only \(service.counters.hellos) of \(count) simulated workers said hello")
    }
    let connected = clock.now
    do {
      _ = try submit(runs: count, endpoint: service.endpoint, directory: harness.state)
    } catch {
      _ = simulators.stop()  // no simulator outlives a failed benchmark
      throw error
    }
    let allAssigned = wait(upTo: .seconds(300)) { service.counters.assigned >= count }
    let assigned = clock.now
    let stopWatching = try watch?(service.endpoint)
    let before = (service.counters, ownCPUSeconds(), simulators.cpuSeconds)
    let start = clock.now
    usleep(UInt32(hold * 1_000_000))
    let elapsed = seconds(clock.now - start)
    let after = (service.counters, ownCPUSeconds(), simulators.cpuSeconds)
    let alive = simulators.allRunning
    let status = try status(service.endpoint)
    let watched = stopWatching.map { "; watched by \($0())" } ?? ""
    let report = simulators.stop()
    let sweep = status.sweeps.first
    let lost = sweep?.lostAttempts ?? -1
    let running = sweep?.running ?? 0
    let held = allAssigned && alive && lost == 0 && running == count
    return String(
      format:
        "capacity: %d simulated workers (%d processes) at 1 s heartbeats held %.1f s: %d running, %d lost "
        + "attempts%@; hello from all in %.1f s, all assigned in %.1f s; %.0f heartbeats/s handled; "
        + "CPU s: coordinator %.2f (%.0f%% of one core), simulators %.2f; simulators sent %d heartbeats, "
        + "got %d pongs, %d errors; longest gap between a worker's heartbeats %d ms%@",
      count, simulators.processes.count, elapsed, running, lost, held ? " (held)" : " (NOT held)",
      seconds(connected - connectStart), seconds(assigned - connected),
      Double(after.0.heartbeats - before.0.heartbeats) / elapsed, after.1 - before.1,
      100 * (after.1 - before.1) / elapsed, after.2 - before.2, report.heartbeatsSent, report.pongs,
      report.errors, report.longestGapMilliseconds, watched)
  }

  struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }

  // MARK: - The simulator side (a child process)

  nonisolated(unsafe) static var stopRequested: sig_atomic_t = 0

  /// Simulates workers `first ..< first + count` against `endpoint` until SIGTERM, then prints a
  /// `SimulatorReport` as one JSON line. Mode `throughput`: every assign is answered at once with a
  /// succeeded result. Mode `capacity`: every assign is kept running and announced in heartbeats.
  public static func simulate(endpoint: String, mode: String, first: Int, count: Int, slots: Int = 1) throws {
    signal(SIGTERM) { _ in CoordinatorBenchmark.stopRequested = 1 }
    // The simulators share the machine with the coordinator they measure: they yield to it, so that a
    // coordinator starved of CPU by its own test harness does not pass for a slow one.
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
    let answer = mode == "throughput"
    let policy = StubArtifacts.policyFile(observationDim: 8, actionDim: 2)
    let context = ZMQContext(maxSockets: Int32(count + 64))
    var sockets: [ZMQSocket] = []
    var ids: [WorkerID] = []
    var running: [[AttemptID]] = Array(repeating: [], count: count)
    for index in 0..<count {
      let id = try WorkerID("sim-\(first + index)")
      let socket = try ZMQSocket(context: context, kind: .dealer)
      try socket.setRoutingID(id.rawValue)
      try socket.connect(endpoint)
      sockets.append(socket)
      ids.append(id)
    }
    var report = SimulatorReport()
    report.workers = count
    for index in 0..<count {
      try sockets[index].send(
        WireMessage(
          .hello,
          Hello(
            workerID: ids[index], host: "sim", slots: slots, trainerVersion: "bench", running: [], spooled: []
          )
        ).frames)
    }
    var poller = ZMQPoller(sockets)
    let clock = ContinuousClock()
    let start = clock.now
    // Worker i heartbeats at i/count of every second: independent machines do not beat in step.
    var nextBeat = 0
    var lastBeat: [ContinuousClock.Instant?] = Array(repeating: nil, count: count)
    var longestGap = Duration.zero
    var round = 0
    // Holding workers only heartbeat: polling thousands of sockets less often keeps the simulators cheap.
    let minimumPass: Duration = answer ? .zero : .milliseconds(25)
    while stopRequested == 0 {
      let passStart = clock.now
      let due = min(count, Int(seconds(passStart - start) * Double(count)) - round * count)
      while nextBeat < due {
        try sockets[nextBeat].send(
          WireMessage(.heartbeat, Heartbeat(workerID: ids[nextBeat], running: running[nextBeat])).frames)
        report.heartbeatsSent += 1
        if let last = lastBeat[nextBeat] { longestGap = max(longestGap, passStart - last) }
        lastBeat[nextBeat] = passStart
        nextBeat += 1
      }
      if nextBeat >= count {
        nextBeat = 0
        round += 1
      }
      for index in try poller.ready(timeout: .milliseconds(answer ? 20 : 10)) {
        let socket = sockets[index]
        while let frames = try socket.receive(timeout: .zero) {
          let message = try WireMessage.decode(frames)
          switch message.type {
          case .assign:
            report.assigns += 1
            let attempt = try message.attemptReference()
            if answer {
              // What the coordinator checks before recording: run.json of the run, a BallCircle policy.
              let (files, attachments) = StubArtifacts.result(run: attempt.run, policy: policy)
              try socket.send(
                WireMessage(
                  .result,
                  ResultMessage(
                    workerID: ids[index], attempt: attempt, outcome: .succeeded, exitStatus: 0,
                    stderrTail: "", files: files),
                  attachments: attachments
                ).frames)
            } else {
              running[index] = Array((running[index] + [attempt]).suffix(slots))
            }
          case .ack: report.acks += 1
          case .pong: report.pongs += 1
          case .error: report.errors += 1
          default: break
          }
        }
      }
      let spent = clock.now - passStart
      if spent < minimumPass { usleep(UInt32(seconds(minimumPass - spent) * 1_000_000)) }
    }
    report.longestGapMilliseconds = Int(seconds(longestGap) * 1000)
    FileHandle.standardOutput.write(try JSONEncoder().encode(report) + Data("\n".utf8))
  }
}
