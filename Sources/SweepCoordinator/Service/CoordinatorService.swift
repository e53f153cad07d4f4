import Foundation
import Logging
import SweepWire
import TracCore

/// The coordinator process's loop: one ROUTER socket, the durable scheduler, the dataset store and
/// the artifacts folder (docs/PROTOCOL.md). Single-threaded: every message and every tick is handled
/// in turn, so the scheduler's decisions and the files they refer to never race.
///
/// Sendable so a process can run it on a thread of its own: everything but `stopRequest` and `endpoint`
/// belongs to the thread inside `run()`.
public final class CoordinatorService: StoppableService, @unchecked Sendable {
  public struct Configuration: Sendable {
    public var bind: String
    public var stateDirectory: URL
    public var scheduler: SchedulerConfiguration
    /// A larger message closes its sender's connection before anything is allocated. Above the
    /// largest honest message: a dataset chunk is 4 MiB, a result carries one run's files.
    public var maxMessageSize: Int64
    /// CURVE: the coordinator's key pair and the directory of authorized `*.pub` keys. Nil: plaintext.
    public var curve: Curve?
    /// The directories a grid's dataset path may name on this machine (`--datasets`); any other
    /// dataset must be uploaded by the client. Default: the DSRL dataset directory.
    public var datasetDirectories: [URL]
    /// How much one peer, and all peers together, may leave unread (docs/PROTOCOL.md, "Flow control").
    public var flowControl: FlowControl

    public static let defaultMaxMessageSize: Int64 = 64 << 20

    /// The limits that keep one peer from stalling or bloating the coordinator.
    public struct FlowControl: Sendable {
      /// Bytes of replies queued for one peer and not yet taken by its connection; past this, its
      /// requests (and fetches) are answered `busy` until it reads.
      public var peerBytes: Int
      /// The same over every peer together.
      public var totalBytes: Int
      /// Requests and fetches one peer may have answered in one pass of the loop; the rest get `busy`.
      public var requestsPerPass: Int
      /// Messages libzmq queues for one peer before the next is dropped (ZMQ_SNDHWM), and receives from
      /// one peer before it stops reading that connection (ZMQ_RCVHWM).
      public var queuedMessages: Int32

      public static let `default` = FlowControl(
        peerBytes: 16 << 20, totalBytes: 512 << 20, requestsPerPass: 16, queuedMessages: 1000)

      public init(peerBytes: Int, totalBytes: Int, requestsPerPass: Int, queuedMessages: Int32) {
        self.peerBytes = peerBytes
        self.totalBytes = totalBytes
        self.requestsPerPass = requestsPerPass
        self.queuedMessages = queuedMessages
      }
    }

    public struct Curve: Sendable {
      public var pair: CurveKeyPair
      public var authorizedKeys: URL

      public init(pair: CurveKeyPair, authorizedKeys: URL) {
        self.pair = pair
        self.authorizedKeys = authorizedKeys
      }
    }

    public init(
      bind: String, stateDirectory: URL, scheduler: SchedulerConfiguration = .default,
      maxMessageSize: Int64 = Configuration.defaultMaxMessageSize, curve: Curve? = nil,
      datasetDirectories: [URL] = [DSRLDatasetDirectory.directory], flowControl: FlowControl = .default
    ) {
      self.datasetDirectories = datasetDirectories
      self.flowControl = flowControl
      self.bind = bind
      self.stateDirectory = stateDirectory
      self.scheduler = scheduler
      self.maxMessageSize = maxMessageSize
      self.curve = curve
    }
  }

  /// The most slots a worker may announce (a larger number is refused as malformed).
  public static let maxSlots = 4096

