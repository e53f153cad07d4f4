import Foundation
import Logging
import SweepWire
import TracCore

/// The coordinator process's loop: one ROUTER socket, the durable scheduler, the dataset store and
/// the artifacts folder (docs/PROTOCOL.md). Single-threaded: every message and every tick is handled
/// in turn, so the scheduler's decisions and the files they refer to never race.
///
/// Sendable so a process can run it on a thread of its own: everything but `stopFlag` and `endpoint`
/// belongs to the thread inside `run()`.
public final class CoordinatorService: @unchecked Sendable {
  public struct Configuration: Sendable {
    public var bind: String
    public var stateDirectory: URL
    public var scheduler: SchedulerConfiguration
    /// A larger message closes its sender's connection before anything is allocated. Above the
    /// largest honest message: a dataset chunk is 4 MiB, a result carries one run's files.
    public var maxMessageSize: Int64
    /// CURVE: the coordinator's key pair and the directory of authorized `*.pub` keys. Nil: plaintext.
    public var curve: Curve?

    public static let defaultMaxMessageSize: Int64 = 64 << 20

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
      maxMessageSize: Int64 = Configuration.defaultMaxMessageSize, curve: Curve? = nil
    ) {
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
  private let scheduler: DurableScheduler
  private let datasets: DatasetStore
  private let uploads: DatasetUploads
  private let artifacts: URL
  private var logger: Logger
  private let clock = ContinuousClock()
  private let epoch: ContinuousClock.Instant
  /// Routing ids of workers, as last seen (a worker's DEALER uses its worker id).
  private var routes: [WorkerID: Data] = [:]
  /// Set it (from any thread) to stop the loop after the message in hand.
  public let stopFlag = StopFlag()
  /// Dataset sizes by sha256, for `assign` (a dataset's file never changes once stored).
  private var datasetSizes: [String: Int] = [:]

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

    public init() {}
  }

  private var counting = Counters()
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
    self.configuration = configuration
    self.logger = logger
    epoch = clock.now
    let state = configuration.stateDirectory
    try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
    artifacts = state.appendingPathComponent("artifacts")
    datasets = try DatasetStore(directory: artifacts.appendingPathComponent("datasets"))
    uploads = DatasetUploads(store: datasets)
    try FileManager.default.createDirectory(
      at: artifacts.appendingPathComponent("runs"), withIntermediateDirectories: true)
    Self.removeLeftovers(in: [artifacts.appendingPathComponent("runs"), datasets.directory])
    let store = try SweepStore(directory: state)
    scheduler = try DurableScheduler(store: store, configuration: configuration.scheduler, now: .zero)
    socket = try ZMQSocket(context: context, kind: .router, maxMessageSize: configuration.maxMessageSize)
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
  public func requestStop() { stopFlag.set() }

  private var now: SchedulerInstant { clock.now - epoch }

  /// Commands held until the batch they come from is committed (acknowledgements above all).
  private var heldCommands: [SchedulerCommand] = []
  /// Replies to clients that report a change (a submitted sweep...), sent after the commit too.
  private var heldReplies: [(route: Data, message: WireMessage)] = []
  /// Messages handled before one commit: enough to turn a burst of results into one fsync.
  static let batchLimit = 512

