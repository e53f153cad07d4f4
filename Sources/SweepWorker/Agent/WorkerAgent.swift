import Foundation
import Logging
import SweepWire
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// The worker process (docs/PROTOCOL.md): one DEALER socket to the
/// coordinator, up to `slots` trainer children, the dataset cache and the result spool.
///
/// `run()` is one loop on the calling thread, which owns the socket: it polls the socket, reacts to
/// messages, notices finished children, heartbeats and reconnects. Training happens in child
/// processes, so this thread never trains and its heartbeats are never late because of training.
/// `stop()` may be called from any thread (a signal handler's queue): the loop then stops taking
/// work, lets running attempts finish within the grace period, terminates the rest, says `goodbye`
/// and waits briefly for the acknowledgements of the results it sent.
public final class WorkerAgent: @unchecked Sendable {
  public struct Configuration: Sendable {
    /// The coordinator, e.g. `tcp://head-node:5555`.
    public var endpoint: String
    /// Keeps `worker-id`, `datasets/`, `runs/` and `spool/`.
    public var workDirectory: URL
    /// Runs at once (announced in `hello`; the coordinator assigns up to this many).
    public var slots: Int
    /// The program started as `PROGRAM train ...` for each attempt.
    public var trainer: URL
    /// Whether the trainer evaluates its policy in the simulator (`--evaluate`).
    public var evaluate: Bool
    /// Added to the trainer's environment (the worker's own is inherited).
    public var trainerEnvironment: [String: String]
    /// On `stop()`, how long running attempts may take to finish before they are terminated.
    public var grace: Duration
    /// After SIGTERM to a trainer (cancel, shutdown), how long before SIGKILL.
    public var terminationGrace: Duration
    /// After `goodbye`, how long to wait for acknowledgements of results already sent.
    public var acknowledgementWait: Duration
    /// How long the loop waits on the socket at most between its other duties.
    public var pollInterval: Duration
    /// The heartbeat contract until the coordinator's `welcome` gives its own.
    public var heartbeatInterval: Duration
    public var liveness: Int
    /// Reconnection delays: the first one, doubled after every failed try up to the maximum.
    public var reconnectDelay: Duration
    public var maxReconnectDelay: Duration
    /// Announced in `hello`.
    public var host: String
    public var trainerVersion: String
    public var maxMessageSize: Int64
    /// CURVE keys for a secured coordinator; nil: plaintext.
    public var curve: CurveClientKeys?

    public init(
      endpoint: String, workDirectory: URL, slots: Int = ProcessInfo.processInfo.activeProcessorCount,
      trainer: URL, evaluate: Bool = true, trainerEnvironment: [String: String] = [:],
      grace: Duration = .seconds(10), terminationGrace: Duration = .seconds(5),
      acknowledgementWait: Duration = .seconds(2), pollInterval: Duration = .milliseconds(50),
      heartbeatInterval: Duration = .seconds(1), liveness: Int = 3,
      reconnectDelay: Duration = .milliseconds(100),
      maxReconnectDelay: Duration = .seconds(10), host: String = ProcessInfo.processInfo.hostName,
      trainerVersion: String = "unknown", maxMessageSize: Int64 = 256 << 20
    ) {
      self.endpoint = endpoint
      self.workDirectory = workDirectory
      self.slots = slots
      self.trainer = trainer
      self.evaluate = evaluate
      self.trainerEnvironment = trainerEnvironment
      self.grace = grace
      self.terminationGrace = terminationGrace
      self.acknowledgementWait = acknowledgementWait
      self.pollInterval = pollInterval
      self.heartbeatInterval = heartbeatInterval
      self.liveness = liveness
      self.reconnectDelay = reconnectDelay
      self.maxReconnectDelay = maxReconnectDelay
      self.host = host
      self.trainerVersion = trainerVersion
      self.maxMessageSize = maxMessageSize
    }

    /// The trainer program by default: `TRAC_SWEEP_TRAINER` if set, else this executable
    /// (`/proc/self/exe`), since `trac-sweep train` is a subcommand of the worker's own program.
    public static func defaultTrainer(environment: [String: String] = ProcessInfo.processInfo.environment)
      -> URL
    {
      if let path = environment["TRAC_SWEEP_TRAINER"], !path.isEmpty { return URL(fileURLWithPath: path) }
      if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        return URL(fileURLWithPath: path)
      }
      return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }

