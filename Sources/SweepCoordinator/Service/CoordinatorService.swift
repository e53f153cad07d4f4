import Foundation
import Logging
import SweepWire
import TracCore

/// The coordinator process's loop: one ROUTER socket, the durable scheduler, and the handlers by
/// concern (docs/PROTOCOL.md): `WorkerLink` (hello, heartbeat, goodbye, the commands to workers),
/// `ResultIntake` (results and checkpoints), `BlobService` (chunks, uploads), `ClientRequests`,
/// `StatusViews` and `ResultRows`; `RequestGate` is the flow control. The loop only receives, routes
/// each message to its handler, commits once per pass, and sends. Single-threaded: every message and
/// every tick is handled in turn, so the scheduler's decisions and the files they refer to never race.
///
/// Sendable so a process can run it on a thread of its own: everything but `stopRequest`, `endpoint`
/// and `counters` belongs to the thread inside `run()`.
public final class CoordinatorService: StoppableService, @unchecked Sendable {
  /// The most slots a worker may announce (a larger number is refused as malformed).
  public static let maxSlots = WorkerLink.maxSlots

  public let configuration: Configuration
  private let context = ZMQContext()
  private let socket: ZMQSocket
  /// The ZAP handler when CURVE is on: it decides which keys may connect.
  public let authenticator: ZAPAuthenticator?
  let scheduler: DurableScheduler
  let link: WorkerLink
  let intake: ResultIntake
  let blobs: BlobService
  let clients: ClientRequests
  var gate: RequestGate
  var logger: Logger
  private let clock = ContinuousClock()
  /// Set it (from any thread) to stop the loop after the message in hand.
  public let stopRequest = StopRequest()

  /// What the loop has done since it started, for benchmarks and monitoring.
  public struct Counters: Sendable, Equatable {
    /// Messages received, of any kind.
    public var messages = 0
    public var hellos = 0
    public var heartbeats = 0
    /// Results received (each is acknowledged after its batch is committed).
    public var results = 0
    public var assigned = 0
    public var acknowledged = 0
    /// Transactions committed: one per pass of the loop that changed something.
    public var batches = 0
    /// Replies dropped because their peer's queue was full (it does not read what it is sent).
    public var repliesDropped = 0
    /// Requests and fetches answered `busy` (flow control).
    public var busy = 0

    public init() {}
  }

  /// The counters and timings as the loop keeps them (`metrics` reads them on the loop's thread).
  let statistics: LoopStatistics
  /// Bytes of replies libzmq still holds, per peer (flow control).
  public var outbound: OutboundLedger { statistics.outbound }
  /// When a dropped reply was last logged (drops are logged at most every 10 s).
  private var lastDropLogged: ContinuousClock.Instant?
  private var dropsNotLogged = 0
  private let countersLock = NSLock()
  private var published = Counters()
  /// Revoked keys whose dropped messages were logged (once per key; the loop's thread only).
  private var revokedLogged: Set<String> = []

  /// The counters as of the end of the last pass of the loop; safe from any thread.
  public var counters: Counters {
    countersLock.lock()
    defer { countersLock.unlock() }
    return published
  }