  public let configuration: Configuration
  private let context = ZMQContext()
  private let socket: ZMQSocket
  /// The ZAP handler when CURVE is on: it decides which keys may connect.
  public let authenticator: ZAPAuthenticator?
  let scheduler: DurableScheduler
  let datasets: DatasetStore
  let uploads: DatasetUploads
  let artifacts: ArtifactStore
  let checkpoints: CheckpointStore
  /// The directories datasets may be read from (those of `datasetDirectories` that exist).
  let datasetSources: [ContainedDirectory]
  var logger: Logger
  private let clock = ContinuousClock()
  private let epoch: ContinuousClock.Instant
  /// Routing ids of workers, as last seen (a worker's DEALER uses its worker id).
  var routes: [WorkerID: Data] = [:]
  /// With CURVE, the public key (Z85) of the connection the message in hand came on; nil without.
  var peerKey: String?
  /// Set it (from any thread) to stop the loop after the message in hand.
  public let stopRequest = StopRequest()
  /// The latest progress each running run's worker reported (memory only: a restarted coordinator
  /// learns it again from the next heartbeats).
  var progress: [RunID: (worker: WorkerID, progress: AttemptProgress)] = [:]
  /// Dataset sizes by sha256, for `assign` (a dataset's file never changes once stored).
  var datasetSizes: [SHA256Digest: Int] = [:]

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

  var counting = Counters()
  /// How long busy passes of the loop and their commits take (`metrics`).
  var timings = LoopTimings()
  var directorySizes = DirectorySizeCache()
  /// Bytes of replies libzmq still holds, per peer (flow control).
  public let outbound = OutboundLedger()
  /// Requests and fetches taken from each peer in the pass under way.
  var requestsThisPass: [Data: Int] = [:]
  /// When a dropped reply was last logged (drops are logged at most every 10 s).
  var lastDropLogged: ContinuousClock.Instant?
  var dropsNotLogged = 0
  private let countersLock = NSLock()
  private var published = Counters()

  /// The counters as of the end of the last pass of the loop; safe from any thread.
  public var counters: Counters {
    countersLock.lock()
    defer { countersLock.unlock() }
    return published
  }

