import Foundation
import Logging
import SweepWire
import TracCore

/// The coordinator's side of each worker's link: who may speak for which worker id (checked once,
/// here, for every message a worker sends), where its messages go (`hello`, `heartbeat`, `goodbye`, and
/// the scheduler's commands to it), and the progress its heartbeats report. Only the loop's thread
/// uses it.
public final class WorkerLink {
  /// The most slots a worker may announce (fewer than 1 or more is refused as malformed).
  public static let maxSlots = 4096

  let scheduler: DurableScheduler
  let configuration: SchedulerConfiguration
  var logger: Logger
  /// Routing ids of workers, as last seen (a worker's DEALER uses its worker id).
  private var routes: [WorkerID: Data] = [:]
  /// The latest progress each running run's worker reported (memory only: a restarted coordinator
  /// learns it again from the next heartbeats).
  private var progress: [RunID: (worker: WorkerID, progress: AttemptProgress)] = [:]
  /// The BLAS kernel each worker's last `hello` named (memory only, like `evaluates`: every hello says it).
  private var kernels: [WorkerID: String] = [:]

  public init(scheduler: DurableScheduler, configuration: SchedulerConfiguration, logger: Logger) {
    self.scheduler = scheduler
    self.configuration = configuration
    self.logger = logger
  }

  // MARK: - Identity

  /// Checks that the connection `route` (authenticated with `peerKey` under CURVE) may speak for
  /// `worker` (`check`), and remembers the route for the messages to come.
  public func identify(_ worker: WorkerID, route: Data, peerKey: String?) throws {
    try check(worker, route: route, peerKey: peerKey)
    routes[worker] = route
  }

  /// A worker speaks for itself only: its DEALER's routing id is its worker id, so a message naming
  /// another worker's id arrived on another connection and is refused. With CURVE, a worker id belongs
  /// to the key that first registered it (saved with the worker's row): a connection authenticated with
  /// another key may not speak for it, whether it says hello or reports on the id's attempts. The
  /// refusal's `subject` is the refused key: the worker holding it stops, and an honest worker that
  /// receives it by mistake (ZeroMQ hands the routing id to the newest connection) ignores it.
  private func check(_ worker: WorkerID, route: Data, peerKey: String?) throws {
    guard route == Data(worker.rawValue.utf8) else {
      throw WireError.refused(
        code: .refused,
        message:
          "worker id \(worker) is not this connection's routing id; a worker connects with its worker id "
          + "as routing id and speaks only for itself",
        subject: worker.rawValue)
    }
    guard let key = peerKey, let bound = scheduler.read({ $0.worker(worker)?.publicKey }), bound != key else {
      return
    }
    throw WireError.refused(
      code: .keyMismatch,
      message:
        "worker id \(worker) belongs to another CURVE key (the one that first registered it), not to this "
        + "connection's key \(key); a key speaks only for the worker ids it registered: start this worker "
        + "with a work directory of its own (a new worker id), or with the key of that worker",
      subject: key)
  }

  // MARK: - Messages from workers

  public func hello(_ hello: Hello, route: Data, peerKey: String?, into outbox: inout ServiceOutbox) throws {
    guard !hello.host.isEmpty, hello.host.count <= 256, loggable(hello.host) == hello.host else {
      throw WireError.malformed("host must be 1 to 256 printable characters")
    }
    guard (1...Self.maxSlots).contains(hello.slots) else {
      throw WireError.malformed("$.slots is \(hello.slots); a worker offers 1 to \(Self.maxSlots) slots")
    }
    if let blas = hello.blas {
      guard !blas.isEmpty, blas.count <= 200, loggable(blas) == blas else {
        throw WireError.malformed("$.blas must be 1 to 200 printable characters")
      }
    }
    let evaluates = hello.evaluates.map(Set.init)
    let worker = hello.workerID
    try identify(worker, route: route, peerKey: peerKey)
    var workerLogger = logger
    workerLogger[metadataKey: "worker"] = "\(worker)"
    workerLogger.info(
      "worker connected",
      metadata: [
        "host": "\(hello.host)", "slots": "\(hello.slots)",
        "evaluates":
          "\(hello.evaluates.map { $0.map(\.rawValue).joined(separator: ",") } ?? "(not announced)")",
        "blas": "\(hello.blas ?? "(not said)")",
      ])
    let commands = try scheduler.handle(
      .workerHello(
        worker: worker, host: hello.host, slots: hello.slots, running: hello.running, spooled: hello.spooled,
        evaluates: evaluates, publicKey: peerKey),
      now: outbox.now, commit: false)
    kernels[worker] = hello.blas
    let welcome = Welcome(
      heartbeatIntervalMilliseconds: Int(configuration.heartbeatInterval.wholeMilliseconds),
      liveness: configuration.liveness, cancel: [])
    outbox.reply(route, WireMessage(.welcome, welcome))
    outbox.carryOut(commands)
  }