  /// Opens (or creates) the state directory, reloads every sweep, and binds the socket.
  public init(configuration: Configuration, logger: Logger = Logger(label: "trac-sweep.coordinator")) throws {
    self.configuration = configuration
    self.logger = logger
    statistics = LoopStatistics(started: clock.now)
    let state = configuration.stateDirectory
    try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
    let artifactsDirectory = state.appendingPathComponent("artifacts")
    let datasets = try DatasetStore(directory: artifactsDirectory.appendingPathComponent("datasets"))
    ArtifactStore.removeLeftovers(in: datasets.directory)
    let artifacts = try ArtifactStore(directory: artifactsDirectory.appendingPathComponent("runs"))
    let store = try SweepStore(directory: state)
    scheduler = try DurableScheduler(store: store, configuration: configuration.scheduler, now: .zero)
    let checkpoints = try CheckpointStore(directory: artifactsDirectory.appendingPathComponent("checkpoints"))
    // Files a commit stopped referring to before the coordinator could delete them.
    checkpoints.removeAll(
      except: scheduler.read { Set($0.runs.values.compactMap { $0.checkpoint?.sha256 }) })
    link = WorkerLink(scheduler: scheduler, configuration: configuration.scheduler, logger: logger)
    intake = ResultIntake(scheduler: scheduler, link: link, artifacts: artifacts, checkpoints: checkpoints)
    blobs = BlobService(datasets: datasets, checkpoints: checkpoints, logger: logger)
    clients = ClientRequests(
      scheduler: scheduler, blobs: blobs,
      status: StatusViews(scheduler: scheduler, link: link, blobs: blobs, intake: intake, loop: statistics),
      results: ResultRows(scheduler: scheduler), datasetDirectories: configuration.datasetDirectories,
      logger: logger)
    gate = RequestGate(limits: configuration.flowControl, outbound: statistics.outbound)
    socket = try ZMQSocket(context: context, kind: .router, maxMessageSize: configuration.maxMessageSize)
    try socket.setHighWaterMarks(messages: configuration.flowControl.queuedMessages)
    var zap: ZAPAuthenticator?
    if let curve = configuration.curve {
      let keys = try CurveKeyFile.readAuthorized(curve.authorizedKeys)
      try socket.makeCurveServer(curve.pair, zapDomain: "trac-sweep")
      // The handler is bound before the ROUTER, so no handshake goes unchecked.
      zap = try ZAPAuthenticator(
        context: context, authorized: keys, directory: curve.authorizedKeys, domain: "trac-sweep",
        logger: logger, server: socket)
      logger.info(
        "CURVE security on: only authorized keys may connect, plaintext is refused",
        metadata: [
          "public_key": "\(curve.pair.publicKey.z85)", "authorized_keys": "\(curve.authorizedKeys.path)",
          "authorized": "\(keys.count)",
        ])
      if keys.isEmpty {
        let directory = curve.authorizedKeys.path
        logger.warning(
          "no *.pub file in \(directory): no worker or client can connect until one is added (then SIGHUP)")
      }
    }
    authenticator = zap
    do { try socket.bind(configuration.bind) } catch {
      zap?.stop()
      throw error
    }
    endpoint = socket.lastEndpoint
    let (sweepCount, runCount) = scheduler.read { ($0.sweeps.count, $0.runs.count) }
    logger.info(
      "coordinator listening",
      metadata: [
        "endpoint": "\(endpoint)", "state": "\(state.path)", "sweeps": "\(sweepCount)",
        "runs": "\(runCount)",
      ])
  }

  /// The endpoint actually bound (the port chosen for `tcp://127.0.0.1:*`).
  public let endpoint: String

  /// Asks the loop to stop after the message in hand; safe from any thread or signal handler queue.
  public func requestStop() { stopRequest.request() }

  /// The scheduler's time: since the loop's start.
  private var now: SchedulerInstant { clock.now - statistics.started }

  /// Commands held until the batch they come from is committed (acknowledgements above all).
  private var heldCommands: [SchedulerCommand] = []
  /// Replies to clients that report a change (a submitted sweep...), sent after the commit too.
  private var heldReplies: [ServiceOutbox.Reply] = []
  /// Reads, answered after the commit (`ServiceOutbox.Read`).
  private var heldReads: [ServiceOutbox.Read] = []
  /// Messages handled before one commit: enough to turn a burst of results into one fsync.
  static let batchLimit = 512

  /// Serves until `requestStop()`. Each pass handles every message at hand (up to `batchLimit`),
  /// commits their changes in one transaction, then carries out their commands, so an
  /// acknowledgement always follows the commit of what it acknowledges.
  public func run() {
    let tickInterval = max(configuration.scheduler.heartbeatInterval / 4, .milliseconds(5))
    var nextTick = clock.now
    while !stopRequest.isRequested {
      do {
        let wait = max(min(nextTick - clock.now, .milliseconds(100)), .zero)
        var next = try socket.receiveWithUserID(timeout: wait)
        let passStart = clock.now
        var ticked = false
        var handled = 0
        while let received = next {
          handle(received.frames, peerKey: received.userID)
          handled += 1
          next = handled < Self.batchLimit ? try socket.receiveWithUserID(timeout: .zero) : nil
        }
        // Leases lapse on a tick. While messages are still waiting (a full batch), their heartbeats may
        // extend the very leases the tick would end: the tick waits for them, up to one more interval.
        let backlog = handled >= Self.batchLimit
        if clock.now >= nextTick
          && (!backlog || clock.now >= nextTick + configuration.scheduler.heartbeatInterval)
        {
          heldCommands += try scheduler.handle(.tick, now: now, commit: false)
          nextTick = clock.now + tickInterval
          ticked = true
        }
        let commitStart = clock.now
        try scheduler.commit(now: now)
        if handled > 0 || ticked { statistics.timings.commit.observe(clock.now - commitStart) }
        let commands = heldCommands
        let replies = heldReplies
        let reads = heldReads
        heldCommands = []
        heldReplies = []
        heldReads = []
        carryOut(commands)
        for (route, message) in replies { send(route, message) }
        for (route, answer) in reads {
          // Replies sent earlier in this pass may have filled the peer's allowance: not computed then.
          if let busy = gate.overAllowance(route, subject: nil) {
            statistics.counters.busy += 1
            send(route, WireMessage(.error, busy))
            continue
          }
          do {
            send(route, WireMessage(.reply, try answer()))
          } catch {
            send(route, WireMessage(.error, ErrorMessage(refusing: error)))
          }
        }
        gate.endPass()
        if handled > 0 || ticked { statistics.timings.pass.observe(clock.now - passStart) }
        if handled > 0 {
          statistics.counters.messages += handled
          statistics.counters.batches += 1
        }
        if statistics.counters != published {  // only this thread writes `published`
          countersLock.lock()
          published = statistics.counters
          countersLock.unlock()
        }
      } catch let error as ZMQError where error.isTerminated {
        break
      } catch {
        // Nothing of the failed batch is acknowledged: workers send their results again.
        heldCommands = []
        for route in heldReplies.map(\.route) + heldReads.map(\.route) {
          send(
            route,
            WireMessage(
              .error, ErrorMessage(code: .unavailable, message: "the coordinator could not commit: \(error)"))
          )
        }
        heldReplies = []
        heldReads = []
        intake.forgetRejections()
        gate.endPass()
        logger.error("coordinator loop: \(error)")
      }
    }
    authenticator?.stop()
    logger.info("coordinator stopped; every result is committed")
  }

