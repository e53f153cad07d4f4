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
/// The agent is the I/O shell around `WorkerStateMachine`, which makes every decision: `run()` is
/// one loop on the calling thread, which owns the socket. It waits on the socket (at most until the
/// machine's next deadline or `pollInterval`), decodes messages, notices finished children, feeds
/// all of it to the machine with the time, and carries out the actions it returns. Nothing in the
/// loop blocks on a child or a timer, and training happens in child processes, so heartbeats are
/// never late because of training. `stop()` may be called from any thread (a signal's queue): the
/// machine then stops taking work, lets running attempts finish within the grace period, hands the
/// rest back, says `goodbye` and waits briefly for the acknowledgements of the results it sent.
public final class WorkerAgent: StoppableService, @unchecked Sendable {
  /// How the worker runs. What the state machine decides with (timings, what `hello` announces, the
  /// endpoint) is kept once, in `settings`, and read as `configuration.grace` and the like.
  @dynamicMemberLookup
  public struct Configuration: Sendable {
    /// Keeps `worker-id`, the blob cache (`datasets/`, `checkpoints/`, `stages/`), `runs/` and `spool/`.
    public var workDirectory: URL
    /// The program started as `PROGRAM train ...` for each attempt.
    public var trainer: URL
    /// Whether the trainer evaluates its policy in the simulator (`--evaluate`).
    public var evaluate: Bool
    /// Added to the trainer's environment (the worker's own is inherited).
    public var trainerEnvironment: [String: String]
    /// How long the loop waits on the socket at most between its other duties.
    public var pollInterval: Duration
    public var maxMessageSize: Int64
    /// CURVE keys for a secured coordinator; nil: plaintext.
    public var curve: CurveClientKeys?
    /// The trainer's `--checkpoint-every` (nil: its default, 1,000 steps).
    public var checkpointEvery: Int?
    /// The task families announced in `hello` as evaluated here. Nil: none when `evaluate` is false,
    /// else those whose evaluator this machine has (`EvaluatorEnvironment.availableFamilies()`).
    public var evaluates: [TaskFamily]?
    /// The coordinator's address, the slots, host and trainer version announced, the grace periods,
    /// the heartbeat contract until `welcome`, reconnection delays and the checkpoint shipping interval
    /// (nil: the trainer writes no checkpoints), as the state machine uses them.
    public var settings: WorkerStateMachine.Settings

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<WorkerStateMachine.Settings, Value>)
      -> Value
    {
      get { settings[keyPath: keyPath] }
      set { settings[keyPath: keyPath] = newValue }
    }

    /// What `hello` announces.
    var announcedFamilies: [TaskFamily] {
      if let evaluates { return evaluates }
      guard evaluate else { return [] }
      let available = EvaluatorEnvironment.availableFamilies()
      return TaskFamily.allCases.filter { available.contains($0) }
    }