  /// Opens (or creates) the state directory, reloads every sweep, and binds the socket.
  public init(configuration: Configuration, logger: Logger = Logger(label: "trac-sweep.coordinator")) throws {
    MessageMemory.returnLargeBlocksToTheSystem()
    self.configuration = configuration
    self.logger = logger
    epoch = clock.now
    let state = configuration.stateDirectory
    try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
    let artifactsDirectory = state.appendingPathComponent("artifacts")
    datasets = try DatasetStore(directory: artifactsDirectory.appendingPathComponent("datasets"))
    ArtifactStore.removeLeftovers(in: datasets.directory)
    uploads = DatasetUploads(store: datasets)
    artifacts = try ArtifactStore(directory: artifactsDirectory.appendingPathComponent("runs"))
    datasetSources = configuration.datasetDirectories.compactMap {
      try? ContainedDirectory($0, create: false)
    }
    let store = try SweepStore(directory: state)
    scheduler = try DurableScheduler(store: store, configuration: configuration.scheduler, now: .zero)
    checkpoints = try CheckpointStore(directory: artifactsDirectory.appendingPathComponent("checkpoints"))
    // Files a commit stopped referring to before the coordinator could delete them.
    checkpoints.removeAll(
      except: scheduler.read { Set($0.runs.values.compactMap { $0.checkpoint?.sha256 }) })
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
  /// When the loop started serving (`metrics`' uptime).
  var started: ContinuousClock.Instant { epoch }
  var clockNow: ContinuousClock.Instant { clock.now }

  /// Asks the loop to stop after the message in hand; safe from any thread or signal handler queue.
  public func requestStop() { stopRequest.request() }

  var now: SchedulerInstant { clock.now - epoch }

  /// Commands held until the batch they come from is committed (acknowledgements above all).
  var heldCommands: [SchedulerCommand] = []
  /// Replies to clients that report a change (a submitted sweep...), sent after the commit too.
  var heldReplies: [(route: Data, message: WireMessage)] = []
  /// Why a result was refused, for its `ack` (sent after the commit).
  var rejections: [AttemptID: String] = [:]
  /// Reads (`status`, `results`, `report`), answered after the commit: every read then sees exactly the
  /// committed state, so a run that one read shows done has its row in every other.
  var heldReads: [(route: Data, answer: () throws -> any Encodable)] = []
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
        if handled > 0 || ticked { timings.commit.observe(clock.now - commitStart) }
        let commands = heldCommands
        let replies = heldReplies
        let reads = heldReads
        heldCommands = []
        heldReplies = []
        heldReads = []
        execute(commands)
        for (route, message) in replies { reply(route, message) }
        for (route, answer) in reads {
          // Replies sent earlier in this pass may have filled the peer's allowance: not computed then.
          if let busy = overAllowance(route, subject: nil) {
            reply(route, WireMessage(.error, busy))
            continue
          }
          do {
            reply(route, WireMessage(.reply, try answer()))
          } catch {
            reply(route, WireMessage(.error, Self.errorMessage(for: error)))
          }
        }
        requestsThisPass.removeAll(keepingCapacity: true)
        if handled > 0 || ticked { timings.pass.observe(clock.now - passStart) }
        if handled > 0 {
          counting.messages += handled
          counting.batches += 1
        }
        if counting != published {  // only this thread writes `published`
          countersLock.lock()
          published = counting
          countersLock.unlock()
        }
      } catch let error as ZMQError where error.isTerminated {
        break
      } catch {
        // Nothing of the failed batch is acknowledged: workers send their results again.
        heldCommands = []
        for route in heldReplies.map(\.route) + heldReads.map(\.route) {
          reply(
            route,
            WireMessage(
              .error, ErrorMessage(code: .unavailable, message: "the coordinator could not commit: \(error)"))
          )
        }
        heldReplies = []
        heldReads = []
        rejections = [:]
        requestsThisPass.removeAll(keepingCapacity: true)
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

  /// Handles an event as part of the current batch: its commands wait for the batch's commit.
  func schedule(_ event: SchedulerEvent) throws {
    heldCommands += try scheduler.handle(event, now: now, commit: false)
  }

  // MARK: - Commands to workers

  private func execute(_ commands: [SchedulerCommand]) {
    for command in commands {
      switch command {
      case .assign(let assignment):
        guard let route = routes[assignment.worker] else { continue }
        let dataset = datasetReference(assignment)
        let lease = configuration.scheduler.leaseDuration
        let message = Assign(
          attempt: assignment.attempt, spec: assignment.spec, dataset: dataset,
          leaseMilliseconds: Int(lease.wholeMilliseconds),
          checkpoint: assignment.checkpoint.map(CheckpointRef.init),
          initFrom: assignment.initFrom.map(CheckpointRef.init))
        var runLogger = logger
        runLogger[metadataKey: "run"] = "\(assignment.attempt.run)"
        runLogger[metadataKey: "worker"] = "\(assignment.worker)"
        runLogger.info(
          "assigned attempt \(assignment.attempt.number)", metadata: ["point": "\(assignment.pointID)"])
        reply(route, WireMessage(.assign, message))
        counting.assigned += 1
      case .acknowledge(let worker, let attempt, let disposition):
        let rejected = rejections.removeValue(forKey: attempt)
        if progress[attempt.run]?.progress.attempt == attempt { progress[attempt.run] = nil }
        guard let route = routes[worker] else { continue }
        if disposition == .duplicate {
          logger.notice(
            "duplicate result discarded", metadata: ["run": "\(attempt.run)", "worker": "\(worker)"])
        }
        reply(
          route,
          WireMessage(
            .ack,
            Ack(attempt: attempt, duplicate: disposition.isDuplicate, rejected: rejected)))
        counting.acknowledged += 1
      case .cancelRun(let worker, let attempt):
        guard let route = routes[worker] else { continue }
        reply(
          route,
          WireMessage(
            .cancel, Cancel(attempt: attempt)))
      case .requestHello(let worker):
        guard let route = routes[worker] else { continue }
        reply(route, WireMessage(.pong, Pong(known: false)))
      case .deleteCheckpoint(let sha256):
        checkpoints.remove(sha256)
      case .log(let level, let message):
        logger.log(level: level, "\(loggable(message, limit: 2000))")
      }
    }
  }

  private func datasetReference(_ assignment: RunAssignment) -> DatasetRef {
    // The spec's hash was computed by this coordinator (or validated with the grid): always valid.
    let sha = SHA256Digest(rawValue: assignment.spec.datasetSHA256) ?? SHA256Digest(of: Data())
    let size: Int
    if let known = datasetSizes[sha] {
      size = known
    } else {
      let path = (try? datasets.url(for: sha))?.path ?? ""
      size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
      if size > 0 { datasetSizes[sha] = size }
    }
    let name = assignment.datasetPath.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "\(sha).hdf5"
    return DatasetRef(sha256: sha, size: size, name: name)
  }

  /// Sends to one peer without ever blocking: a peer that does not read loses the reply (its queue is
  /// full), a peer that is gone too; neither stops the loop.
  func reply(_ route: Data, _ message: WireMessage) {
    do {
      switch try socket.sendWithoutBlocking([route] + message.frames, ledger: outbound, peer: route) {
      case .sent: break
      case .queueFull: replyDropped(message)
      case .unroutable: logger.debug("could not send \(message.type.rawValue): the peer is gone")
      }
    } catch {
      logger.debug("could not send \(message.type.rawValue): \(error)")
    }
  }

  private func replyDropped(_ message: WireMessage) {
    counting.repliesDropped += 1
    dropsNotLogged += 1
    let now = clock.now
    if let last = lastDropLogged, now - last < .seconds(10) { return }
    logger.warning(
      "dropped \(dropsNotLogged) replies to peers that do not read them (their queues are full; latest: \(message.type.rawValue))"
    )
    lastDropLogged = now
    dropsNotLogged = 0
  }

  /// Takes one request or fetch from `route` into this pass: nil if it may be answered, else the `busy`
  /// refusal (docs/PROTOCOL.md, "Flow control"), naming `subject` (a fetch's sha256).
  func admit(_ route: Data, subject: String?) -> ErrorMessage? {
    let taken = requestsThisPass[route, default: 0] + 1
    requestsThisPass[route] = taken
    let limit = configuration.flowControl.requestsPerPass
    if taken > limit {
      counting.busy += 1
      return ErrorMessage(
        code: .busy,
        message: "flow control: more than \(limit) requests from this connection at once; "
          + "send the next when the previous is answered",
        subject: subject)
    }
    return overAllowance(route, subject: subject)
  }

  /// The `busy` refusal when `route`, or all peers together, have more unread bytes queued than allowed.
  func overAllowance(_ route: Data, subject: String?) -> ErrorMessage? {
    let limits = configuration.flowControl
    let own = outbound.outstanding(route)
    let total = outbound.total
    guard own >= limits.peerBytes || total >= limits.totalBytes else { return nil }
    counting.busy += 1
    let text =
      own >= limits.peerBytes
      ? "flow control: \(own) bytes of replies to this connection are not read yet (at most \(limits.peerBytes)); "
        + "read them, then ask again"
      : "flow control: the coordinator holds \(total) bytes of replies its peers have not read (at most "
        + "\(limits.totalBytes)); ask again shortly"
    return ErrorMessage(code: .busy, message: text, subject: subject)
  }
}

// The scheduler's checkpoint and the wire's are the same three facts (the scheduler does not import the
// wire types): converted here, in both directions.
extension CheckpointRef {
  init(_ checkpoint: RunCheckpoint) {
    self.init(sha256: checkpoint.sha256, size: checkpoint.size, step: checkpoint.step)
  }
}

extension RunCheckpoint {
  init(_ reference: CheckpointRef) {
    self.init(sha256: reference.sha256, size: reference.size, step: reference.step)
  }
}
