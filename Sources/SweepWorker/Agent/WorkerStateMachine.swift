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
/// It routes each input to small machines, one per concern, each a State enum whose cases carry the
/// data valid in them: the link (`LinkMachine`), the blobs fetched (`BlobFetches`), the attempts leased
/// (`AttemptLeases`), trainers asked to stop (`TrainerTerminations`), the results awaiting their `ack`
/// (`ResultOutbox`), checkpoint shipping and progress reports (`CheckpointShipping`,
/// `ProgressReports`) and the stop (`StopMachine`); it joins what they answer into actions.
///
/// Waits are timers here, never blocking calls: heartbeats, liveness, reconnection with backoff,
/// the grace period, SIGKILL after the termination grace, the wait for an older attempt of a run to
/// exit before a newer one takes its directory, and the wait for acknowledgements after `goodbye`.
/// They fire in `tick(now:)`, which the shell calls on every turn of its loop (and at the latest at
/// `nextDeadline`).
public struct WorkerStateMachine: Sendable {
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
    /// Start the trainer for the attempt (what it needs is in the cache; a checkpoint to resume from is
    /// moved into its directory, reporting `resumeFailed` if it cannot be); on failure report
    /// `attemptFailed`, else `childExited` once it is gone.
    case spawn(ChildID, Assign)
    case signal(ChildID, Int32)
    /// Write the result to the spool; report `resultSpooled` or `spoolFailed`.
    case spool(SpoolRequest)
    /// Delete the acknowledged result from the spool.
    case deleteSpooled(AttemptID, duplicate: Bool)
    /// Delete the attempt's directory; report `attemptDirectoryRemoved`.
    case removeAttemptDirectory(AttemptID)
    /// Read the attempt's newest checkpoint, if its trainer wrote one: report `checkpointRead` (or
    /// `checkpointUnreadable`).
    case shipCheckpoint(AttemptID)
    /// Send the checkpoint read (one attachment: its bytes); report `checkpointSent` if it was queued.
    case sendCheckpoint(AttemptID, CheckpointRef, Data)
    /// Read the attempts' progress from their trainers' files; report `progressRead` (a heartbeat is due).
    case readProgress([AttemptID])
    /// Append the chunk to the blob cache; report `chunkWritten` or `chunkFailed`.
    case writeChunk(BlobRef, Chunk, Data)
    case log(Logger.Level, String, run: RunID?)
    /// Stop the loop: the worker is done (let the goodbye leave before the socket closes).
    case finish
    /// Stop the loop with this error (every trainer has been sent SIGKILL).
    case fail(WorkerAgentError)
  }

  // MARK: - State

  /// A chunk not received this long after it was asked for is asked for again.
  public static let chunkRetryInterval = BlobFetches.chunkRetryInterval
  /// After a `busy` answer to a fetch, the chunk is asked for again this much later.
  public static let busyRetryDelay = BlobFetches.busyRetryDelay

  public let configuration: Configuration
  public private(set) var link: LinkMachine
  public private(set) var blobs = BlobFetches()
  public private(set) var leases = AttemptLeases()
  public private(set) var terminations: TrainerTerminations
  public private(set) var outbox: ResultOutbox
  public private(set) var shipping: CheckpointShipping
  public private(set) var progress = ProgressReports()
  public private(set) var stop: StopMachine

  /// `spooled`: the results the spool holds at startup (announced in `hello`, sent after `welcome`).
  public init(configuration: Configuration, spooled: [AttemptID]) {
    self.configuration = configuration
    link = LinkMachine(
      heartbeatInterval: configuration.heartbeatInterval, liveness: configuration.liveness,
      reconnectDelay: configuration.reconnectDelay, maxReconnectDelay: configuration.maxReconnectDelay)
    terminations = TrainerTerminations(grace: configuration.terminationGrace)
    outbox = ResultOutbox(spooled: spooled)
    shipping = CheckpointShipping(interval: configuration.checkpointShipInterval)
    stop = StopMachine(grace: configuration.grace, acknowledgementWait: configuration.acknowledgementWait)
  }

  // MARK: - Observations (for the shell's logs and tests)

  /// The attempts this worker holds a lease for, in a stable order.
  public var running: [AttemptID] { leases.keys }
  public var released: [AttemptID] { leases.released }
  public var isConnected: Bool { link.isConnected }
  public var isWelcomed: Bool { link.isWelcomed }
  public var isFinished: Bool { stop.isFinished }
  public var isStopping: Bool { stop.isStopping }
  public var awaitingAcknowledgement: Set<AttemptID> { outbox.unacknowledged }
  public var spooledResults: Set<AttemptID> { outbox.spooled }
  /// The fetches under way, with the offset of the chunk asked for.
  public var fetchOffsets: [SHA256Digest: Int] { blobs.offsets }
  /// Trainers asked to stop and not yet gone.
  public var stoppingChildren: [ChildID] { terminations.keys }
  public var currentReconnectDelay: Duration { link.reconnectDelay }

  /// The earliest time `tick` has something to do (nil: nothing is timed).
  public var nextDeadline: WorkerInstant? {
    var deadlines = [link.nextDeadline, terminations.nextDeadline, leases.nextDeadline, stop.nextDeadline]
    if !leases.training.isEmpty { deadlines.append(shipping.nextDeadline) }
    return deadlines.compactMap { $0 }.min()
  }

  // MARK: - Connection

  /// The loop starts: connect.
  public mutating func start(now: WorkerInstant) -> [Action] {
    link.connect()
    shipping.start(now: now)
    return [.connect]
  }

  /// The socket is open: say hello.
  public mutating func connected(now: WorkerInstant) -> [Action] {
    link.connected(now: now)
    return [hello()]
  }

  /// The socket could not be opened: try again after the backoff delay.
  public mutating func connectionFailed(_ reason: String, now: WorkerInstant) -> [Action] {
    [.log(.error, "cannot connect to the coordinator: \(reason)", run: nil), scheduleReconnect(now: now)]
  }

  /// The socket failed: close it, reconnect after the backoff delay.
  public mutating func connectionLost(_ reason: String, now: WorkerInstant) -> [Action] {
    [
      .log(.error, "socket error: \(reason); reconnecting", run: nil), .disconnect,
      scheduleReconnect(now: now),
    ]
  }

  private mutating func scheduleReconnect(now: WorkerInstant) -> Action {
    let delay = link.disconnected(now: now)
    return .log(.info, "reconnecting to the coordinator in \(delay.wholeMilliseconds) ms", run: nil)
  }

  private func hello() -> Action {
    .send(
      .hello(
        Hello(
          workerID: configuration.workerID, host: configuration.host, slots: configuration.slots,
          trainerVersion: configuration.trainerVersion, running: running, spooled: outbox.spooled.sorted(),
          evaluates: configuration.evaluates, blas: configuration.blas)))
  }

  // MARK: - Messages from the coordinator

  public mutating func welcomeReceived(_ welcome: Welcome, now: WorkerInstant) -> [Action] {
    link.heard(now: now)
    guard let welcomed = link.welcomed(welcome, now: now) else { return [] }
    var actions: [Action] = [
      .log(
        .info,
        (welcomed.first ? "connected to the coordinator" : "welcomed by the coordinator")
          + " (heartbeat every \(welcome.heartbeatIntervalMilliseconds) ms, liveness \(welcome.liveness))",
        run: nil)
    ]
    for ref in welcome.cancel {
      actions += cancel(ref, reason: "the coordinator no longer wants it", now: now)
    }
    // Every result the coordinator has not acknowledged, again (it may have restarted).
    for key in outbox.spooled.sorted() { actions.append(.sendResult(key)) }
    // A fetch asked before this hello may have been lost with the old connection.
    actions += blobs.resend(sentBefore: welcomed.helloSentAt, now: now).map { .send(.fetch($0)) }
    return actions
  }

  public mutating func pongReceived(_ pong: Pong, now: WorkerInstant) -> [Action] {
    link.heard(now: now)
    guard !pong.known, link.isConnected else { return [] }
    link.helloSent(now: now)
    return [
      .log(
        .notice, "the coordinator does not know this worker (it restarted?); saying hello again", run: nil),
      hello(),
    ]
  }

  /// An assignment; `cached` is what the blob cache holds of its dataset now, `alsoHeld` what it holds
  /// of the checkpoint it resumes from and the BC stage it starts from.
  public mutating func assignReceived(
    _ assign: Assign, cached: CachedBlob, alsoHeld: [SHA256Digest: CachedBlob] = [:], now: WorkerInstant
  ) -> [Action] {
    link.heard(now: now)
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
    if stop.isStopping {
      leases.handedBack(key)
      return [.log(.notice, "assign of attempt \(key.number) released: the worker is stopping", run: run)]
    }
    if leases[key] != nil {
      return [.log(.info, "attempt \(key.number) is already running here; assign ignored", run: run)]
    }
    if outbox.contains(key) {
      return [
        .log(.info, "attempt \(key.number) already finished here; sending its result again", run: run),
        .sendResult(key),
      ]
    }
    blobs.note(assign.dataset.sha256, cached)
    for (sha256, held) in alsoHeld.sorted(by: { $0.key < $1.key }) where sha256 != assign.dataset.sha256 {
      blobs.note(sha256, held)
    }
    var actions: [Action] = []
    // An older attempt of the same run still running here is no longer current.
    for other in leases.keys where other.run == run {
      actions += cancel(other, reason: "superseded by attempt \(key.number)", now: now)
    }
    // It must be gone before the new attempt takes the run's directory: no grace for it.
    actions += terminations.killNow(run: run).map { .signal($0, SIGKILL) }
    if leases.count >= configuration.slots {
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
    if terminations.isExiting(run: run) {
      leases.admit(assign, waitUntil: now + configuration.predecessorWait)
    } else {
      leases.admit(assign, waitUntil: nil)
      actions.append(.prepareDirectory(key))
    }
    return actions
  }

  public mutating func ackReceived(_ ack: Ack, now: WorkerInstant) -> [Action] {
    link.heard(now: now)
    let key = ack.attempt
    outbox.acknowledged(key)
    var actions: [Action] = []
    if let rejected = ack.rejected {
      // The coordinator recorded the attempt as failed: the result lacked what the run asked for.
      actions.append(.log(.error, "result of \(key) not recorded: \(loggable(rejected))", run: key.run))
    }
    actions.append(.deleteSpooled(key, duplicate: ack.duplicate))
    if leases[key] == nil, !terminations.isExiting(key) {
      actions.append(.removeAttemptDirectory(key))
    }
    return actions
  }

  public mutating func cancelReceived(_ cancel: Cancel, now: WorkerInstant) -> [Action] {
    link.heard(now: now)
    return self.cancel(cancel.attempt, reason: "cancelled by the coordinator", now: now)
  }

  /// A chunk of a blob, with the message's attachments (one: the bytes).
  public mutating func chunkReceived(_ chunk: Chunk, attachments: [Data], now: WorkerInstant) -> [Action] {
    link.heard(now: now)
    switch blobs.chunkReceived(chunk, attachments: attachments) {
    case .notFetched:
      return [.log(.debug, "chunk of a file no longer fetched ignored (sha256 \(chunk.sha256))", run: nil)]
    case .stale(let have):
      return [.log(.debug, "stale chunk at offset \(chunk.offset) ignored (have \(have) bytes)", run: nil)]
    case .failed(let reason):
      return failFetch(chunk.sha256, reason: reason, now: now)
    case .write(let blob, let bytes):
      return [.writeChunk(blob, chunk, bytes)]
    }
  }

  /// The coordinator's `error`: acted on by its code, never its text.
  public mutating func errorReceived(_ error: ErrorMessage, now: WorkerInstant) -> [Action] {
    link.heard(now: now)
    var actions: [Action] = [
      .log(.error, "the coordinator refused a message: \(loggable(error.message)) (\(error.code))", run: nil)
    ]
    if error.code == .versionMismatch {
      return actions + fail(.versionMismatch(error.message))
    }
    let subject = error.subject.flatMap(SHA256Digest.init(rawValue:))
    // Flow control: the chunk was not sent; ask for it again shortly (docs/PROTOCOL.md, "Flow control").
    if error.code == .busy {
      if let subject { blobs.busy(subject, now: now) }
      return [.log(.info, "the coordinator is busy: \(loggable(error.message))", run: nil)]
    }
    // With CURVE, this worker id belongs to another key: nothing this worker says will be accepted.
    if error.code == .keyMismatch, let key = configuration.publicKey, error.subject == key {
      return actions + fail(.identityRefused(error.message))
    }
    // A fetch of a blob the coordinator does not have (or will not send): what needs it cannot run as asked.
    if error.code == .unknownDataset || error.code == .invalidInput, let subject, blobs.isFetching(subject) {
      actions += failFetch(subject, reason: "the coordinator refused to send it: \(error.message)", now: now)
    }
    return actions
  }

  /// A message that could not be decoded: refused (the coordinator logs it and keeps serving), except
  /// another protocol version, which stops the worker.
  public mutating func messageRefused(_ error: WireError, now: WorkerInstant) -> [Action] {
    link.heard(now: now)
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
    guard let assign = leases.prepared(key) else { return [] }
    let missing = assign.blobs.filter { !blobs.isHeld($0.sha256) }
    if missing.isEmpty { return spawn(key) }
    leases.fetching(key)
    var actions: [Action] = []
    for blob in missing {
      guard let fetch = blobs.start(blob, now: now) else { continue }
      actions.append(
        .log(.info, "fetching \(blob) (sha256 \(blob.sha256), \(blob.size) bytes)", run: key.run))
      actions.append(.send(.fetch(fetch)))
    }
    return actions
  }

  /// The attempt could not start (no directory, no trainer): it fails, with `reason` as its stderr.
  public mutating func attemptFailed(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    guard leases.remove(key) != nil else { return [] }
    return [.log(.error, "attempt \(key.number) failed: \(reason)", run: key.run)]
      + spoolFailure(key, stderrTail: reason)
  }

  /// The checkpoint the attempt was to resume from could not be put in place: it trains from step 0
  /// (slower, never wrong).
  public mutating func resumeFailed(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    guard let attempt = leases[key], let child = attempt.child, let checkpoint = attempt.assign.checkpoint,
      leases.dropStart(key, sha256: checkpoint.sha256), let assign = leases[key]?.assign
    else { return [] }
    shipping.startedFrom(key, nil)
    return [
      .log(.warning, "cannot use the run's checkpoint (\(reason)); training from step 0", run: key.run),
      .spawn(child, assign),
    ]
  }

  /// A chunk is in the cache; `received` is what the cache now holds.
  public mutating func chunkWritten(
    _ sha256: SHA256Digest, received: Int, complete: Bool, now: WorkerInstant
  ) -> [Action] {
    switch blobs.written(sha256, received: received, complete: complete, now: now) {
    case .notFetched:
      return []
    case .next(let fetch):
      return [.send(.fetch(fetch))]
    case .complete(let blob):
      var actions: [Action] = [.log(.info, "\(blob) received and verified (sha256 \(sha256))", run: nil)]
      for key in leases.waitingForBlobs where isReady(key) {
        actions += spawn(key)
      }
      return actions
    }
  }

  /// The chunk could not be written (or the blob does not match its hash).
  public mutating func chunkFailed(_ sha256: SHA256Digest, reason: String, now: WorkerInstant) -> [Action] {
    failFetch(sha256, reason: reason, now: now)
  }

  public mutating func resultSpooled(_ key: AttemptID, now: WorkerInstant) -> [Action] {
    outbox.spooled(key)
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
    outbox.spooled(key)
    return []
  }

  /// The result left (queued on the socket): its acknowledgement is awaited when leaving.
  public mutating func resultSent(_ key: AttemptID, now: WorkerInstant) -> [Action] {
    outbox.sent(key)
    return []
  }

  /// The attempt's newest checkpoint, read from its directory: sent unless the coordinator has it.
  public mutating func checkpointRead(
    _ key: AttemptID, checkpoint: CheckpointRef, data: Data, now: WorkerInstant
  ) -> [Action] {
    guard shipping.isNew(key, checkpoint.sha256) else { return [] }
    return [.sendCheckpoint(key, checkpoint, data)]
  }

  /// The attempt's checkpoint file does not read as a checkpoint of its run: not sent.
  public mutating func checkpointUnreadable(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action]
  {
    [.log(.warning, "\(reason); not sent", run: key.run)]
  }

  public mutating func checkpointSent(_ key: AttemptID, _ checkpoint: CheckpointRef, now: WorkerInstant)
    -> [Action]
  {
    shipping.shipped(key, checkpoint.sha256)
    return []
  }

  /// The running attempts' progress, read for the heartbeat that is due: it goes out now, with what changed.
  public mutating func progressRead(_ read: [AttemptProgress], now: WorkerInstant) -> [Action] {
    let changed = progress.read(read, running: running, now: now)
    return [
      .send(.heartbeat(Heartbeat(workerID: configuration.workerID, running: running, progress: changed)))
    ]
  }

  // MARK: - Children

  /// A trainer exited (and was reaped).
  public mutating func childExited(_ child: ChildID, exit: TrainerExit, now: WorkerInstant) -> [Action] {
    if let stopped = terminations.exited(child) {
      var actions: [Action] = []
      let key = stopped.attempt
      if stopped.handedBack { actions.append(.shipCheckpoint(key)) }
      if leases[key] == nil, !outbox.contains(key) { actions += removeDirectory(key) }
      // A newer attempt of the run waiting for this one to go takes the directory now.
      if !terminations.isExiting(run: key.run) {
        actions += leases.predecessorGone(of: key.run).map { .prepareDirectory($0) }
      }
      return actions
    }
    guard let key = leases.exited(child) else { return [] }
    let run = key.run
    if exit.terminatedOnRequest {
      // Someone (not this loop) stopped it: not a trainer failure, so never reported as one.
      leases.handedBack(key)
      return [
        .log(.notice, "trainer of attempt \(key.number) was stopped on request; not reported", run: run),
        .shipCheckpoint(key),
      ] + removeDirectory(key)
    }
    if exit.interruptedFromOutside {
      // Handed back (in `goodbye` when the worker is stopping too, else by its lease lapsing), so
      // the run is requeued with no failure counted and the worker is not quarantined for it.
      leases.handedBack(key)
      return [
        .log(
          .notice,
          "trainer of attempt \(key.number) was stopped by signal \(exit.signal ?? 0) from outside the worker;"
            + " handed back (the job is being stopped? not reported as a trainer failure)",
          run: run),
        .shipCheckpoint(key),
      ] + removeDirectory(key)
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

  private func removeDirectory(_ key: AttemptID) -> [Action] { [.removeAttemptDirectory(key)] }

  /// The attempt's directory is gone (after any checkpoint it held was read and sent).
  public mutating func attemptDirectoryRemoved(_ key: AttemptID, now: WorkerInstant) -> [Action] {
    shipping.forget(key)
    return []
  }

  // MARK: - Time

  /// Whatever is due at `now`: reconnection, heartbeat, liveness, SIGKILL escalation, the end of a
  /// predecessor's wait, and the stop's next step.
  public mutating func tick(now: WorkerInstant) -> [Action] {
    var actions: [Action] = []
    switch link.tick(now: now, mayConnect: !stop.isFinished) {
    case .nothing:
      break
    case .connect:
      actions.append(.connect)
    case .heartbeat:
      // Only a training attempt has progress to read.
      if !leases.training.isEmpty, progress.isDue(now: now) {
        actions.append(.readProgress(leases.training))
      } else {
        actions.append(.send(.heartbeat(Heartbeat(workerID: configuration.workerID, running: running))))
      }
    case .silence(let silence, let welcomed):
      actions.append(.log(.warning, silenceText(silence, welcomed: welcomed), run: nil))
      actions += [.disconnect, scheduleReconnect(now: now)]
    }
    if link.isWelcomed {
      actions += blobs.due(now: now).map { .send(.fetch($0)) }
    }
    if shipping.due(now: now) {
      actions += leases.training.map { .shipCheckpoint($0) }
    }
    for (child, exiting) in terminations.overdue(now: now) {
      actions.append(
        .log(
          .warning,
          "trainer of \(exiting.attempt) ignored SIGTERM for \(configuration.terminationGrace.wholeMilliseconds) ms; killing it",
          run: exiting.attempt.run))
      actions.append(.signal(child, SIGKILL))
    }
    for key in leases.waitsOver(now: now) {
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

  /// Never answered since start, or lost after answering: two different problems for a user.
  private func silenceText(_ silence: Duration, welcomed: Bool) -> String {
    var text =
      link.everWelcomed
      ? "lost the coordinator at \(configuration.endpoint): no answer for \(silence.wholeMilliseconds) ms"
      : "nothing answered at \(configuration.endpoint) since start"
    if !welcomed && configuration.usesCurve {
      // With CURVE, a refused handshake looks the same as a coordinator that is down.
      text += " (if it is running: is --server-key its public key, and this worker's .pub authorized there?)"
    }
    if !leases.isEmpty {
      text += "; training goes on, results stay spooled"
    } else if !outbox.spooled.isEmpty {
      text += "; finished results stay spooled until it answers"
    }
    return text + "; reconnecting"
  }

  // MARK: - Stopping

  /// Stop gracefully (running attempts get the grace period), or `immediately` (they are handed back
  /// now). A second request may make the first immediate.
  public mutating func stopRequested(immediately: Bool, now: WorkerInstant) -> [Action] {
    switch stop.request(immediately: immediately, now: now) {
    case .ignored:
      return []
    case .hurried:
      return advanceStop(now: now)
    case .begin(let deadline):
      var actions: [Action] = []
      // Attempts not training yet have not started: hand them back at once.
      for key in leases.keys where leases[key]?.isTraining == false {
        actions += release(key, reason: "the worker is stopping", now: now)
      }
      blobs.abandonAll()
      actions.append(
        .log(
          .notice,
          "stopping: taking no more work; \(leases.count) running attempts may finish within"
            + " \((deadline - now).wholeMilliseconds) ms",
          run: nil))
      return actions + advanceStop(now: now)
    }
  }

  private mutating func advanceStop(now: WorkerInstant) -> [Action] {
    var actions: [Action] = []
    while let step = stop.next(
      now: now,
      .init(
        attempts: !leases.isEmpty, exitingTrainers: !terminations.isEmpty,
        unacknowledgedResults: !outbox.unacknowledged.isEmpty, connected: link.isConnected))
    {
      switch step {
      case .releaseAll:
        for key in leases.keys { actions += release(key, reason: "the grace period is over", now: now) }
      case .sayGoodbye:
        actions += [
          .send(.goodbye(Goodbye(workerID: configuration.workerID, released: released))),
          .log(
            .notice,
            "goodbye sent (\(released.count) released, \(outbox.unacknowledged.count) results awaiting acks)",
            run: nil),
        ]
      case .finish:
        if !outbox.unacknowledged.isEmpty {
          actions.append(
            .log(
              .notice, "\(outbox.unacknowledged.count) results not acknowledged yet; they stay spooled",
              run: nil))
        }
        actions.append(.finish)
      }
    }
    return actions
  }

  /// Hands an attempt back to the coordinator: stops its trainer (if any), never reports it.
  private mutating func release(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    guard let attempt = leases.remove(key) else { return [] }
    leases.handedBack(key)
    return [.log(.notice, "releasing attempt \(key.number): \(reason)", run: key.run)]
      + stopTrainer(key, attempt, handedBack: true, now: now)
  }

  private mutating func cancel(_ key: AttemptID, reason: String, now: WorkerInstant) -> [Action] {
    guard let attempt = leases.remove(key) else {
      return [
        .log(.info, "cancel of attempt \(key.number), which is not running here; nothing to do", run: key.run)
      ]
    }
    return [.log(.notice, "attempt \(key.number) stopped: \(reason)", run: key.run)]
      + stopTrainer(key, attempt, now: now)
  }

  /// Asks the attempt's trainer to stop (SIGTERM, SIGKILL after the termination grace); an attempt
  /// that never started just loses its directory. The caller has ended its lease.
  private mutating func stopTrainer(
    _ key: AttemptID, _ attempt: AttemptLeases.Attempt, handedBack: Bool = false, now: WorkerInstant
  ) -> [Action] {
    // Nobody waits for its fetches any more; a later fetch resumes where one stopped.
    for blob in attempt.assign.blobs where !leases.needs(blob.sha256) { blobs.abandon(blob.sha256) }
    switch attempt.state {
    case .training(let child):
      terminations.terminate(child, of: key, handedBack: handedBack, now: now)
      return [.signal(child, SIGTERM)]
    case .waitingForPredecessor:
      return []
    case .preparing, .fetching:
      return removeDirectory(key)
    }
  }

  /// On a fatal error: every trainer is killed, nothing is reported.
  private mutating func fail(_ error: WorkerAgentError) -> [Action] {
    var actions: [Action] = [.log(.critical, "worker stopping: \(error)", run: nil)]
    actions += leases.keys.compactMap { leases[$0]?.child }.map { .signal($0, SIGKILL) }
    actions += terminations.keys.map { .signal($0, SIGKILL) }
    stop.fail()
    return actions + [.fail(error)]
  }

  // MARK: - Blobs and trainers

  /// Whether everything the attempt needs is in the cache.
  private func isReady(_ key: AttemptID) -> Bool {
    leases[key]?.assign.blobs.allSatisfy { blobs.isHeld($0.sha256) } ?? false
  }

  /// The blob cannot be had: an attempt that needs it as its dataset fails (the reason as its stderr);
  /// one that needs it as its checkpoint or BC stage trains from step 0 (slower, never wrong).
  private mutating func failFetch(_ sha256: SHA256Digest, reason: String, now: WorkerInstant) -> [Action] {
    guard let blob = blobs.failed(sha256) else { return [] }
    let text = "trac-sweep worker: cannot get \(blob) (sha256 \(sha256)): \(reason)"
    var actions: [Action] = []
    for key in leases.waitingForBlobs {
      if leases.dropStart(key, sha256: sha256) {
        actions.append(.log(.warning, "cannot get \(blob) (\(reason)); training from step 0", run: key.run))
        if isReady(key) { actions += spawn(key) }
        continue
      }
      guard leases[key]?.assign.dataset.sha256 == sha256 else { continue }
      _ = leases.remove(key)
      actions.append(.log(.error, "attempt \(key.number) failed: \(text)", run: key.run))
      actions += spoolFailure(key, stderrTail: text)
    }
    return actions
  }

  private mutating func spawn(_ key: AttemptID) -> [Action] {
    guard let started = leases.start(key) else { return [] }
    let (child, assign) = started
    // The shell moves a run's checkpoint out of the cache into the attempt's checkpoint directory: the
    // coordinator has it already, so it is not sent back.
    if let checkpoint = assign.checkpoint {
      blobs.consumed(checkpoint.sha256)
      shipping.startedFrom(key, checkpoint.sha256)
    }
    return [.spawn(child, assign)]
  }

  /// An attempt that failed before its trainer could run (no dataset, no directory, no program).
  private func spoolFailure(_ key: AttemptID, stderrTail: String) -> [Action] {
    let result = AttemptResult(
      key: key, outcome: .failed, exitStatus: nil, stderrTail: stderrTail, wallSeconds: 0)
    return [.spool(SpoolRequest(result: result, withArtifacts: false))]
  }
}
