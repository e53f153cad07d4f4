import Foundation
import Logging
import SweepWire
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// A point in the worker's time: the time since its loop started (as `SchedulerInstant` for the
/// coordinator). Tests drive it from a `ManualClock`.
public typealias WorkerInstant = Duration

/// Every decision of the worker (docs/PROTOCOL.md sections 5-7), with no I/O: one mutating method
/// per input (a message from the coordinator, already decoded; a child's exit; the result of an
/// action the shell carried out; a tick of the clock; a stop request), each returning the actions
/// the shell (`WorkerAgent`) carries out in order: send, connect, spawn, signal, spool, remove, log.
///
/// Waits are timers here, never blocking calls: heartbeats, liveness, reconnection with backoff,
/// the grace period, SIGKILL after the termination grace, the wait for an older attempt of a run to
/// exit before a newer one takes its directory, and the wait for acknowledgements after `goodbye`.
/// They fire in `tick(now:)`, which the shell calls on every turn of its loop (and at the latest at
/// `nextDeadline`).
public struct WorkerStateMachine: Sendable {
  public struct Configuration: Sendable {
    public var workerID: WorkerID
    public var host: String
    public var slots: Int
    public var trainerVersion: String
    /// On a stop request, how long running attempts may take to finish before they are handed back.
    public var grace: Duration
    /// After SIGTERM to a trainer (cancel, hand-back), how long before SIGKILL.
    public var terminationGrace: Duration
    /// After `goodbye`, how long to wait for acknowledgements of results already sent.
    public var acknowledgementWait: Duration
    /// How long a new attempt waits for an older attempt of its run (killed) to exit before it
    /// takes the run's directory anyway.
    public var predecessorWait: Duration
    /// The heartbeat contract until the coordinator's `welcome` gives its own.
    public var heartbeatInterval: Duration
    public var liveness: Int
    /// Reconnection delays: the first one, doubled after every failed try up to the maximum.
    public var reconnectDelay: Duration
    public var maxReconnectDelay: Duration
    /// Whether the connection uses CURVE (only for the hint when the coordinator never answers).
    public var usesCurve: Bool
    /// The coordinator's address, for messages.
    public var endpoint: String
    /// How often a training attempt's newest checkpoint is sent to the coordinator (also when the
    /// attempt is handed back). Nil: never.
    public var checkpointShipInterval: Duration?
    /// The task families this worker evaluates, announced in `hello` (`[]`: train-only runs); nil
    /// announces nothing (the coordinator then assumes BulletGym).
    public var evaluates: [TaskFamily]? = nil
    /// With CURVE, this worker's public key (Z85): a `key_mismatch` naming it stops the worker.
    public var publicKey: String? = nil

    public init(
      workerID: WorkerID, host: String, slots: Int, trainerVersion: String, grace: Duration = .seconds(10),
      terminationGrace: Duration = .seconds(5), acknowledgementWait: Duration = .seconds(2),
      predecessorWait: Duration = .seconds(2), heartbeatInterval: Duration = .seconds(1), liveness: Int = 3,
      reconnectDelay: Duration = .milliseconds(100), maxReconnectDelay: Duration = .seconds(10),
      usesCurve: Bool = false, endpoint: String = "the coordinator's address",
      checkpointShipInterval: Duration? = .seconds(300)
    ) {
      self.checkpointShipInterval = checkpointShipInterval
      self.endpoint = endpoint
      self.workerID = workerID
      self.host = host
      self.slots = slots
      self.trainerVersion = trainerVersion
      self.grace = grace
      self.terminationGrace = terminationGrace
      self.acknowledgementWait = acknowledgementWait
      self.predecessorWait = predecessorWait
      self.heartbeatInterval = heartbeatInterval
      self.liveness = liveness
      self.reconnectDelay = reconnectDelay
      self.maxReconnectDelay = maxReconnectDelay
      self.usesCurve = usesCurve
    }
  }