  /// Serves until `requestStop()`. Each pass handles every message at hand (up to `batchLimit`),
  /// commits their changes in one transaction, then carries out their commands, so an
  /// acknowledgement always follows the commit of what it acknowledges.
  public func run() {
    let tickInterval = max(configuration.scheduler.heartbeatInterval / 4, .milliseconds(5))
    var nextTick = clock.now
    while !stopFlag.isSet {
      do {
        let wait = max(min(nextTick - clock.now, .milliseconds(100)), .zero)
        var next = try socket.receive(timeout: wait)
        var handled = 0
        while let frames = next {
          handle(frames)
          handled += 1
          next = handled < Self.batchLimit ? try socket.receive(timeout: .zero) : nil
        }
        // Leases lapse on a tick. While messages are still waiting (a full batch), their heartbeats may
        // extend the very leases the tick would end: the tick waits for them, up to one more interval.
        let backlog = handled >= Self.batchLimit
        if clock.now >= nextTick
          && (!backlog || clock.now >= nextTick + configuration.scheduler.heartbeatInterval)
        {
          heldCommands += try scheduler.handle(.tick, now: now, commit: false)
          nextTick = clock.now + tickInterval
        }
        try scheduler.commit(now: now)
        let commands = heldCommands
        let replies = heldReplies
        heldCommands = []
        heldReplies = []
        execute(commands)
        for (route, message) in replies { reply(route, message) }
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
        for (route, _) in heldReplies {
          reply(
            route, WireMessage(.error, ErrorMessage(message: "the coordinator could not commit: \(error)")))
        }
        heldReplies = []
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
  private func schedule(_ event: SchedulerEvent) throws {
    heldCommands += try scheduler.handle(event, now: now, commit: false)
  }

  // MARK: - Messages

  private func handle(_ frames: [Data]) {
    guard let route = frames.first, frames.count > 1 else { return }
    let message: WireMessage
    do {
      message = try WireMessage.decode(Array(frames.dropFirst()))
    } catch {
      logger.warning("refused a message: \(loggable(error.description))")
      reply(route, WireMessage(.error, ErrorMessage(message: error.description)))
      return
    }
    do {
      switch message.type {
      case .hello:
        counting.hellos += 1
        try hello(route, try message.decodeBody(Hello.self))
      case .heartbeat:
        counting.heartbeats += 1
        try heartbeat(route, try message.decodeBody(Heartbeat.self))
      case .result:
        counting.results += 1
        try result(route, message)
      case .goodbye:
        let goodbye = try message.decodeBody(Goodbye.self)
        try schedule(
          .workerGoodbye(worker: WorkerID(goodbye.workerID), released: goodbye.released.map(attemptID)))
      case .fetch: try fetch(route, try message.decodeBody(Fetch.self))
      case .request:
        try request(route, try message.decodeBody(ClientRequest.self), attachments: message.attachments)
      case .error:
        logger.warning("peer reported an error: \(loggable(String(decoding: message.body, as: UTF8.self)))")
      default:
        throw WireError.malformed("a \(message.type.rawValue) message is not for the coordinator")
      }
    } catch {
      let text = "\(error)"
      logger.warning("refused \(message.type.rawValue): \(loggable(text))")
      reply(route, WireMessage(.error, ErrorMessage(message: text)))
    }
  }

  private func hello(_ route: Data, _ hello: Hello) throws {
    for (field, value) in [("worker_id", hello.workerID), ("host", hello.host)] {
      guard !value.isEmpty, value.count <= 256, loggable(value) == value else {
        throw WireError.malformed("\(field) must be 1 to 256 printable characters")
      }
    }
    guard hello.slots <= Self.maxSlots else {
      throw WireError.malformed("\(hello.slots) slots; a worker may offer at most \(Self.maxSlots)")
    }
    let worker = WorkerID(hello.workerID)
    routes[worker] = route
    var workerLogger = logger
    workerLogger[metadataKey: "worker"] = "\(hello.workerID)"
    workerLogger.info("worker connected", metadata: ["host": "\(hello.host)", "slots": "\(hello.slots)"])
    let commands = try scheduler.handle(
      .workerHello(
        worker: worker, host: hello.host, slots: hello.slots, running: hello.running.map(attemptID),
        spooled: hello.spooled.map(attemptID)), now: now, commit: false)
    let interval = configuration.scheduler.heartbeatInterval
    let welcome = Welcome(
      heartbeatIntervalMilliseconds: Int(
        interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000),
      liveness: configuration.scheduler.liveness, cancel: [])
    reply(route, WireMessage(.welcome, welcome))
    heldCommands += commands
  }

  private func heartbeat(_ route: Data, _ heartbeat: Heartbeat) throws {
    let worker = WorkerID(heartbeat.workerID)
    routes[worker] = route
    let commands = try scheduler.handle(
      .heartbeat(worker: worker, running: heartbeat.running.map(attemptID)), now: now, commit: false)
    let known = !commands.contains {
      if case .requestHello(worker) = $0 { return true } else { return false }
    }
    reply(route, WireMessage(.pong, Pong(known: known)))
    heldCommands += commands.filter { if case .requestHello = $0 { return false } else { return true } }
  }

  /// A finished attempt. Its files are checked against their hashes, then (for a result that will be
  /// recorded) moved into `artifacts/runs/<run id>/` before the database commit, so a committed result
  /// always has its files. A late duplicate never touches the first result's files.
  private func result(_ route: Data, _ message: WireMessage) throws {
    let result = try message.decodeBody(ResultMessage.self)
    let worker = WorkerID(result.workerID)
    routes[worker] = route
    let attempt = attemptID(result.attempt)
    guard message.attachments.count == result.files.count else {
      throw WireError.malformed(
        "result lists \(result.files.count) files but carries \(message.attachments.count)")
    }
    for (file, data) in zip(result.files, message.attachments) {
      guard data.count == file.size, sha256Hex(data) == file.sha256 else {
        throw WireError.malformed("file \(file.name) of \(attempt) does not match its size or sha256")
      }
      guard !file.name.contains("/"), !file.name.hasPrefix("."), !file.name.isEmpty else {
        throw WireError.malformed("file name '\(file.name)' is not allowed")
      }
    }
    let outcome: ReportedOutcome
    switch result.outcome {
    case .succeeded:
      let runJSON =
        zip(result.files, message.attachments).first { $0.0.name == "run.json" }
        .map { String(decoding: $0.1, as: UTF8.self) } ?? "{}"
      var paths: [String] = []
      if scheduler.read({ $0.run(attempt.run)?.state }) != .done {
        paths = try storeArtifacts(
          run: attempt.run, files: zip(result.files, message.attachments).map { ($0.0.name, $0.1) })
      }
      outcome = .succeeded(RunResultPayload(runJSON: runJSON, artifactPaths: paths))
    case .failed: outcome = .failed(exitStatus: result.exitStatus ?? -1, stderrTail: result.stderrTail)
    case .inputError:
      outcome = .inputError(exitStatus: result.exitStatus ?? 65, stderrTail: result.stderrTail)
    }
    try schedule(.result(worker: worker, attempt: attempt, outcome: outcome))
  }

  /// Writes a run's files into a fresh folder and swaps it in place of any earlier, unrecorded copy.
  /// A result without files has nothing to store and gets no folder.
  private func storeArtifacts(run: RunID, files: [(String, Data)]) throws -> [String] {
    guard !files.isEmpty else { return [] }
    let runs = artifacts.appendingPathComponent("runs")
    let staging = runs.appendingPathComponent(".incoming-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
    for (name, data) in files {
      // No temporary file and rename per file: nobody sees the staging folder until it moves in place.
      try data.write(to: staging.appendingPathComponent(name))
    }
    // Left behind only when something below failed.
    defer { try? FileManager.default.removeItem(at: staging) }
    let target = runs.appendingPathComponent(run.rawValue)
    if FileManager.default.fileExists(atPath: target.path) {
      // An unrecorded copy (the coordinator died between moving it in and committing). rename(2)
      // cannot replace a non-empty directory (`replaceItemAt` failed with ENOTEMPTY here, so the
      // result was refused on every resend): move the old copy aside, the new one in, then delete.
      let stale = runs.appendingPathComponent(".stale-\(UUID().uuidString)")
      try FileManager.default.moveItem(at: target, to: stale)
      try FileManager.default.moveItem(at: staging, to: target)
      try? FileManager.default.removeItem(at: stale)
    } else {
      try FileManager.default.moveItem(at: staging, to: target)
    }
    return files.map { target.appendingPathComponent($0.0).path }
  }

  private func fetch(_ route: Data, _ fetch: Fetch) throws {
    guard
      let (data, total) = try datasets.chunk(sha256: fetch.sha256, offset: fetch.offset, length: fetch.length)
    else {
      throw WireError.malformed("no dataset with sha256 \(fetch.sha256)")
    }
    reply(
      route,
      WireMessage(
        .chunk, Chunk(sha256: fetch.sha256, offset: fetch.offset, total: total), attachments: [data]))
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
          attempt: AttemptRef(runID: assignment.attempt.run.rawValue, attempt: assignment.attempt.number),
          spec: assignment.spec, dataset: dataset,
          leaseMilliseconds: Int(
            lease.components.seconds * 1000 + lease.components.attoseconds / 1_000_000_000_000_000))
        var runLogger = logger
        runLogger[metadataKey: "run"] = "\(assignment.attempt.run)"
        runLogger[metadataKey: "worker"] = "\(assignment.worker)"
        runLogger.info(
          "assigned attempt \(assignment.attempt.number)", metadata: ["point": "\(assignment.pointID)"])
        reply(route, WireMessage(.assign, message))
        counting.assigned += 1
      case .acknowledge(let worker, let attempt, let disposition):
        guard let route = routes[worker] else { continue }
        if disposition == .duplicate {
          logger.notice(
            "duplicate result discarded", metadata: ["run": "\(attempt.run)", "worker": "\(worker)"])
        }
        reply(
          route,
          WireMessage(
            .ack,
            Ack(
              attempt: AttemptRef(runID: attempt.run.rawValue, attempt: attempt.number),
              duplicate: disposition.isDuplicate)))
        counting.acknowledged += 1
      case .cancelRun(let worker, let attempt):
        guard let route = routes[worker] else { continue }
        reply(
          route,
          WireMessage(
            .cancel, Cancel(attempt: AttemptRef(runID: attempt.run.rawValue, attempt: attempt.number))))
      case .requestHello(let worker):
        guard let route = routes[worker] else { continue }
        reply(route, WireMessage(.pong, Pong(known: false)))
      case .log(let level, let message):
        logger.log(level: level, "\(loggable(message, limit: 2000))")
      }
    }
  }

  private func datasetReference(_ assignment: RunAssignment) -> DatasetRef {
    let sha = assignment.spec.datasetSHA256
    let url = datasets.url(for: sha)
    let size: Int
    if let known = datasetSizes[sha] {
      size = known
    } else {
      size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
      if size > 0 { datasetSizes[sha] = size }
    }
    let name =
      assignment.datasetPath.map { URL(fileURLWithPath: $0).lastPathComponent } ?? url.lastPathComponent
    return DatasetRef(sha256: sha, size: size, name: name)
  }

  /// Sends to one peer; a peer that is gone is logged, never fatal.
  private func reply(_ route: Data, _ message: WireMessage) {
    do {
      try socket.send([route] + message.frames)
    } catch {
      logger.debug("could not send \(message.type.rawValue): \(error)")
    }
  }

  private func attemptID(_ reference: AttemptRef) -> AttemptID {
    AttemptID(run: RunID(reference.runID), number: reference.attempt)
  }

  // MARK: - Client requests

  private func request(_ route: Data, _ request: ClientRequest, attachments: [Data]) throws {
    switch request.command {
    case .dataset, .upload:
      guard let sha256 = request.sha256, let total = request.total else {
        throw WireError.malformed("\(request.command.rawValue) needs the dataset's sha256 and total size")
      }
      let held: (received: Int, complete: Bool)
      if request.command == .dataset {
        held = try uploads.status(sha256: sha256, total: total)
      } else {
        guard let offset = request.offset, attachments.count == 1 else {
          throw WireError.malformed("upload needs an offset and one attachment with the bytes")
        }
        held = try uploads.receive(sha256: sha256, total: total, offset: offset, data: attachments[0])
        if held.complete {
          logger.info("dataset uploaded", metadata: ["sha256": "\(sha256)", "bytes": "\(total)"])
        }
      }
      reply(route, WireMessage(.reply, UploadReply(received: held.received, complete: held.complete)))
    case .submit: heldReplies.append((route, WireMessage(.reply, try submit(request))))
    case .status: reply(route, WireMessage(.reply, try status(request.sweep)))
    case .cancel:
      let sweep = try sweepID(request.sweep)
      try schedule(.cancel(sweep))
      heldReplies.append(
        (route, WireMessage(.reply, ChangeReply(message: "cancelled \(sweep)", affected: 1))))
    case .retry:
      let sweep = try sweepID(request.sweep)
      let failed = scheduler.status().sweeps.first { $0.id == sweep }?.runs.failed ?? 0
      try schedule(.retryFailed(sweep))
      let message = ChangeReply(message: "\(failed) failed runs of \(sweep) queued again", affected: failed)
      heldReplies.append((route, WireMessage(.reply, message)))
    case .release:
      guard let worker = request.worker else { throw WireError.malformed("release needs a worker") }
      try schedule(.releaseQuarantine(WorkerID(worker)))
      heldReplies.append(
        (route, WireMessage(.reply, ChangeReply(message: "released \(worker)", affected: 1))))
    case .results: reply(route, WireMessage(.reply, try results(try sweepID(request.sweep))))
    case .report: reply(route, WireMessage(.reply, try reportData(try sweepID(request.sweep))))
    }
  }

  private func submit(_ request: ClientRequest) throws -> SubmitReply {
    guard let text = request.grid else { throw WireError.malformed("submit needs the grid's text") }
    let grid = try GridFile(parsing: Data(text.utf8))
    let base = URL(fileURLWithPath: request.gridDirectory ?? FileManager.default.currentDirectoryPath)
    let submission = try SweepSubmission(grid: grid) { (taskDataset: GridFile.TaskDataset) throws -> String in
      if let given = taskDataset.datasetPath, let sha256 = request.datasetHashes?[given] {
        guard FileManager.default.fileExists(atPath: datasets.url(for: sha256).path) else {
          throw TracError.invalidInput(
            "dataset \(given) (sha256 \(sha256.prefix(12))) was not uploaded in full")
        }
        return sha256
      }
      let path: String
      if let given = taskDataset.datasetPath {
        path = given.hasPrefix("/") ? given : base.appendingPathComponent(given).standardizedFileURL.path
      } else {
        path = try DSRLDatasetDirectory.resolve(task: taskDataset.task)
      }
      return try datasets.importFile(at: path).sha256
    }
    let existed = scheduler.read { $0.sweep(submission.id) != nil }
    try schedule(.submit(submission))
    let runs = Set(submission.runs.map(\.runID))
    let done = scheduler.read { current in runs.filter { current.run($0)?.state == .done }.count }
    logger.info(
      "\(existed ? "resubmitted" : "submitted") sweep",
      metadata: ["sweep": "\(submission.id)", "runs": "\(runs.count)"])
    return SubmitReply(
      sweepID: submission.id.rawValue, name: submission.name, runs: runs.count, alreadyDone: done,
      created: !existed)
  }

  /// Files a coordinator killed mid-write leaves behind: results being stored (`.incoming-*`, `.stale-*`), datasets
  /// being copied or uploaded (`.incoming-*`, `.upload-*`). Nothing refers to them after a restart.
  static func removeLeftovers(in directories: [URL]) {
    for directory in directories {
      let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
      for name in names where [".incoming-", ".upload-", ".stale-"].contains(where: { name.hasPrefix($0) }) {
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
      }
    }
  }

  /// A sweep by id or by name.
  private func sweepID(_ value: String?) throws -> SweepID {
    guard let value else { throw WireError.malformed("which sweep? give its id or name") }
    let sweeps = scheduler.status().sweeps
    if let match = sweeps.first(where: { $0.id.rawValue == value || $0.name == value }) { return match.id }
    throw CoordinatorError.unknownSweep(SweepID(value))
  }

  private func status(_ sweep: String?) throws -> StatusReply {
    let status = scheduler.status()
    var sweeps = status.sweeps
    if let sweep {
      let id = try sweepID(sweep)
      sweeps = sweeps.filter { $0.id == id }
    }
    return StatusReply(
      sweeps: sweeps.map {
        StatusReply.Sweep(
          id: $0.id.rawValue, name: $0.name, total: $0.runs.total, pending: $0.runs.pending,
          running: $0.runs.running,
          done: $0.runs.done, failed: $0.runs.failed, cancelled: $0.runs.cancelled,
          duplicates: $0.duplicatesDiscarded,
          lostAttempts: $0.lostAttempts, ageSeconds: 0)
      },
      workers: status.workers.map {
        StatusReply.Worker(
          id: $0.id.rawValue, host: $0.host, slots: $0.slots, running: $0.running.map(\.run.rawValue),
          state: "\($0.state)", quarantined: $0.quarantined, consecutiveFailures: $0.consecutiveFailures)
      },
      recentFailures: status.recentFailures.map {
        StatusReply.Failure(
          runID: $0.attempt.run.rawValue, attempt: $0.attempt.number, worker: $0.worker.rawValue,
          exitStatus: $0.exitStatus ?? -1, stderrTail: $0.stderrTail, inputError: $0.isInputError)
      })
  }

  /// The columns of `results`: a run's inputs (every hyperparameter, in `HyperparameterName`'s
  /// order), and the evaluation from its run.json.
  static let resultColumns: [String] =
    ["sweep", "run_id", "point", "task", "algorithm"] + HyperparameterName.allCases.map(\.rawValue) + [
      "cost_threshold", "seed", "normalized_reward",
      "normalized_reward_std", "normalized_cost", "normalized_cost_std", "safe", "reward_return",
      "cost_return", "eval_episodes", "attempt", "worker", "train_seconds", "policy",
    ]

  /// One tidy row per recorded run.
  private func results(_ sweep: SweepID) throws -> ResultsReply {
    let rows = try scheduler.store.results(sweep: sweep)
    return ResultsReply(
      columns: Self.resultColumns,
      rows: rows.map {
        Self.resultRow(sweep: sweep, run: $0.run, pointID: $0.pointID, spec: $0.spec, result: $0)
      })
  }

  /// The grid and every run of the sweep, recorded or not, for `trac-sweep report`.
  private func reportData(_ sweep: SweepID) throws -> ReportDataReply {
    guard let record = scheduler.read({ $0.sweep(sweep) }) else { throw CoordinatorError.unknownSweep(sweep) }
    let recorded = try scheduler.store.results(sweep: sweep)
    var rows = recorded.map {
      Self.resultRow(sweep: sweep, run: $0.run, pointID: $0.pointID, spec: $0.spec, result: $0) + ["done"]
    }
    let done = Set(recorded.map(\.run))
    let others = scheduler.read { current in
      record.members.filter { !done.contains($0.run) }.compactMap { member in
        current.run(member.run).map { (member, $0.spec, $0.state.name) }
      }
    }
    for (member, spec, state) in others {
      rows.append(
        Self.resultRow(sweep: sweep, run: member.run, pointID: member.pointID, spec: spec, result: nil) + [
          state
        ])
    }
    return ReportDataReply(
      sweepID: sweep.rawValue, name: record.name, grid: record.gridJSON,
      columns: Self.resultColumns + ["state"],
      rows: rows)
  }

  /// A run's row of `resultColumns`; the evaluation's fields are empty without a recorded result.
  static func resultRow(sweep: SweepID, run: RunID, pointID: String, spec: RunSpec, result: ResultRow?)
    -> [String]
  {
    let h = spec.hyperparameters
    let record =
      result.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.runJSON.utf8))) as? [String: Any] }
      ?? [:]
    let evaluation = record["evaluation"] as? [String: Any]
    let threshold = (evaluation?["by_threshold"] as? [[String: Any]])?.first
    func number(_ object: [String: Any]?, _ key: String, _ field: String) -> String {
      ((object?[key] as? [String: Any])?[field] as? Double).map { String($0) } ?? ""
    }
    let timing = record["timing"] as? [String: Any]
    let identity: [String] = [sweep.rawValue, run.rawValue, pointID, spec.task, spec.algorithm.rawValue]
    let hyperparameters: [String] = HyperparameterName.allCases.map { name in
      switch name.value(in: h) {
      case .real(let number): return "\(number)"
      case .integer(let count): return "\(count)"
      case .reference(let policy): return policy.rawValue
      case .segments(let selection): return selection.rawValue
      }
    }
    let outcome: [String] = [
      formatNumber(spec.costThreshold),
      "\(spec.seed)",
      number(threshold, "normalized_reward", "mean"), number(threshold, "normalized_reward", "std"),
      number(threshold, "normalized_cost", "mean"), number(threshold, "normalized_cost", "std"),
      (threshold?["safe"] as? Bool).map { $0 ? "true" : "false" } ?? "",
      number(evaluation, "reward_return", "mean"), number(evaluation, "cost_return", "mean"),
      "\(spec.evalEpisodes)", result.map { "\($0.attempt)" } ?? "", result?.worker.rawValue ?? "",
      (timing?["total_seconds"] as? Double).map { String($0) } ?? "",
      result?.artifactPaths.first { $0.hasSuffix("policy.safetensors") } ?? "",
    ]
    return identity + hyperparameters + outcome
  }
}

/// A flag set from another thread (a signal source) and read by a loop.
public final class StopFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false

  public init() {}

  public var isSet: Bool {
    lock.lock()
    defer { lock.unlock() }
    return value
  }

  public func set() {
    lock.lock()
    value = true
    lock.unlock()
  }
}