    func validate() throws(WorkerAgentError) {
      guard slots >= 1 else { throw .invalidConfiguration("slots must be at least 1, got \(slots)") }
      guard grace >= .zero else { throw .invalidConfiguration("the grace period must not be negative") }
      guard heartbeatInterval >= .milliseconds(10), liveness >= 1 else {
        throw .invalidConfiguration("the heartbeat interval must be at least 10 ms and liveness at least 1")
      }
      guard reconnectDelay > .zero, maxReconnectDelay >= reconnectDelay else {
        throw .invalidConfiguration("reconnect delays must be positive, the maximum at least the first")
      }
      guard !endpoint.isEmpty else { throw .invalidConfiguration("no coordinator endpoint") }
    }
  }

  public let configuration: Configuration
  /// `<host>-<8 hex>`, kept in `WORKDIR/worker-id`; the DEALER's routing id.
  public let workerID: WorkerID
  let logger: Logger
  let spool: ResultSpool
  let runs: RunDirectory
  let datasets: DatasetCache
  let clock = ContinuousClock()
  private let stopRequest = StopRequest()

  // Loop state: touched only by the thread in `run()`.
  var context: ZMQContext?
  var socket: ZMQSocket?
  /// Attempts assigned and not finished: fetching their dataset, or training.
  var attempts: [AttemptID: RunningAttempt] = [:]
  /// Datasets being fetched, by sha256: one `fetch` in flight each.
  var fetches: [SHA256Digest: DatasetFetch] = [:]
  /// Children asked to stop (cancelled or released); reaped, never reported.
  var stopping: [AttemptID: StoppingTrainer] = [:]
  /// Results sent and not yet acknowledged.
  var unacknowledged: Set<AttemptID> = []
  /// Attempts handed back on stopping, for `goodbye`.
  var released: [AttemptID] = []
  var phase: Phase = .working
  var connection = ConnectionState()

  /// Creates the work directory, the worker id, the spool (quarantining damaged entries) and the
  /// dataset cache. Nothing is connected until `run()`.
  public init(configuration: Configuration, logger: Logger = Logger(label: "trac-sweep.worker")) throws {
    try configuration.validate()
    self.configuration = configuration
    let workDirectory = configuration.workDirectory
    try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    workerID = try WorkerIdentity.load(workDirectory: workDirectory, host: configuration.host)
    var logger = logger
    logger[metadataKey: "worker"] = "\(workerID)"
    self.logger = logger
    spool = try ResultSpool(workDirectory: workDirectory, logger: logger)
    runs = try RunDirectory(workDirectory: workDirectory)
    datasets = try DatasetCache(
      directory: workDirectory.appendingPathComponent("datasets", isDirectory: true))
    connection.heartbeatInterval = configuration.heartbeatInterval
    connection.liveness = configuration.liveness
    connection.reconnectDelay = configuration.reconnectDelay
  }

  /// Asks `run()` to stop: gracefully (running attempts get the grace period), or `immediately`
  /// (running attempts are terminated and released now). Safe from any thread.
  public func stop(immediately: Bool = false) {
    stopRequest.request(immediately: immediately)
  }

  /// Serves the coordinator until `stop()`; returns once the worker has said goodbye. Throws when
  /// the coordinator speaks another protocol version, after terminating every trainer.
  public func run() throws {
    context = ZMQContext()
    defer {
      socket = nil
      context = nil  // waits for the goodbye to leave (linger)
    }
    let leftovers = (try? runs.removeAll()) ?? []
    if !leftovers.isEmpty {
      logger.info("removed \(leftovers.count) run directories a previous worker process left")
    }
    let spooled = spool.pending().count
    logger.info(
      "worker starting",
      metadata: [
        "coordinator": "\(configuration.endpoint)", "slots": "\(configuration.slots)",
        "trainer": "\(configuration.trainer.path)", "spooled": "\(spooled)",
        "evaluate": "\(configuration.evaluate)",
      ])
    openConnection()
    do {
      while phase != .finished { try step() }
    } catch {
      logger.critical("worker stopping: \(error)")
      abandonAll()
      throw error
    }
    logger.info("worker stopped", metadata: ["released": "\(released.count)"])
  }

  /// One turn of the loop.
  private func step() throws {
    applyStopRequest()
    if let socket {
      do {
        if let frames = try socket.receive(timeout: nextWait()) {
          try handle(frames)
          // Everything else already waiting, without sleeping in between.
          while self.socket === socket, try socket.poll(timeout: .zero) {
            try handle(try socket.receiveNow())
          }
        }
      } catch let error as ZMQError {
        logger.error("socket error: \(error); reconnecting")
        dropConnection()
      }
    } else {
      Thread.sleep(forTimeInterval: seconds(nextWait()))
      if let reconnectAt = connection.reconnectAt, clock.now >= reconnectAt { openConnection() }
    }
    reapAttempts()
    reapStopping()
    heartbeatIfDue()
    checkLiveness()
    advanceStop()
  }

  /// Until the next heartbeat or reconnection, at most `pollInterval`.
  private func nextWait() -> Duration {
    let now = clock.now
    var wait = configuration.pollInterval
    if connection.welcomed { wait = min(wait, connection.nextHeartbeat - now) }
    if socket == nil, let reconnectAt = connection.reconnectAt { wait = min(wait, reconnectAt - now) }
    return max(wait, .zero)
  }

  // MARK: - Connection

  /// A new DEALER with the worker id as routing id, connected, and `hello` sent.
  func openConnection() {
    connection.reconnectAt = nil
    do {
      guard let context else { return }
      let socket = try ZMQSocket(
        context: context, kind: .dealer, maxMessageSize: configuration.maxMessageSize)
      try socket.setRoutingID(workerID.rawValue)
      if let curve = configuration.curve { try socket.makeCurveClient(curve.pair, server: curve.serverKey) }
      try socket.connect(configuration.endpoint)
      self.socket = socket
    } catch {
      logger.error("cannot connect to \(configuration.endpoint): \(error)")
      scheduleReconnect()
      return
    }
    connection.lastHeard = clock.now
    sendHello()
  }

  /// Closes the socket; a new one is opened after the current backoff delay, which then doubles.
  func dropConnection() {
    socket = nil
    connection.welcomed = false
    scheduleReconnect()
  }

  private func scheduleReconnect() {
    let delay = connection.reconnectDelay
    connection.reconnectAt = clock.now + delay
    connection.reconnectDelay = min(delay * 2, configuration.maxReconnectDelay)
    logger.info("reconnecting to \(configuration.endpoint) in \(milliseconds(delay)) ms")
  }

  /// No message from the coordinator for interval x liveness: it is gone (or the network is).
  private func checkLiveness() {
    guard socket != nil else { return }
    let silence = clock.now - connection.lastHeard
    guard silence > connection.heartbeatInterval * connection.liveness else { return }
    var hint = ""
    if !connection.welcomed {
      // Never welcomed on this connection: besides a coordinator that is down, a refused handshake.
      hint =
        configuration.curve == nil
        ? " (a coordinator started with --curve-secret needs --curve-secret and --server-key here)"
        : " (if it is running: is --server-key its public key, and this worker's .pub authorized there?)"
    }
    logger.warning(
      "no answer from the coordinator for \(milliseconds(silence)) ms; training goes on, results stay spooled\(hint)"
    )
    dropConnection()
  }

  private func heartbeatIfDue() {
    guard connection.welcomed, socket != nil, clock.now >= connection.nextHeartbeat else { return }
    send(WireMessage(.heartbeat, Heartbeat(workerID: workerID, running: runningRefs())))
    connection.nextHeartbeat = clock.now + connection.heartbeatInterval
  }

  func sendHello() {
    let spooled = spool.pending().map { $0.key }
    let hello = Hello(
      workerID: workerID, host: configuration.host, slots: configuration.slots,
      trainerVersion: configuration.trainerVersion, running: runningRefs(), spooled: spooled)
    connection.helloSentAt = clock.now
    send(WireMessage(.hello, hello))
    logger.debug(
      "hello sent", metadata: ["running": "\(hello.running.count)", "spooled": "\(spooled.count)"])
  }

  /// The attempts this worker holds a lease for, in a stable order.
  func runningRefs() -> [AttemptID] {
    attempts.keys.sorted()
  }

  /// Sends without blocking; false when the message could not be queued (no socket, or a full
  /// queue). Nothing depends on one send: results stay spooled and are sent again after `welcome`.
  @discardableResult
  func send(_ message: WireMessage) -> Bool {
    guard let socket else { return false }
    do {
      try socket.send(message.frames, dontWait: true)
      return true
    } catch {
      logger.warning("could not send \(message.type.rawValue): \(error)")
      return false
    }
  }

  // MARK: - Stopping

  private func applyStopRequest() {
    let (requested, immediately) = stopRequest.state
    guard requested else { return }
    let now = clock.now
    switch phase {
    case .working:
      // Attempts still waiting for their dataset have not started: hand them back at once.
      for (key, attempt) in attempts where attempt.process == nil {
        release(key, reason: "the worker is stopping")
      }
      fetches = [:]
      let deadline = immediately ? now : now + configuration.grace
      phase = .draining(deadline: deadline)
      logger.notice(
        "stopping: taking no more work; running attempts may finish within the grace period",
        metadata: ["running": "\(attempts.count)", "grace_ms": "\(milliseconds(deadline - now))"])
    case .draining(let deadline) where immediately && deadline > now:
      phase = .draining(deadline: now)
    default:
      break
    }
  }

  private func advanceStop() {
    let now = clock.now
    switch phase {
    case .working, .finished:
      break
    case .draining(let deadline):
      guard attempts.isEmpty || now >= deadline else { return }
      for key in attempts.keys.sorted() {
        release(key, reason: "the grace period is over")
      }
      phase = .terminating
    case .terminating:
      guard stopping.isEmpty else { return }
      send(WireMessage(.goodbye, Goodbye(workerID: workerID, released: released)))
      logger.notice(
        "goodbye sent",
        metadata: ["released": "\(released.count)", "awaiting_acks": "\(unacknowledged.count)"])
      phase = .leaving(deadline: now + configuration.acknowledgementWait)
    case .leaving(let deadline):
      if unacknowledged.isEmpty || socket == nil || now >= deadline {
        if !unacknowledged.isEmpty {
          logger.notice("\(unacknowledged.count) results not acknowledged yet; they stay spooled")
        }
        // Let the goodbye leave before the socket closes.
        try? socket?.setOption(zmqLingerOption, Int32(1000))
        phase = .finished
      }
    }
  }

  /// Hands an attempt back to the coordinator: stops its trainer (if any), never reports it.
  func release(_ key: AttemptID, reason: String) {
    guard let attempt = attempts.removeValue(forKey: key) else { return }
    released.append(attempt.ref)
    attempt.logger.notice("releasing attempt \(key.number): \(reason)")
    stopTrainer(of: attempt)
  }

  /// On a fatal error: every trainer is killed, nothing is reported.
  private func abandonAll() {
    for attempt in attempts.values { attempt.process?.signal(SIGKILL) }
    for child in stopping.values { child.process.signal(SIGKILL) }
  }
}