    /// `settings` holds what the state machine decides with, with its defaults (stated once, there).
    public init(
      settings: WorkerStateMachine.Settings, workDirectory: URL, trainer: URL, evaluate: Bool = true,
      trainerEnvironment: [String: String] = [:], pollInterval: Duration = .milliseconds(50),
      maxMessageSize: Int64 = 256 << 20
    ) {
      self.settings = settings
      self.workDirectory = workDirectory
      self.trainer = trainer
      self.evaluate = evaluate
      self.trainerEnvironment = trainerEnvironment
      self.pollInterval = pollInterval
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
      let settings = self.settings
      guard settings.slots >= 1 else {
        throw .invalidConfiguration("slots must be at least 1, got \(settings.slots)")
      }
      guard settings.grace >= .zero else {
        throw .invalidConfiguration("the grace period must not be negative")
      }
      guard settings.heartbeatInterval >= .milliseconds(10), settings.liveness >= 1 else {
        throw .invalidConfiguration("the heartbeat interval must be at least 10 ms and liveness at least 1")
      }
      guard settings.reconnectDelay > .zero, settings.maxReconnectDelay >= settings.reconnectDelay else {
        throw .invalidConfiguration("reconnect delays must be positive, the maximum at least the first")
      }
      guard !settings.endpoint.isEmpty else { throw .invalidConfiguration("no coordinator endpoint") }
    }
  }

  public let configuration: Configuration
  /// `<host>-<8 hex>`, kept in `WORKDIR/worker-id`; the DEALER's routing id.
  public let workerID: WorkerID
  /// Asks `run()` to stop; set from any thread (a signal's queue, `ProcessLifecycle`).
  public let stopRequest = StopRequest()
  let logger: Logger
  let spool: ResultSpool
  let runs: RunDirectory
  let cache: BlobCache
  let transport: any WorkerTransport
  private let clock = ContinuousClock()

  // Loop state: touched only by the thread in `run()`.
  private var machine: WorkerStateMachine
  private var epoch = ContinuousClock.now
  /// Counts connections opened, so that a receive on one replaced meanwhile is not reported as lost.
  private var connection = 0
  private var children: [WorkerStateMachine.ChildID: TrainerProcess] = [:]
  private var stopSeen: StopUrgency?
  private var finished = false
  private var failure: WorkerAgentError?

  /// Creates the work directory, the worker id, the spool (quarantining damaged entries) and the
  /// blob cache. Nothing is connected until `run()`. `transport`: the connection to the coordinator
  /// (default: a DEALER socket to `configuration.endpoint`).
  public init(
    configuration: Configuration, logger: Logger = Logger(label: "trac-sweep.worker"),
    transport: (any WorkerTransport)? = nil
  ) throws {
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
    cache = try BlobCache(workDirectory: workDirectory)
    self.transport =
      transport
      ?? ZMQWorkerTransport(
        endpoint: configuration.endpoint, routingID: workerID.rawValue, curve: configuration.curve,
        maxMessageSize: configuration.maxMessageSize)
    machine = WorkerStateMachine(
      configuration: configuration.stateMachine(workerID: workerID), spooled: spool.pending().map(\.key))
  }

  /// Asks `run()` to stop: gracefully (running attempts get the grace period), or `immediately`
  /// (running attempts are terminated and released now). Safe from any thread.
  public func stop(immediately: Bool = false) {
    stopRequest.request(immediately ? .immediate : .graceful)
  }

  /// Serves the coordinator until `stop()`; returns once the worker has said goodbye. Throws when
  /// the coordinator speaks another protocol version, after killing every trainer.
  public func run() throws {
    defer { transport.close() }
    let leftovers = (try? runs.removeAll()) ?? []
    if !leftovers.isEmpty {
      logger.info("removed \(leftovers.count) run directories a previous worker process left")
    }
    let partials = cache.removeLeftovers()
    if !partials.isEmpty {
      logger.info("removed \(partials.count) partial downloads of files the cache already holds")
    }
    logger.info(
      "worker starting",
      metadata: [
        "coordinator": "\(configuration.endpoint)", "slots": "\(configuration.slots)",
        "trainer": "\(configuration.trainer.path)", "spooled": "\(machine.spooledResults.count)",
        "evaluate": "\(configuration.evaluate)", "blas": "\(configuration.blas ?? "as the library chooses")",
        "evaluates": "\(machine.configuration.evaluates?.map(\.rawValue).joined(separator: ",") ?? "")",
      ])
    if configuration.evaluate, machine.configuration.evaluates?.isEmpty == true {
      let hint = EvaluatorEnvironment(family: .bulletGym).missingHint
      logger.warning(
        "no evaluator found on this machine (\(hint)): this worker is given only runs without evaluation episodes"
      )
    }
    epoch = clock.now
    perform(machine.start(now: now))
    while !finished { step() }
    if let failure { throw failure }
    logger.info("worker stopped", metadata: ["released": "\(machine.released.count)"])
  }

  private var now: WorkerInstant { clock.now - epoch }

  /// One turn of the loop: wait for messages (or the next deadline), then feed the machine.
  private func step() {
    if let urgency = stopRequest.urgency, urgency != stopSeen {
      stopSeen = urgency
      perform(machine.stopRequested(immediately: urgency == .immediate, now: now))
    }
    if transport.isConnected {
      let current = connection
      do {
        // The first message waits; everything else already waiting follows without sleeping.
        var wait = nextWait()
        while !finished, current == connection, transport.isConnected,
          let frames = try transport.receive(timeout: wait)
        {
          handle(frames)
          wait = .zero
        }
      } catch {
        // A failed connection is done (unless an action already replaced it).
        if current == connection { perform(machine.connectionLost("\(error)", now: now)) }
      }
    } else {
      Thread.sleep(forTimeInterval: nextWait().seconds)
    }
    guard !finished else { return }
    for (child, process) in children.sorted(by: { $0.key < $1.key }) {
      guard let exit = process.exit else { continue }
      children[child] = nil
      perform(machine.childExited(child, exit: exit, now: now))
    }
    perform(machine.tick(now: now))
  }

  /// Until the machine's next deadline, at most `pollInterval`.
  private func nextWait() -> Duration {
    var wait = configuration.pollInterval
    if let deadline = machine.nextDeadline { wait = min(wait, deadline - now) }
    return max(wait, .zero)
  }

  // MARK: - Messages

  /// Decodes one message from the coordinator for the machine.
  private func handle(_ frames: [Data]) {
    let now = self.now
    let message: WireMessage
    do {
      message = try WireMessage.decode(frames)
    } catch {
      perform(machine.messageRefused(error, now: now))
      return
    }
    do {
      switch message.type {
      case .welcome: perform(machine.welcomeReceived(try message.decodeBody(Welcome.self), now: now))
      case .pong: perform(machine.pongReceived(try message.decodeBody(Pong.self), now: now))
      case .assign:
        let assign = try message.decodeBody(Assign.self)
        // What the cache holds of every file the attempt needs (a worker restarted on its work folder
        // keeps what it fetched before).
        let others = [assign.checkpointBlob, assign.stageBlob].compactMap { $0 }
        perform(
          machine.assignReceived(
            assign, cached: cache.held(assign.datasetBlob),
            alsoHeld: Dictionary(
              others.map { ($0.sha256, cache.held($0)) }, uniquingKeysWith: { first, _ in first }),
            now: now))
      case .ack: perform(machine.ackReceived(try message.decodeBody(Ack.self), now: now))
      case .cancel: perform(machine.cancelReceived(try message.decodeBody(Cancel.self), now: now))
      case .chunk:
        perform(
          machine.chunkReceived(
            try message.decodeBody(Chunk.self), attachments: message.attachments, now: now))
      case .error: perform(machine.errorReceived(try message.decodeBody(ErrorMessage.self), now: now))
      default:
        perform(
          machine.messageRefused(
            WireError.unknownType("\(message.type.rawValue) (not for a worker)"), now: now))
      }
    } catch {
      perform(machine.messageRefused(error, now: now))
    }
  }

  // MARK: - Actions

  /// Carries out the machine's actions in order, each followed by those its outcome leads to.
  private func perform(_ actions: [WorkerStateMachine.Action]) {
    for action in actions { perform(execute(action)) }
  }

  private func execute(_ action: WorkerStateMachine.Action) -> [WorkerStateMachine.Action] {
    switch action {
    case .connect:
      connection += 1
      do {
        try transport.connect()
        return machine.connected(now: now)
      } catch {
        transport.disconnect()
        return machine.connectionFailed("\(configuration.endpoint): \(error)", now: now)
      }
    case .disconnect:
      connection += 1
      transport.disconnect()
      return []
    case .send(let outbound):
      send(wireMessage(outbound))
      return []
    case .sendResult(let key):
      return sendResult(key) ? machine.resultSent(key, now: now) : []
    case .prepareDirectory(let key):
      do {
        _ = try runs.prepare(key)
        return machine.directoryPrepared(key, now: now)
      } catch {
        return machine.attemptFailed(
          key, reason: "trac-sweep worker: cannot prepare the run directory: \(error)", now: now)
      }
    case .spawn(let child, let assign):
      return spawn(child, assign)
    case .signal(let child, let signal):
      children[child]?.signal(signal)
      return []
    case .spool(let request):
      let key = request.result.key
      do {
        let files = request.withArtifacts ? try runs.directory(for: key).existingArtifacts() : []
        try spool.write(request.result, files: files)
        return machine.resultSpooled(key, now: now)
      } catch {
        return machine.spoolFailed(key, reason: "\(error)", now: now)
      }
    case .deleteSpooled(let key, let duplicate):
      var runLogger = logger
      runLogger[metadataKey: "run"] = "\(key.run)"
      do {
        let removed = try spool.acknowledge(key)
        runLogger.info(
          removed ? "result acknowledged" : "result acknowledged again",
          metadata: ["attempt": "\(key.number)", "duplicate": "\(duplicate)"])
      } catch {
        runLogger.error("cannot delete the acknowledged result from the spool: \(error)")
        return machine.spoolDeleteFailed(key, now: now)
      }
      return []
    case .shipCheckpoint(let key):
      return readCheckpoint(key)
    case .sendCheckpoint(let key, let checkpoint, let data):
      let message = CheckpointMessage(workerID: workerID, attempt: key, checkpoint: checkpoint)
      guard send(WireMessage(.checkpoint, message, attachments: [data])) else { return [] }
      logger.info(
        "checkpoint sent",
        metadata: ["run": "\(key.run)", "attempt": "\(key.number)", "step": "\(checkpoint.step)"])
      return machine.checkpointSent(key, checkpoint, now: now)
    case .readProgress(let keys):
      return machine.progressRead(keys.compactMap(readProgress), now: now)
    case .removeAttemptDirectory(let key):
      do { try runs.remove(key) } catch {
        logger.warning("cannot remove the directory of \(key): \(error)", metadata: ["run": "\(key.run)"])
      }
      return machine.attemptDirectoryRemoved(key, now: now)
    case .writeChunk(let blob, let chunk, let data):
      do {
        let complete = try cache.append(blob, offset: chunk.offset, total: chunk.total, data: data)
        return machine.chunkWritten(
          chunk.sha256, received: chunk.offset + data.count, complete: complete, now: now)
      } catch {
        return machine.chunkFailed(chunk.sha256, reason: "\(error)", now: now)
      }
    case .log(let level, let message, let run):
      var metadata: Logger.Metadata = [:]
      if let run { metadata["run"] = "\(run)" }
      logger.log(level: level, "\(message)", metadata: metadata)
      return []
    case .finish:
      transport.finish()
      finished = true
      return []
    case .fail(let error):
      failure = error
      finished = true
      return []
    }
  }

  private func wireMessage(_ outbound: WorkerStateMachine.Outbound) -> WireMessage {
    switch outbound {
    case .hello(let hello): return WireMessage(.hello, hello)
    case .heartbeat(let heartbeat): return WireMessage(.heartbeat, heartbeat)
    case .fetch(let fetch): return WireMessage(.fetch, fetch)
    case .goodbye(let goodbye): return WireMessage(.goodbye, goodbye)
    case .error(let error): return WireMessage(.error, error)
    }
  }

  /// The attempt's progress from its trainer's files: `progress.json`, else the last line of train.jsonl.
  private func readProgress(_ key: AttemptID) -> AttemptProgress? {
    guard let directory = try? runs.directory(for: key) else { return nil }
    return Self.liveProgress(in: directory.progressFile, of: key)
      ?? Self.lastProgress(in: directory.trainLog, of: key)
  }

  /// The trainer's `progress.json` (the step in hand, rewritten every 2 s); nil before the first.
  static func liveProgress(in file: URL, of key: AttemptID) -> AttemptProgress? {
    guard let data = try? Data(contentsOf: file) else { return nil }
    return progress(fromLine: data, of: key)
  }

  /// The last whole line of a train.jsonl, as progress; nil when there is none yet.
  static func lastProgress(in log: URL, of key: AttemptID) -> AttemptProgress? {
    guard let handle = try? FileHandle(forReadingFrom: log) else { return nil }
    defer { try? handle.close() }
    guard let size = try? handle.seekToEnd(), size > 0 else { return nil }
    try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
    guard let tail = try? handle.readToEnd() else { return nil }
    // Only whole lines: the trainer may be writing the last one.
    let lines = tail.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
    let complete = tail.last == UInt8(ascii: "\n") ? lines.last : lines.dropLast().last
    guard let line = complete else { return nil }
    return progress(fromLine: Data(line), of: key)
  }

  /// A line of train.jsonl (or progress.json) as progress; nil when it does not parse.
  static func progress(fromLine line: Data, of key: AttemptID) -> AttemptProgress? {
    struct Line: Decodable {
      var step: Int
      var total_steps: Int
      var phase: String
      var loss: Double?
    }
    guard let parsed = try? JSONDecoder().decode(Line.self, from: line) else { return nil }
    return AttemptProgress(
      attempt: key, phase: parsed.phase, step: parsed.step, totalSteps: parsed.total_steps,
      loss: parsed.loss.flatMap { $0.isFinite ? $0 : nil })
  }

  /// Sends without blocking; false when the message could not be queued (no connection, or a full
  /// queue). Nothing depends on one send: results stay spooled and are sent again after `welcome`.
  @discardableResult
  private func send(_ message: WireMessage) -> Bool {
    guard transport.isConnected else { return false }
    do {
      try transport.send(message.frames)
      return true
    } catch {
      logger.warning("could not send \(message.type.rawValue): \(error)")
      return false
    }
  }

  /// Sends a spooled result with its files as attachments, in the manifest's order.
  private func sendResult(_ key: AttemptID) -> Bool {
    guard let entry = spool.entry(for: key) else { return false }
    var attachments: [Data] = []
    for file in entry.files {
      do {
        attachments.append(try Data(contentsOf: spool.fileURL(named: file.name, of: key)))
      } catch {
        logger.error("cannot read spooled \(file.name) of \(key): \(error)", metadata: ["run": "\(key.run)"])
        return false
      }
    }
    let message = ResultMessage(
      workerID: workerID, attempt: key, outcome: entry.result.outcome, exitStatus: entry.result.exitStatus,
      stderrTail: entry.result.stderrTail, files: entry.files)
    return send(WireMessage(.result, message, attachments: attachments))
  }

  /// The attempt's newest checkpoint, for the machine to send. The trainer replaces the file by rename,
  /// so what is read is always one whole checkpoint.
  private func readCheckpoint(_ key: AttemptID) -> [WorkerStateMachine.Action] {
    guard let file = try? runs.directory(for: key).checkpointFile, let data = try? Data(contentsOf: file)
    else { return [] }
    guard let header = CheckpointHeader(data), header.runID == key.run.rawValue else {
      return machine.checkpointUnreadable(
        key, reason: "the checkpoint in \(file.path) does not read as this run's", now: now)
    }
    let checkpoint = CheckpointRef(sha256: SHA256Digest(of: data), size: data.count, step: header.step)
    return machine.checkpointRead(key, checkpoint: checkpoint, data: data, now: now)
  }

  /// Starts the attempt's trainer on the cached dataset, from the run's checkpoint (moved out of the
  /// cache into the attempt's directory: used once) or its BC stage when it came with one.
  private func spawn(_ child: WorkerStateMachine.ChildID, _ assign: Assign) -> [WorkerStateMachine.Action] {
    let key = assign.attempt
    do {
      let directory = try runs.directory(for: key)
      if let checkpoint = assign.checkpointBlob {
        do {
          try FileManager.default.createDirectory(
            at: directory.checkpointDirectory, withIntermediateDirectories: true)
          try FileManager.default.moveItem(at: try cache.url(for: checkpoint), to: directory.checkpointFile)
          logger.info(
            "resuming from the run's checkpoint at step \(assign.checkpoint?.step ?? 0)",
            metadata: ["run": "\(key.run)", "attempt": "\(key.number)"])
        } catch {
          return machine.resumeFailed(key, reason: "\(error)", now: now)
        }
      }
      let checkpoints = assign.checkpoint != nil || configuration.checkpointShipInterval != nil
      try RunSpecFile.write(assign.spec, to: directory.specFile)
      let arguments = TrainerArguments.make(
        spec: assign.spec, specFile: directory.specFile, dataset: try cache.url(for: assign.datasetBlob),
        outputDirectory: directory.outputDirectory, evaluate: configuration.evaluate,
        checkpointDirectory: checkpoints ? directory.checkpointDirectory : nil,
        checkpointEvery: configuration.checkpointEvery,
        initFrom: try assign.stageBlob.map { try cache.url(for: $0) })
      let launch = TrainerLaunch(
        executable: configuration.trainer, arguments: arguments,
        environment: configuration.trainerEnvironment, in: directory)
      let process = try TrainerProcess.start(launch)
      children[child] = process
      logger.info(
        "trainer started for attempt \(key.number)", metadata: ["run": "\(key.run)", "pid": "\(process.pid)"])
      return []
    } catch {
      return machine.attemptFailed(key, reason: "trac-sweep worker: \(error)", now: now)
    }
  }
}

extension WorkerAgent.Configuration {
  /// The machine's configuration: the settings, with what only the agent knows (the worker id, the
  /// families it evaluates, whether it uses CURVE and its public key).
  func stateMachine(workerID: WorkerID) -> WorkerStateMachine.Configuration {
    var settings = self.settings
    settings.evaluates = announcedFamilies
    settings.usesCurve = curve != nil
    settings.publicKey = curve?.pair.publicKey.z85
    return WorkerStateMachine.Configuration(workerID: workerID, settings: settings)
  }
}