  public func heartbeat(
    _ heartbeat: Heartbeat, route: Data, peerKey: String?, into outbox: inout ServiceOutbox
  ) throws {
    let worker = heartbeat.workerID
    try identify(worker, route: route, peerKey: peerKey)
    let commands = try scheduler.handle(
      .heartbeat(worker: worker, running: heartbeat.running), now: outbox.now, commit: false)
    let known = !commands.contains {
      if case .requestHello(worker) = $0 { return true } else { return false }
    }
    outbox.reply(route, WireMessage(.pong, Pong(known: known)))
    outbox.carryOut(commands.filter { if case .requestHello = $0 { return false } else { return true } })
    // Progress is kept only for attempts this worker holds now (memory only, for `status`).
    if let reports = heartbeat.progress {
      let held = scheduler.read { scheduler in reports.filter { scheduler.holds($0.attempt, on: worker) } }
      for report in held { progress[report.attempt.run] = (worker, report) }
    }
  }

  /// A worker that stops: its id is checked, but its route is not remembered (nothing more is sent to it).
  public func goodbye(_ goodbye: Goodbye, route: Data, peerKey: String?, into outbox: inout ServiceOutbox)
    throws
  {
    try check(goodbye.workerID, route: route, peerKey: peerKey)
    guard scheduler.read({ $0.worker(goodbye.workerID) }) != nil else {
      throw CoordinatorError.unknownWorker(goodbye.workerID)
    }
    try outbox.schedule(.workerGoodbye(worker: goodbye.workerID, released: goodbye.released), on: scheduler)
  }

  // MARK: - Commands to workers

  /// The `assign` for a committed assignment, to its worker's route; nil when the worker has not spoken
  /// to this process (it is told again when it says hello). `dataset` is asked only when it is sent.
  public func assign(_ assignment: RunAssignment, dataset: (RunAssignment) -> DatasetRef) -> ServiceOutbox
    .Reply?
  {
    guard let route = routes[assignment.worker] else { return nil }
    let message = Assign(
      attempt: assignment.attempt, spec: assignment.spec, dataset: dataset(assignment),
      leaseMilliseconds: Int(configuration.leaseDuration.wholeMilliseconds),
      checkpoint: assignment.checkpoint,
      initFrom: assignment.initFrom)
    var runLogger = logger
    runLogger[metadataKey: "run"] = "\(assignment.attempt.run)"
    runLogger[metadataKey: "worker"] = "\(assignment.worker)"
    runLogger.info(
      "assigned attempt \(assignment.attempt.number)", metadata: ["point": "\(assignment.pointID)"])
    return (route, WireMessage(.assign, message))
  }

  /// The `ack` of a committed result (`rejected`: why it was refused). The attempt's progress is
  /// forgotten either way.
  public func acknowledge(
    _ attempt: AttemptID, of worker: WorkerID, disposition: ResultDisposition, rejected: String?
  ) -> ServiceOutbox.Reply? {
    if progress[attempt.run]?.progress.attempt == attempt { progress[attempt.run] = nil }
    guard let route = routes[worker] else { return nil }
    if disposition == .duplicate {
      logger.notice("duplicate result discarded", metadata: ["run": "\(attempt.run)", "worker": "\(worker)"])
    }
    return (
      route, WireMessage(.ack, Ack(attempt: attempt, duplicate: disposition.isDuplicate, rejected: rejected))
    )
  }

  public func cancel(_ attempt: AttemptID, on worker: WorkerID) -> ServiceOutbox.Reply? {
    routes[worker].map { ($0, WireMessage(.cancel, Cancel(attempt: attempt))) }
  }

  /// A heartbeat from a worker the scheduler does not know: `pong` with `known: false` asks for a hello.
  public func requestHello(_ worker: WorkerID) -> ServiceOutbox.Reply? {
    routes[worker].map { ($0, WireMessage(.pong, Pong(known: false))) }
  }

  // MARK: - Progress

  /// The BLAS kernel `worker` said its trainers use; nil when it did not say.
  public func kernel(of worker: WorkerID) -> String? { kernels[worker] }

  /// The latest progress of each run running now, by run id; reports of attempts that ended are
  /// forgotten here.
  public func runningProgress() -> [(run: RunID, worker: WorkerID, progress: AttemptProgress)] {
    var running: [(run: RunID, worker: WorkerID, progress: AttemptProgress)] = []
    for (run, entry) in progress.sorted(by: { $0.key < $1.key }) {
      guard scheduler.read({ $0.holds(entry.progress.attempt, on: entry.worker) }) else {
        progress[run] = nil
        continue
      }
      running.append((run, entry.worker, entry.progress))
    }
    return running
  }
}
