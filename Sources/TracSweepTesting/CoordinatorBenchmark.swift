import Foundation
import Glibc
import Logging
import SweepCoordinator
import SweepWire
import TracCore

/// `trac-sweep bench-coordinator`: a real coordinator (in this process, over tcp://127.0.0.1) and
/// many simulated workers whose "trainer" answers at once, to measure what the coordinator itself
/// can do: runs dispatched and recorded per second, and how many workers it holds at 1 s heartbeats
/// without a lease lapsing falsely.
public enum CoordinatorBenchmark {
  /// A simulated worker: a DEALER that says hello, heartbeats, and answers `assign` with a result.
  final class SimulatedWorker {
    let id: String
    let socket: ZMQSocket
    var running: [AttemptRef] = []
    var welcomed = false

    init(context: ZMQContext, endpoint: String, id: String) throws {
      self.id = id
      socket = try ZMQSocket(context: context, kind: .dealer)
      try socket.setRoutingID(id)
      try socket.connect(endpoint)
    }

    func hello() throws {
      try socket.send(
        WireMessage(
          .hello,
          Hello(workerID: id, host: "sim", slots: 1, trainerVersion: "bench", running: running, spooled: [])
        ).frames)
    }

    func heartbeat() throws {
      try socket.send(WireMessage(.heartbeat, Heartbeat(workerID: id, running: running)).frames)
    }
  }

  /// Raises the open-file limit to its hard maximum: each simulated worker holds a few descriptors.
  public static func raiseFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
  }

  struct Harness {
    let service: CoordinatorService
    let thread: Thread
    let state: URL
  }

  static func startCoordinator(heartbeat: Duration) throws -> Harness {
    let state = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-bench-\(UUID().uuidString)")
    let service = try CoordinatorService(
      configuration: .init(
        bind: "tcp://127.0.0.1:*", stateDirectory: state,
        scheduler: try SchedulerConfiguration(heartbeatInterval: heartbeat, liveness: 3)),
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
    ]
    let text = String(decoding: try JSONSerialization.data(withJSONObject: grid), as: UTF8.self)
    let client = try RequestClient(endpoint: endpoint)
    return try client.call(
      ClientRequest(command: .submit, grid: text), expecting: SubmitReply.self, timeout: .seconds(120)
    ).sweepID
  }

  /// Runs dispatched and recorded per second with `workers` simulated workers answering at once.
  public static func throughput(workers count: Int, runs: Int) throws -> String {
    let harness = try startCoordinator(heartbeat: .seconds(1))
    defer { harness.service.stopFlag.set() }
    let context = ZMQContext(maxSockets: Int32(count + 64))
    let workers = try (0..<count).map {
      try SimulatedWorker(context: context, endpoint: harness.service.endpoint, id: "sim-\($0)")
    }
    for worker in workers { try worker.hello() }
    let sweep = try submit(runs: runs, endpoint: harness.service.endpoint, directory: harness.state)
    var poller = ZMQPoller(workers.map(\.socket))
    let clock = ContinuousClock()
    let start = clock.now
    var recorded = 0
    var lastHeartbeat = clock.now
    while recorded < runs, clock.now - start < .seconds(600) {
      for index in try poller.ready(timeout: .milliseconds(100)) {
        let worker = workers[index]
        while let frames = try worker.socket.receive(timeout: .zero) {
          let message = try WireMessage.decode(frames)
          switch message.type {
          case .assign:
            let assign = try message.decodeBody(Assign.self)
            try worker.socket.send(
              WireMessage(
                .result,
                ResultMessage(
                  workerID: worker.id, attempt: assign.attempt, outcome: .succeeded, exitStatus: 0,
                  stderrTail: "",
                  files: [])
              ).frames)
          case .ack: recorded += 1
          default: break
          }
        }
      }
      if clock.now - lastHeartbeat > .milliseconds(500) {
        for worker in workers { try worker.heartbeat() }
        lastHeartbeat = clock.now
      }
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    _ = sweep
    return String(
      format:
        "throughput: %d simulated workers, %d runs recorded in %.2f s: %.0f runs/s dispatched and recorded",
      count, recorded, seconds, Double(recorded) / seconds)
  }

  /// Whether `workers` simulated workers, each holding a lease and heartbeating every second, keep
  /// every lease for `seconds`.
  public static func capacity(workers count: Int, seconds: Double) throws -> String {
    let harness = try startCoordinator(heartbeat: .seconds(1))
    defer { harness.service.stopFlag.set() }
    let context = ZMQContext(maxSockets: Int32(count + 64))
    let workers = try (0..<count).map {
      try SimulatedWorker(context: context, endpoint: harness.service.endpoint, id: "sim-\($0)")
    }
    for worker in workers { try worker.hello() }
    _ = try submit(runs: count, endpoint: harness.service.endpoint, directory: harness.state)
    var poller = ZMQPoller(workers.map(\.socket))
    let clock = ContinuousClock()
    let start = clock.now
    var nextHeartbeat = clock.now
    var slowestRound = Duration.zero
    while clock.now - start < .milliseconds(Int(seconds * 1000)) {
      for index in try poller.ready(timeout: .milliseconds(20)) {
        let worker = workers[index]
        while let frames = try worker.socket.receive(timeout: .zero) {
          let message = try WireMessage.decode(frames)
          if message.type == .assign { worker.running = [try message.decodeBody(Assign.self).attempt] }
        }
      }
      if clock.now >= nextHeartbeat {
        let roundStart = clock.now
        for worker in workers { try worker.heartbeat() }
        slowestRound = max(slowestRound, clock.now - roundStart)
        nextHeartbeat = roundStart + .seconds(1)
      }
    }
    let status = try RequestClient(endpoint: harness.service.endpoint).call(
      ClientRequest(command: .status), expecting: StatusReply.self, timeout: .seconds(60))
    let sweep = status.sweeps.first
    let lost = sweep?.lostAttempts ?? -1
    return String(
      format: "capacity: %d simulated workers at 1 s heartbeats for %.0f s: %d running, %d lost attempts%@",
      count, seconds, sweep?.running ?? 0, lost,
      lost == 0 && sweep?.running == count ? " (held)" : " (NOT held)")
  }
}