  deinit { authenticator?.stop() }

  /// Reads the authorized keys again (SIGHUP); a directory that does not read keeps the old keys.
  public func reloadAuthorizedKeys() {
    guard let authenticator else { return }
    do {
      let count = try authenticator.reload()
      logger.info("authorized keys reloaded", metadata: ["authorized": "\(count)"])
    } catch {
      logger.error("authorized keys not reloaded, the previous ones stay in force: \(error)")
    }
  }

  // MARK: - Routing

  /// Decodes one message and hands it to the handler of its concern; a refused message gets an `error`
  /// reply with a code, and the loop goes on. The handler's replies are sent at once; what waits for the
  /// commit is held for the end of the pass. Every identifier in a body was validated when it was decoded.
  private func handle(_ frames: [Data], peerKey: String?) {
    guard let route = frames.first, frames.count > 1 else { return }
    if let peerKey, !isAuthorized(peerKey) {
      if revokedLogged.insert(peerKey).inserted {
        logger.warning(
          "dropped a message: key no longer authorized", metadata: ["key": "\(loggable(peerKey))"])
      }
      return
    }
    let message: WireMessage
    do {
      message = try WireMessage.decode(Array(frames.dropFirst()))
    } catch {
      logger.warning("refused a message: \(loggable(error.description))")
      send(route, WireMessage(.error, ErrorMessage(error)))
      return
    }
    var outbox = ServiceOutbox(now: now)
    do {
      switch message.type {
      case .hello:
        statistics.counters.hellos += 1
        try link.hello(try message.decodeBody(Hello.self), route: route, peerKey: peerKey, into: &outbox)
      case .heartbeat:
        statistics.counters.heartbeats += 1
        try link.heartbeat(
          try message.decodeBody(Heartbeat.self), route: route, peerKey: peerKey, into: &outbox)
      case .goodbye:
        try link.goodbye(try message.decodeBody(Goodbye.self), route: route, peerKey: peerKey, into: &outbox)
      case .result:
        statistics.counters.results += 1
        try intake.result(
          try message.decodeBody(ResultMessage.self), attachments: message.attachments, route: route,
          peerKey: peerKey, into: &outbox)
      case .checkpoint:
        try intake.checkpoint(
          try message.decodeBody(CheckpointMessage.self), attachments: message.attachments, route: route,
          peerKey: peerKey, into: &outbox)
      case .fetch:
        let fetch = try message.decodeBody(Fetch.self)
        if let busy = admit(route, subject: fetch.sha256.rawValue) {
          outbox.reply(route, WireMessage(.error, busy))
        } else {
          try blobs.fetch(fetch, route: route, into: &outbox)
        }
      case .request:
        let request = try message.decodeBody(ClientRequest.self)
        if let busy = admit(route, subject: nil) {
          outbox.reply(route, WireMessage(.error, busy))
        } else {
          try clients.request(request, attachments: message.attachments, route: route, into: &outbox)
        }
      case .error:
        logger.warning("peer reported an error: \(loggable(String(decoding: message.body, as: UTF8.self)))")
      default:
        throw WireError.unknownType("\(message.type.rawValue) (not for the coordinator)")
      }
    } catch {
      let refusal = ErrorMessage(refusing: error)
      logger.warning("refused \(message.type.rawValue): \(loggable(refusal.message))")
      outbox.reply(route, WireMessage(.error, refusal))
    }
    for (route, reply) in outbox.replies { send(route, reply) }
    heldCommands += outbox.commands
    heldReplies += outbox.repliesAfterCommit
    heldReads += outbox.reads
  }