// MARK: - Loop state

extension WorkerAgent {
  enum Phase: Equatable {
    case working
    /// Stopping: no new work; running attempts may finish until the deadline.
    case draining(deadline: ContinuousClock.Instant)
    /// Waiting for the released attempts' trainers to exit.
    case terminating
    /// `goodbye` sent; waiting briefly for acknowledgements.
    case leaving(deadline: ContinuousClock.Instant)
    case finished
  }

  struct ConnectionState {
    var welcomed = false
    var everWelcomed = false
    var lastHeard = ContinuousClock.now
    var helloSentAt = ContinuousClock.now
    var nextHeartbeat = ContinuousClock.now
    var heartbeatInterval: Duration = .seconds(1)
    var liveness = 3
    var reconnectDelay: Duration = .milliseconds(100)
    var reconnectAt: ContinuousClock.Instant?
  }
}

/// `ZMQ_LINGER` from zmq.h (SweepWorker does not import the C module itself).
let zmqLingerOption: Int32 = 17

private final class StopRequest: @unchecked Sendable {
  private let lock = NSLock()
  private var requested = false
  private var immediately = false

  func request(immediately: Bool) {
    lock.withLock {
      requested = true
      if immediately { self.immediately = true }
    }
  }

  var state: (requested: Bool, immediately: Bool) { lock.withLock { (requested, immediately) } }
}

func seconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func milliseconds(_ duration: Duration) -> Int {
  Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
}