  /// A trainer child, named by the state machine when it asks for it to be spawned.
  public struct ChildID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (lhs: ChildID, rhs: ChildID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "child \(rawValue)" }
  }

  /// A message for the coordinator (a `result` is `Action.sendResult`: its files are in the spool).
  public enum Outbound: Equatable, Sendable {
    case hello(Hello)
    case heartbeat(Heartbeat)
    case fetch(Fetch)
    case goodbye(Goodbye)
    case error(ErrorMessage)
  }

  /// What a finished attempt leaves in the spool.
  public struct SpoolRequest: Equatable, Sendable {
    public var result: AttemptResult
    /// Whether the attempt's artifacts (those its trainer left in its directory) go with it.
    public var withArtifacts: Bool

    public init(result: AttemptResult, withArtifacts: Bool) {
      self.result = result
      self.withArtifacts = withArtifacts
    }
  }

  /// What the dataset cache holds of an assignment's dataset when the assignment arrives.
  public enum CachedDataset: Equatable, Sendable {
    case complete
    /// The bytes a previous fetch left (0: none).
    case partial(bytes: Int)
  }

  /// What the shell does, in the order given.
  public enum Action: Equatable, Sendable {
    /// Open a new socket to the coordinator; report `connected` or `connectionFailed`.
    case connect
    /// Close the socket.
    case disconnect
    case send(Outbound)
    /// Send the spooled result of the attempt with its files; report `resultSent` if it was queued.
    case sendResult(AttemptID)
    /// Make the attempt's empty directory; report `directoryPrepared` or `attemptFailed`.
    case prepareDirectory(AttemptID)
    /// Start the trainer for the attempt (its dataset is in the cache); on failure report
    /// `attemptFailed`, else `childExited` once it is gone.
    case spawn(ChildID, Assign)
    case signal(ChildID, Int32)
    /// Write the result to the spool; report `resultSpooled` or `spoolFailed`.
    case spool(SpoolRequest)
    /// Delete the acknowledged result from the spool.
    case deleteSpooled(AttemptID, duplicate: Bool)
    case removeAttemptDirectory(AttemptID)
    /// Send the attempt's newest checkpoint (if its trainer wrote one since the last sent).
    case shipCheckpoint(AttemptID)
    /// Append the chunk to the dataset cache; report `chunkWritten` or `chunkFailed`.
    case writeChunk(Chunk, Data)
    case log(Logger.Level, String, run: RunID?)
    /// Stop the loop: the worker is done (let the goodbye leave before the socket closes).
    case finish
    /// Stop the loop with this error (every trainer has been sent SIGKILL).
    case fail(WorkerAgentError)
  }

  // MARK: - State

  private enum Phase: Equatable {
    case working
    /// Stopping: no new work; running attempts may finish until the deadline.
    case draining(deadline: WorkerInstant)
    /// Waiting for the released attempts' trainers to exit.
    case terminating
    /// `goodbye` sent; waiting briefly for acknowledgements.
    case leaving(deadline: WorkerInstant)
    case finished
  }

  private enum Connection: Equatable {
    /// No socket; a new one is asked for at `reconnectAt` (nil: `connect` is under way).
    case disconnected(reconnectAt: WorkerInstant?)
    case connected(Link)
  }

  private struct Link: Equatable {
    var welcomed = false
    var lastHeard: WorkerInstant
    var helloSentAt: WorkerInstant
    var nextHeartbeat: WorkerInstant
  }

  private enum AttemptState: Equatable {
    /// An older attempt of the run is still exiting; taken over anyway at the deadline.
    case waitingForPredecessor(until: WorkerInstant)
    /// Its directory is being made.
    case preparing
    /// Waiting for its dataset.
    case fetching
    case training(ChildID)
  }

  private struct Attempt: Equatable {
    var isTraining: Bool { if case .training = state { true } else { false } }
    var assign: Assign
    var state: AttemptState
    var sha256: SHA256Digest { assign.dataset.sha256 }
    /// What must be in the cache before the trainer starts: the dataset, the checkpoint to resume from,
    /// and the shared BC stage to start from.
    var blobs: [DatasetRef] {
      var blobs = [assign.dataset]
      if let checkpoint = assign.checkpoint {
        blobs.append(
          DatasetRef(
            sha256: checkpoint.sha256, size: checkpoint.size,
            name: "checkpoint of run \(assign.attempt.run) at step \(checkpoint.step)"))
      }
      if let stage = assign.initFrom {
        blobs.append(
          DatasetRef(
            sha256: stage.sha256, size: stage.size,
            name: "BC stage of run \(assign.attempt.run) (step \(stage.step))"))
      }
      return blobs
    }
  }

  /// A trainer asked to stop (cancelled or released): reaped and cleaned up, never reported.
  private struct StoppingChild: Equatable {
    let key: AttemptID
    let killAt: WorkerInstant
    var killed = false
    /// Handed back (not cancelled): its newest checkpoint goes to the coordinator once it has exited.
    var handedBack = false
  }

  /// A dataset being fetched, one chunk request in flight.
  private struct DatasetFetch: Equatable {
    let dataset: DatasetRef
    /// Bytes in the cache: the offset of the next request.
    var received: Int
    var requestedAt: WorkerInstant
    /// When to ask again if no chunk has come: a chunk the coordinator dropped (flow control) or a `busy`
    /// answer must not leave the fetch waiting for ever.
    var askAgainAt: WorkerInstant
  }

  /// A chunk not received this long after it was asked for is asked for again.
  public static let chunkRetryInterval: Duration = .seconds(30)
  /// After a `busy` answer to a fetch, the chunk is asked for again this much later.
  public static let busyRetryDelay: Duration = .milliseconds(500)

  public let configuration: Configuration
  private var phase = Phase.working
  private var connection = Connection.disconnected(reconnectAt: nil)
  private var everWelcomed = false
  private var heartbeatInterval: Duration
  private var liveness: Int
  private var reconnectDelay: Duration
  /// Attempts this worker holds a lease for.
  private var attempts: [AttemptID: Attempt] = [:]
  private var stopping: [ChildID: StoppingChild] = [:]
  private var fetches: [SHA256Digest: DatasetFetch] = [:]
  /// Datasets known to be complete in the cache.
  private var cachedDatasets: Set<SHA256Digest> = []
  /// Results in the spool, not yet acknowledged.
  private var spooled: Set<AttemptID>
  /// Results sent on the current connection and not yet acknowledged.
  private var unacknowledged: Set<AttemptID> = []
  /// Attempts handed back, for `goodbye`.
  public private(set) var released: [AttemptID] = []
  private var nextChild = 0
  /// When the training attempts' checkpoints are sent next.
  private var nextCheckpointShipment: WorkerInstant?

  /// `spooled`: the results the spool holds at startup (announced in `hello`, sent after `welcome`).
  public init(configuration: Configuration, spooled: [AttemptID]) {
    self.configuration = configuration
    heartbeatInterval = configuration.heartbeatInterval
    liveness = configuration.liveness
    reconnectDelay = configuration.reconnectDelay
    self.spooled = Set(spooled)
  }

  // MARK: - Observations (for the shell's logs and tests)

  /// The attempts this worker holds a lease for, in a stable order.
  public var running: [AttemptID] { attempts.keys.sorted() }
  public var isConnected: Bool { if case .connected = connection { true } else { false } }
  public var isWelcomed: Bool { if case .connected(let link) = connection { link.welcomed } else { false } }
  public var isFinished: Bool { phase == .finished }
  public var isStopping: Bool { phase != .working }
  public var awaitingAcknowledgement: Set<AttemptID> { unacknowledged }
  public var spooledResults: Set<AttemptID> { spooled }
  /// The dataset fetches under way, with the offset of the chunk asked for.
  public var fetchOffsets: [SHA256Digest: Int] { fetches.mapValues(\.received) }
  /// Trainers asked to stop and not yet gone.
  public var stoppingChildren: [ChildID] { stopping.keys.sorted() }
  public var currentReconnectDelay: Duration { reconnectDelay }

  /// The earliest time `tick` has something to do (nil: nothing is timed).
  public var nextDeadline: WorkerInstant? {
    var deadlines: [WorkerInstant] = []
    switch connection {
    case .disconnected(let reconnectAt): if let reconnectAt { deadlines.append(reconnectAt) }
    case .connected(let link):
      if link.welcomed { deadlines.append(link.nextHeartbeat) }
      deadlines.append(link.lastHeard + silenceLimit)
    }
    for child in stopping.values where !child.killed { deadlines.append(child.killAt) }
    if let shipment = nextCheckpointShipment, attempts.values.contains(where: \.isTraining) {
      deadlines.append(shipment)
    }
    for attempt in attempts.values {
      if case .waitingForPredecessor(let until) = attempt.state { deadlines.append(until) }
    }
    switch phase {
    case .draining(let deadline), .leaving(let deadline): deadlines.append(deadline)
    default: break
    }
    return deadlines.min()
  }

  private var silenceLimit: Duration { heartbeatInterval * liveness }

  // MARK: - Connection

  /// The loop starts: connect.
  public mutating func start(now: WorkerInstant) -> [Action] {
    connection = .disconnected(reconnectAt: nil)
    nextCheckpointShipment = configuration.checkpointShipInterval.map { now + $0 }
    return [.connect]
  }

  /// The socket is open: say hello.
  public mutating func connected(now: WorkerInstant) -> [Action] {
    connection = .connected(Link(lastHeard: now, helloSentAt: now, nextHeartbeat: now))
    return [hello(now: now)]
  }

  /// The socket could not be opened: try again after the backoff delay.
  public mutating func connectionFailed(_ reason: String, now: WorkerInstant) -> [Action] {
    var actions: [Action] = [.log(.error, "cannot connect to the coordinator: \(reason)", run: nil)]
    actions += scheduleReconnect(now: now)
    return actions
  }

  /// The socket failed: close it, reconnect after the backoff delay.
  public mutating func connectionLost(_ reason: String, now: WorkerInstant) -> [Action] {
    var actions: [Action] = [.log(.error, "socket error: \(reason); reconnecting", run: nil)]
    actions += dropConnection(now: now)
    return actions
  }

  private mutating func dropConnection(now: WorkerInstant) -> [Action] {
    return [.disconnect] + scheduleReconnect(now: now)
  }

  private mutating func scheduleReconnect(now: WorkerInstant) -> [Action] {
    let delay = reconnectDelay
    connection = .disconnected(reconnectAt: now + delay)
    reconnectDelay = min(delay * 2, configuration.maxReconnectDelay)
    return [.log(.info, "reconnecting to the coordinator in \(milliseconds(delay)) ms", run: nil)]
  }

  private mutating func hello(now: WorkerInstant) -> Action {
    if case .connected(var link) = connection {
      link.helloSentAt = now
      connection = .connected(link)
    }
    return .send(
      .hello(
        Hello(
          workerID: configuration.workerID, host: configuration.host, slots: configuration.slots,
          trainerVersion: configuration.trainerVersion, running: running, spooled: spooled.sorted(),
          evaluates: configuration.evaluates)))
  }

  /// Any message from the coordinator, even one refused: it is alive.
  private mutating func heard(now: WorkerInstant) {
    reconnectDelay = configuration.reconnectDelay
    if case .connected(var link) = connection {
      link.lastHeard = now
      connection = .connected(link)
    }
  }

  // MARK: - Messages from the coordinator

  public mutating func welcomeReceived(_ welcome: Welcome, now: WorkerInstant) -> [Action] {
    heard(now: now)
    guard case .connected(var link) = connection else { return [] }
    let first = !everWelcomed
    everWelcomed = true
    heartbeatInterval = .milliseconds(max(welcome.heartbeatIntervalMilliseconds, 10))
    liveness = max(welcome.liveness, 1)
    link.welcomed = true
    link.nextHeartbeat = now + heartbeatInterval
    connection = .connected(link)
    var actions: [Action] = [
      .log(
        .info,
        (first ? "connected to the coordinator" : "welcomed by the coordinator")
          + " (heartbeat every \(welcome.heartbeatIntervalMilliseconds) ms, liveness \(welcome.liveness))",
        run: nil)
    ]
    for ref in welcome.cancel {
      actions += cancel(ref, reason: "the coordinator no longer wants it", now: now)
    }
    // Every result the coordinator has not acknowledged, again (it may have restarted).
    for key in spooled.sorted() { actions.append(.sendResult(key)) }
    // A fetch asked before this hello may have been lost with the old connection.
    for sha256 in fetches.keys.sorted() where fetches[sha256]!.requestedAt <= link.helloSentAt {
      actions.append(requestChunk(sha256, now: now))
    }
    return actions
  }

  public mutating func pongReceived(_ pong: Pong, now: WorkerInstant) -> [Action] {
    heard(now: now)
    guard !pong.known, case .connected(var link) = connection else { return [] }
    link.welcomed = false
    connection = .connected(link)
    return [
      .log(
        .notice, "the coordinator does not know this worker (it restarted?); saying hello again", run: nil),
      hello(now: now),
    ]
  }

  /// An assignment; `cached` is what the dataset cache holds of its dataset now, `alsoHeld` what it holds
  /// of the checkpoint it resumes from and the BC stage it starts from.
  public mutating func assignReceived(
    _ assign: Assign, cached: CachedDataset, alsoHeld: [SHA256Digest: CachedDataset] = [:], now: WorkerInstant
  ) -> [Action] {
    heard(now: now)
    let key = assign.attempt
    let run = key.run
    let specRunID = assign.spec.runID
    guard specRunID == run.rawValue else {
      return [.log(.error, "assign ignored: its spec hashes to run id \(specRunID), not \(run)", run: run)]
    }
    guard assign.spec.datasetSHA256 == assign.dataset.sha256.rawValue else {
      return [
        .log(
          .error,
          "assign ignored: the spec's dataset is \(assign.spec.datasetSHA256), the assignment's \(assign.dataset.sha256)",
          run: run)
      ]
    }
    if phase != .working {
      released.append(key)
      return [.log(.notice, "assign of attempt \(key.number) released: the worker is stopping", run: run)]
    }
    if attempts[key] != nil {
      return [.log(.info, "attempt \(key.number) is already running here; assign ignored", run: run)]
    }
    if spooled.contains(key) {
      return [
        .log(.info, "attempt \(key.number) already finished here; sending its result again", run: run),
        .sendResult(key),
      ]
    }
    switch cached {
    case .complete: cachedDatasets.insert(assign.dataset.sha256)
    case .partial: cachedDatasets.remove(assign.dataset.sha256)
    }
    for (sha256, held) in alsoHeld where sha256 != assign.dataset.sha256 {
      switch held {
      case .complete: cachedDatasets.insert(sha256)
      case .partial(let bytes):
        cachedDatasets.remove(sha256)
        if bytes > 0, fetches[sha256] == nil { partialBytes[sha256] = bytes }
      }
    }
    var actions: [Action] = []
    // An older attempt of the same run still running here is no longer current.
    for other in attempts.keys.sorted() where other.run == run {
      actions += cancel(other, reason: "superseded by attempt \(key.number)", now: now)
    }
    // It must be gone before the new attempt takes the run's directory: no grace for it.
    for child in stopping.keys.sorted() where stopping[child]!.key.run == run && !stopping[child]!.killed {
      stopping[child]!.killed = true
      actions.append(.signal(child, SIGKILL))
    }
    if attempts.count >= configuration.slots {
      actions.append(
        .log(
          .warning, "assigned attempt \(key.number) although all \(configuration.slots) slots are busy",
          run: run))
    }
    actions.append(
      .log(
        .info,
        "assigned attempt \(key.number) (task \(assign.spec.task), dataset \(assign.dataset.name))", run: run)
    )
    if case .partial(let bytes) = cached, fetches[assign.dataset.sha256] == nil {
      partialBytes[assign.dataset.sha256] = bytes
    }
    if stopping.values.contains(where: { $0.key.run == run }) {
      attempts[key] = Attempt(
        assign: assign, state: .waitingForPredecessor(until: now + configuration.predecessorWait))
    } else {
      attempts[key] = Attempt(assign: assign, state: .preparing)
      actions.append(.prepareDirectory(key))
    }
    return actions
  }

  /// What earlier fetches left of datasets not being fetched now.
  private var partialBytes: [SHA256Digest: Int] = [:]

  public mutating func ackReceived(_ ack: Ack, now: WorkerInstant) -> [Action] {
    heard(now: now)
    let key = ack.attempt
    unacknowledged.remove(key)
    spooled.remove(key)
    var actions: [Action] = []
    if let rejected = ack.rejected {
      // The coordinator recorded the attempt as failed: the result lacked what the run asked for.
      actions.append(.log(.error, "result of \(key) not recorded: \(loggable(rejected))", run: key.run))
    }
    actions.append(.deleteSpooled(key, duplicate: ack.duplicate))
    if attempts[key] == nil, !stopping.values.contains(where: { $0.key == key }) {
      actions.append(.removeAttemptDirectory(key))
    }
    return actions
  }

  public mutating func cancelReceived(_ cancel: Cancel, now: WorkerInstant) -> [Action] {
    heard(now: now)
    return self.cancel(cancel.attempt, reason: "cancelled by the coordinator", now: now)
  }

  /// A chunk of a dataset, with the message's attachments (one: the bytes).
  public mutating func chunkReceived(_ chunk: Chunk, attachments: [Data], now: WorkerInstant) -> [Action] {
    heard(now: now)
    guard let fetch = fetches[chunk.sha256] else {
      return [.log(.debug, "chunk of a dataset no longer fetched ignored (sha256 \(chunk.sha256))", run: nil)]
    }
    guard attachments.count == 1 else {
      return failFetch(
        chunk.sha256, reason: "a chunk came with \(attachments.count) attachments instead of 1", now: now)
    }
    guard chunk.offset == fetch.received else {
      // An answer to a request sent before a reconnection: the current request is still in flight.
      return [
        .log(.debug, "stale chunk at offset \(chunk.offset) ignored (have \(fetch.received) bytes)", run: nil)
      ]
    }
    guard !attachments[0].isEmpty || chunk.offset >= chunk.total else {
      return failFetch(
        chunk.sha256, reason: "the coordinator sent no bytes at offset \(chunk.offset) of \(chunk.total)",
        now: now)
    }
    return [.writeChunk(chunk, attachments[0])]
  }

  /// The coordinator's `error`: acted on by its code, never its text.
  public mutating func errorReceived(_ error: ErrorMessage, now: WorkerInstant) -> [Action] {
    heard(now: now)
    var actions: [Action] = [
      .log(.error, "the coordinator refused a message: \(loggable(error.message)) (\(error.code))", run: nil)
    ]
    if error.code == .versionMismatch {
      return actions + fail(.versionMismatch(error.message))
    }
    // Flow control: the chunk was not sent; ask for it again shortly (docs/PROTOCOL.md, "Flow control").
    if error.code == .busy {
      if let subject = error.subject.flatMap(SHA256Digest.init(rawValue:)), fetches[subject] != nil {
        fetches[subject]!.askAgainAt = now + Self.busyRetryDelay
      }
      return [.log(.info, "the coordinator is busy: \(loggable(error.message))", run: nil)]
    }
    // With CURVE, this worker id belongs to another key: nothing this worker says will be accepted.
    if error.code == .keyMismatch, let key = configuration.publicKey, error.subject == key {
      return actions + fail(.identityRefused(error.message))
    }
    // A fetch of a dataset the coordinator does not have (or will not send): its attempts cannot run.
    if error.code == .unknownDataset || error.code == .invalidInput,
      let subject = error.subject.flatMap(SHA256Digest.init(rawValue:)), fetches[subject] != nil
    {
      actions += failFetch(subject, reason: "the coordinator refused to send it: \(error.message)", now: now)
    }
    return actions
  }

  /// A message that could not be decoded: refused (the coordinator logs it and keeps serving), except
  /// another protocol version, which stops the worker.
  public mutating func messageRefused(_ error: WireError, now: WorkerInstant) -> [Action] {
    heard(now: now)
    if case .versionMismatch = error {
      return fail(.versionMismatch(error.description))
    }
    return [
      .log(.warning, "refused a message from the coordinator: \(error)", run: nil),
      .send(.error(ErrorMessage(error))),
    ]
  }

  // MARK: - Results of the shell's actions

  public mutating func directoryPrepared(_ key: AttemptID, now: WorkerInstant) -> [Action] {
    guard var attempt = attempts[key], attempt.state == .preparing else { return [] }
    let missing = attempt.blobs.filter { !cachedDatasets.contains($0.sha256) }
    if missing.isEmpty {
      return spawn(key)
    }
    attempt.state = .fetching
    attempts[key] = attempt
    var actions: [Action] = []
    for blob in missing where fetches[blob.sha256] == nil {
      let sha256 = blob.sha256
      fetches[sha256] = DatasetFetch(
        dataset: blob, received: partialBytes.removeValue(forKey: sha256) ?? 0, requestedAt: now,
        askAgainAt: now + Self.chunkRetryInterval)
      actions.append(
        .log(.info, "fetching \(blob.name) (sha256 \(sha256), \(blob.size) bytes)", run: key.run))
      actions.append(requestChunk(sha256, now: now))
    }
    return actions
  }

  /// Whether everything the attempt needs is in the cache.
  private func isReady(_ attempt: Attempt) -> Bool {
    attempt.blobs.allSatisfy { cachedDatasets.contains($0.sha256) }
  }

  /// The attempt could not start (no directory, no trainer): it fails, with `reason` as its stderr.
  public mutating func attemptFailed(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    guard attempts.removeValue(forKey: key) != nil else { return [] }
    return [.log(.error, "attempt \(key.number) failed: \(reason)", run: key.run)]
      + spoolFailure(key, stderrTail: reason)
  }

  /// A chunk is in the cache; `received` is what the cache now holds.
  public mutating func chunkWritten(
    _ sha256: SHA256Digest, received: Int, complete: Bool, now: WorkerInstant
  ) -> [Action] {
    guard var fetch = fetches[sha256] else { return [] }
    guard complete else {
      fetch.received = received
      fetches[sha256] = fetch
      return [requestChunk(sha256, now: now)]
    }
    fetches[sha256] = nil
    cachedDatasets.insert(sha256)
    var actions: [Action] = [
      .log(.info, "\(fetch.dataset.name) received and verified (sha256 \(sha256))", run: nil)
    ]
    for key in attempts.keys.sorted() where attempts[key]!.state == .fetching && isReady(attempts[key]!) {
      actions += spawn(key)
    }
    return actions
  }

  /// The chunk could not be written (or the dataset does not match its hash).
  public mutating func chunkFailed(_ sha256: SHA256Digest, reason: String, now: WorkerInstant) -> [Action] {
    failFetch(sha256, reason: reason, now: now)
  }

  public mutating func resultSpooled(_ key: AttemptID, now: WorkerInstant) -> [Action] {
    spooled.insert(key)
    return [.sendResult(key)]
  }

  /// The result could not be written to the spool, so it is not sent.
  public mutating func spoolFailed(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    [
      .log(
        .critical, "cannot spool the result of attempt \(key.number), so it is not sent: \(reason)",
        run: key.run)
    ]
  }

  /// The acknowledged result could not be deleted from the spool: it is still there, so it is
  /// announced and sent again like any other spooled result (the coordinator acknowledges it again).
  public mutating func spoolDeleteFailed(_ key: AttemptID, now: WorkerInstant) -> [Action] {
    spooled.insert(key)
    return []
  }

  /// The result left (queued on the socket): its acknowledgement is awaited when leaving.
  public mutating func resultSent(_ key: AttemptID, now: WorkerInstant) -> [Action] {
    if spooled.contains(key) { unacknowledged.insert(key) }
    return []
  }

  // MARK: - Children

  /// A trainer exited (and was reaped).
  public mutating func childExited(_ child: ChildID, exit: TrainerExit, now: WorkerInstant) -> [Action] {
    if let stopped = stopping.removeValue(forKey: child) {
      var actions: [Action] = []
      let key = stopped.key
      if stopped.handedBack { actions.append(.shipCheckpoint(key)) }
      if attempts[key] == nil, !spooled.contains(key) { actions.append(.removeAttemptDirectory(key)) }
      // A newer attempt of the run waiting for this one to go takes the directory now.
      for other in attempts.keys.sorted() where other.run == key.run {
        guard case .waitingForPredecessor = attempts[other]!.state,
          !stopping.values.contains(where: { $0.key.run == key.run })
        else { continue }
        attempts[other]!.state = .preparing
        actions.append(.prepareDirectory(other))
      }
      return actions
    }
    guard let key = attempts.first(where: { $0.value.state == .training(child) })?.key else { return [] }
    attempts[key] = nil
    let run = key.run
    if exit.terminatedOnRequest {
      // Someone (not this loop) stopped it: not a trainer failure, so never reported as one.
      released.append(key)
      return [
        .log(.notice, "trainer of attempt \(key.number) was stopped on request; not reported", run: run),
        .shipCheckpoint(key),
        .removeAttemptDirectory(key),
      ]
    }
    if exit.interruptedFromOutside {
      // Handed back (in `goodbye` when the worker is stopping too, else by its lease lapsing), so
      // the run is requeued with no failure counted and the worker is not quarantined for it.
      released.append(key)
      return [
        .log(
          .notice,
          "trainer of attempt \(key.number) was stopped by signal \(exit.signal ?? 0) from outside the worker;"
            + " handed back (the job is being stopped? not reported as a trainer failure)",
          run: run),
        .shipCheckpoint(key),
        .removeAttemptDirectory(key),
      ]
    }
    let result = AttemptResult(key: key, exit: exit)
    let status = exit.exitStatus.map { "exit status \($0)" } ?? "signal \(exit.signal ?? 0)"
    let wall = String(format: "%.1f", exit.wallSeconds)
    let line = "attempt \(key.number) \(result.outcome.rawValue) (\(status), \(wall) s)"
    let log: Action =
      result.outcome == .succeeded
      ? .log(.info, line, run: run)
      : .log(.warning, "\(line): \(exit.stderrTail.split(separator: "\n").last ?? "")", run: run)
    return [log, .spool(SpoolRequest(result: result, withArtifacts: true))]
  }

  // MARK: - Time

  /// Whatever is due at `now`: reconnection, heartbeat, liveness, SIGKILL escalation, the end of a
  /// predecessor's wait, and the stop's next step.
  public mutating func tick(now: WorkerInstant) -> [Action] {
    var actions: [Action] = []
    switch connection {
    case .disconnected(let reconnectAt):
      if let reconnectAt, now >= reconnectAt, phase != .finished {
        connection = .disconnected(reconnectAt: nil)
        actions.append(.connect)
      }
    case .connected(var link):
      let silence = now - link.lastHeard
      if silence > silenceLimit {
        // Never answered since start, or lost after answering: two different problems for a user.
        var text =
          everWelcomed
          ? "lost the coordinator at \(configuration.endpoint): no answer for \(milliseconds(silence)) ms"
          : "nothing answered at \(configuration.endpoint) since start"
        if !link.welcomed && configuration.usesCurve {
          // With CURVE, a refused handshake looks the same as a coordinator that is down.
          text +=
            " (if it is running: is --server-key its public key, and this worker's .pub authorized there?)"
        }
        if !attempts.isEmpty {
          text += "; training goes on, results stay spooled"
        } else if !spooled.isEmpty || !unacknowledged.isEmpty {
          text += "; finished results stay spooled until it answers"
        }
        actions.append(.log(.warning, text + "; reconnecting", run: nil))
        actions += dropConnection(now: now)
      } else {
        if link.welcomed, now >= link.nextHeartbeat {
          link.nextHeartbeat = now + heartbeatInterval
          connection = .connected(link)
          actions.append(.send(.heartbeat(Heartbeat(workerID: configuration.workerID, running: running))))
        }
        if link.welcomed {
          for sha256 in fetches.keys.sorted() where now >= fetches[sha256]!.askAgainAt {
            actions.append(requestChunk(sha256, now: now))
          }
        }
      }
    }
    if let interval = configuration.checkpointShipInterval, let due = nextCheckpointShipment, now >= due {
      nextCheckpointShipment = now + interval
      for key in attempts.keys.sorted() where attempts[key]!.isTraining {
        actions.append(.shipCheckpoint(key))
      }
    }
    for child in stopping.keys.sorted() {
      guard let stopped = stopping[child], !stopped.killed, now >= stopped.killAt else { continue }
      stopping[child]!.killed = true
      actions.append(
        .log(
          .warning,
          "trainer of \(stopped.key) ignored SIGTERM for \(milliseconds(configuration.terminationGrace)) ms; killing it",
          run: stopped.key.run))
      actions.append(.signal(child, SIGKILL))
    }
    for key in attempts.keys.sorted() {
      guard case .waitingForPredecessor(let until) = attempts[key]!.state, now >= until else { continue }
      attempts[key]!.state = .preparing
      actions.append(
        .log(
          .warning, "an older attempt of the run has not exited; attempt \(key.number) starts anyway",
          run: key.run)
      )
      actions.append(.prepareDirectory(key))
    }
    actions += advanceStop(now: now)
    return actions
  }

  // MARK: - Stopping

  /// Stop gracefully (running attempts get the grace period), or `immediately` (they are handed back
  /// now). A second request may make the first immediate.
  public mutating func stopRequested(immediately: Bool, now: WorkerInstant) -> [Action] {
    switch phase {
    case .working:
      var actions: [Action] = []
      // Attempts not training yet have not started: hand them back at once.
      for key in attempts.keys.sorted() {
        if case .training = attempts[key]!.state { continue }
        actions += release(key, reason: "the worker is stopping", now: now)
      }
      fetches = [:]
      let deadline = immediately ? now : now + configuration.grace
      phase = .draining(deadline: deadline)
      actions.append(
        .log(
          .notice,
          "stopping: taking no more work; \(attempts.count) running attempts may finish within"
            + " \(milliseconds(deadline - now)) ms",
          run: nil))
      return actions + advanceStop(now: now)
    case .draining(let deadline) where immediately && deadline > now:
      phase = .draining(deadline: now)
      return advanceStop(now: now)
    default:
      return []
    }
  }

  private mutating func advanceStop(now: WorkerInstant) -> [Action] {
    switch phase {
    case .working, .finished:
      return []
    case .draining(let deadline):
      guard attempts.isEmpty || now >= deadline else { return [] }
      var actions: [Action] = []
      for key in attempts.keys.sorted() {
        actions += release(key, reason: "the grace period is over", now: now)
      }
      phase = .terminating
      return actions + advanceStop(now: now)
    case .terminating:
      guard stopping.isEmpty else { return [] }
      phase = .leaving(deadline: now + configuration.acknowledgementWait)
      return [
        .send(.goodbye(Goodbye(workerID: configuration.workerID, released: released))),
        .log(
          .notice, "goodbye sent (\(released.count) released, \(unacknowledged.count) results awaiting acks)",
          run: nil),
      ] + advanceStop(now: now)
    case .leaving(let deadline):
      guard unacknowledged.isEmpty || !isConnected || now >= deadline else { return [] }
      var actions: [Action] = []
      if !unacknowledged.isEmpty {
        actions.append(
          .log(.notice, "\(unacknowledged.count) results not acknowledged yet; they stay spooled", run: nil))
      }
      phase = .finished
      return actions + [.finish]
    }
  }

  /// Hands an attempt back to the coordinator: stops its trainer (if any), never reports it.
  private mutating func release(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    guard let attempt = attempts.removeValue(forKey: key) else { return [] }
    released.append(key)
    return [.log(.notice, "releasing attempt \(key.number): \(reason)", run: key.run)]
      + stopTrainer(key, attempt, handedBack: true, now: now)
  }

  private mutating func cancel(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    guard let attempt = attempts.removeValue(forKey: key) else {
      return [
        .log(.info, "cancel of attempt \(key.number), which is not running here; nothing to do", run: key.run)
      ]
    }
    return [.log(.notice, "attempt \(key.number) stopped: \(reason)", run: key.run)]
      + stopTrainer(key, attempt, now: now)
  }

  /// Asks the attempt's trainer to stop (SIGTERM, SIGKILL after the termination grace); an attempt
  /// that never started just loses its directory. The caller has removed it from `attempts`.
  private mutating func stopTrainer(
    _ key: AttemptID, _ attempt: Attempt, handedBack: Bool = false, now: WorkerInstant
  ) -> [Action] {
    for sha256 in attempt.blobs.map(\.sha256) {
      guard let fetch = fetches[sha256],
        !attempts.values.contains(where: { $0.blobs.contains { $0.sha256 == sha256 } })
      else { continue }
      // Nobody waits for it any more; a later fetch resumes where this one stopped.
      fetches[sha256] = nil
      partialBytes[sha256] = fetch.received
    }
    switch attempt.state {
    case .training(let child):
      stopping[child] = StoppingChild(
        key: key, killAt: now + configuration.terminationGrace, handedBack: handedBack)
      return [.signal(child, SIGTERM)]
    case .waitingForPredecessor:
      return []
    case .preparing, .fetching:
      return [.removeAttemptDirectory(key)]
    }
  }

  /// On a fatal error: every trainer is killed, nothing is reported.
  private mutating func fail(_ error: WorkerAgentError) -> [Action] {
    var actions: [Action] = [.log(.critical, "worker stopping: \(error)", run: nil)]
    for key in attempts.keys.sorted() {
      if case .training(let child) = attempts[key]!.state { actions.append(.signal(child, SIGKILL)) }
    }
    for child in stopping.keys.sorted() { actions.append(.signal(child, SIGKILL)) }
    phase = .finished
    return actions + [.fail(error)]
  }

  // MARK: - Datasets and trainers

  /// Asks for the next piece of a dataset: from what the cache holds, at most one chunk.
  private mutating func requestChunk(_ sha256: SHA256Digest, now: WorkerInstant) -> Action {
    let fetch = fetches[sha256]!
    fetches[sha256]!.requestedAt = now
    fetches[sha256]!.askAgainAt = now + Self.chunkRetryInterval
    let length = max(min(DatasetCache.chunkSize, fetch.dataset.size - fetch.received), 1)
    return .send(.fetch(Fetch(sha256: sha256, offset: fetch.received, length: length)))
  }

  /// The dataset cannot be had: every attempt waiting for it fails, with the reason as its stderr.
  private mutating func failFetch(_ sha256: SHA256Digest, reason: String, now: WorkerInstant) -> [Action] {
    guard let fetch = fetches.removeValue(forKey: sha256) else { return [] }
    let text = "trac-sweep worker: cannot get dataset \(fetch.dataset.name) (sha256 \(sha256)): \(reason)"
    var actions: [Action] = []
    for key in attempts.keys.sorted() where attempts[key]!.state == .fetching {
      if attempts[key]!.assign.checkpoint?.sha256 == sha256
        || attempts[key]!.assign.initFrom?.sha256 == sha256
      {
        // Without its checkpoint or its BC stage the run trains from step 0: slower, never wrong.
        if attempts[key]!.assign.checkpoint?.sha256 == sha256 { attempts[key]!.assign.checkpoint = nil }
        if attempts[key]!.assign.initFrom?.sha256 == sha256 { attempts[key]!.assign.initFrom = nil }
        actions.append(
          .log(.warning, "cannot get \(fetch.dataset.name) (\(reason)); training from step 0", run: key.run))
        if isReady(attempts[key]!) { actions += spawn(key) }
        continue
      }
      guard attempts[key]!.sha256 == sha256 else { continue }
      attempts[key] = nil
      actions.append(.log(.error, "attempt \(key.number) failed: \(text)", run: key.run))
      actions += spoolFailure(key, stderrTail: text)
    }
    return actions
  }

  private mutating func spawn(_ key: AttemptID) -> [Action] {
    let child = ChildID(nextChild)
    nextChild += 1
    attempts[key]!.state = .training(child)
    // The shell moves a run's checkpoint out of the cache into the attempt's checkpoint directory.
    if let checkpoint = attempts[key]!.assign.checkpoint { cachedDatasets.remove(checkpoint.sha256) }
    return [.spawn(child, attempts[key]!.assign)]
  }

  /// An attempt that failed before its trainer could run (no dataset, no directory, no program).
  private func spoolFailure(_ key: AttemptID, stderrTail: String) -> [Action] {
    let result = AttemptResult(
      key: key, outcome: .failed, exitStatus: nil, stderrTail: stderrTail, wallSeconds: 0)
    return [.spool(SpoolRequest(result: result, withArtifacts: false))]
  }
}

func milliseconds(_ duration: Duration) -> Int {
  Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
}