  /// Whether `key` is still authorized (SIGHUP may have taken it out), as the authenticator that
  /// checks handshakes holds the keys now; always true without CURVE.
  private func isAuthorized(_ key: String) -> Bool {
    guard let authenticator else { return true }
    return CurveKey(z85: key).map(authenticator.authorizes) ?? false
  }

  /// The flow control's verdict on one more request or fetch from `route` (`RequestGate.admit`).
  private func admit(_ route: Data, subject: String?) -> ErrorMessage? {
    let refusal = gate.admit(route, subject: subject)
    if refusal != nil { statistics.counters.busy += 1 }
    return refusal
  }

  /// Carries out the scheduler's commands of a committed pass: messages to workers through their link,
  /// checkpoint deletions, log lines.
  private func carryOut(_ commands: [SchedulerCommand]) {
    for command in commands {
      switch command {
      case .assign(let assignment):
        guard let (route, message) = link.assign(assignment, dataset: blobs.datasetReference) else {
          continue
        }
        send(route, message)
        statistics.counters.assigned += 1
      case .acknowledge(let worker, let attempt, let disposition):
        let rejected = intake.takeRejection(attempt)
        guard
          let (route, message) = link.acknowledge(
            attempt, of: worker, disposition: disposition, rejected: rejected)
        else { continue }
        send(route, message)
        statistics.counters.acknowledged += 1
      case .cancelRun(let worker, let attempt):
        if let (route, message) = link.cancel(attempt, on: worker) { send(route, message) }
      case .requestHello(let worker):
        if let (route, message) = link.requestHello(worker) { send(route, message) }
      case .deleteCheckpoint(let sha256):
        blobs.deleteCheckpoint(sha256)
      case .log(let level, let message):
        logger.log(level: level, "\(loggable(message, limit: 2000))")
      }
    }
  }

  /// Sends to one peer without ever blocking: a peer that does not read loses the reply (its queue is
  /// full), a peer that is gone too; neither stops the loop.
  private func send(_ route: Data, _ message: WireMessage) {
    do {
      switch try socket.sendWithoutBlocking(
        [route] + message.frames, ledger: statistics.outbound, peer: route)
      {
      case .sent: break
      case .queueFull: replyDropped(message)
      case .unroutable: logger.debug("could not send \(message.type.rawValue): the peer is gone")
      }
    } catch {
      logger.debug("could not send \(message.type.rawValue): \(error)")
    }
  }

  private func replyDropped(_ message: WireMessage) {
    statistics.counters.repliesDropped += 1
    dropsNotLogged += 1
    let now = clock.now
    if let last = lastDropLogged, now - last < .seconds(10) { return }
    logger.warning(
      "dropped \(dropsNotLogged) replies to peers that do not read them (their queues are full; latest: \(message.type.rawValue))"
    )
    lastDropLogged = now
    dropsNotLogged = 0
  }
}

extension ErrorMessage {
  /// The `error` reply for anything a handler throws: a code a peer can act on, and the text.
  public init(refusing error: any Error) {
    switch error {
    case let error as WireError: self.init(error)
    case let error as InvalidIdentifier: self.init(code: .invalidIdentifier, message: error.description)
    case let error as PathOutsideRoot: self.init(code: .invalidIdentifier, message: error.description)
    case let error as CoordinatorError:
      let code: ErrorCode
      switch error {
      case .unknownSweep: code = .unknownSweep
      case .unknownWorker: code = .unknownWorker
      case .unknownDataset, .unknownBlob: code = .unknownDataset
      case .datasetNotAllowed: code = .datasetNotAllowed
      case .storage: code = .unavailable
      case .invalidConfiguration, .corruptState: code = .invalidInput
      case .sweepNameTaken, .sweepChanged, .refused: code = .refused
      }
      self.init(code: code, message: error.description, subject: error.subject)
    case let error as TracError: self.init(code: .invalidInput, message: error.description)
    case let error as GridError: self.init(code: .invalidInput, message: error.description)
    default: self.init(code: .invalidInput, message: "\(error)")
    }
  }
}
