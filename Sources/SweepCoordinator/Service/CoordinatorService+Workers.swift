import Foundation
import Logging
import SweepWire
import TracCore

// Messages from workers: every identifier in them was validated when the body was decoded.
extension CoordinatorService {
  /// Decodes one message and hands it to its handler; a refused message gets an `error` reply with a
  /// code, and the loop goes on.
  func handle(_ frames: [Data], peerKey: String? = nil) {
    guard let route = frames.first, frames.count > 1 else { return }
    self.peerKey = peerKey
    let message: WireMessage
    do {
      message = try WireMessage.decode(Array(frames.dropFirst()))
    } catch {
      logger.warning("refused a message: \(loggable(error.description))")
      reply(route, WireMessage(.error, ErrorMessage(error)))
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
        try bind(goodbye.workerID, to: route)
        guard scheduler.read({ $0.worker(goodbye.workerID) }) != nil else {
          throw CoordinatorError.unknownWorker(goodbye.workerID)
        }
        try schedule(.workerGoodbye(worker: goodbye.workerID, released: goodbye.released))
      case .fetch:
        let fetch = try message.decodeBody(Fetch.self)
        if let busy = admit(route, subject: fetch.sha256.rawValue) {
          reply(route, WireMessage(.error, busy))
        } else {
          try self.fetch(route, fetch)
        }
      case .checkpoint: try checkpoint(route, message)
      case .request:
        let request = try message.decodeBody(ClientRequest.self)
        if let busy = admit(route, subject: nil) {
          reply(route, WireMessage(.error, busy))
        } else {
          try self.request(route, request, attachments: message.attachments)
        }
      case .error:
        logger.warning("peer reported an error: \(loggable(String(decoding: message.body, as: UTF8.self)))")
      default:
        throw WireError.unknownType("\(message.type.rawValue) (not for the coordinator)")
      }
    } catch {
      let refusal = Self.errorMessage(for: error)
      logger.warning("refused \(message.type.rawValue): \(loggable(refusal.message))")
      reply(route, WireMessage(.error, refusal))
    }
  }

  /// The `error` reply for anything a handler throws: a code a peer can act on, and the text.
  static func errorMessage(for error: any Error) -> ErrorMessage {
    switch error {
    case let error as WireError: return ErrorMessage(error)
    case let error as InvalidIdentifier:
      return ErrorMessage(code: .invalidIdentifier, message: error.description)
    case let error as PathOutsideRoot:
      return ErrorMessage(code: .invalidIdentifier, message: error.description)
    case let error as CoordinatorError:
      let code: ErrorCode
      switch error {
      case .unknownSweep: code = .unknownSweep
      case .unknownWorker: code = .unknownWorker
      case .unknownDataset: code = .unknownDataset
      case .datasetNotAllowed: code = .datasetNotAllowed
      case .storage: code = .unavailable
      case .invalidConfiguration, .corruptState: code = .invalidInput
      case .sweepNameTaken, .sweepChanged, .refused: code = .refused
      }
      return ErrorMessage(code: code, message: error.description, subject: error.subject)
    case let error as TracError: return ErrorMessage(code: .invalidInput, message: error.description)
    case let error as GridError: return ErrorMessage(code: .invalidInput, message: error.description)
    default: return ErrorMessage(code: .invalidInput, message: "\(error)")
    }
  }

  private func hello(_ route: Data, _ hello: Hello) throws {
    guard !hello.host.isEmpty, hello.host.count <= 256, loggable(hello.host) == hello.host else {
      throw WireError.malformed("host must be 1 to 256 printable characters")
    }
    guard (0...Self.maxSlots).contains(hello.slots) else {
      throw WireError.malformed("\(hello.slots) slots; a worker may offer 0 to \(Self.maxSlots)")
    }
    let evaluates = hello.evaluates.map(Set.init)
    let worker = hello.workerID
    try bind(worker, to: route)
    routes[worker] = route
    var workerLogger = logger
    workerLogger[metadataKey: "worker"] = "\(worker)"
    workerLogger.info(
      "worker connected",
      metadata: [
        "host": "\(hello.host)", "slots": "\(hello.slots)",
        "evaluates":
          "\(hello.evaluates.map { $0.map(\.rawValue).joined(separator: ",") } ?? "(not announced)")",
      ])
    let commands = try scheduler.handle(
      .workerHello(
        worker: worker, host: hello.host, slots: hello.slots, running: hello.running, spooled: hello.spooled,
        evaluates: evaluates, publicKey: peerKey),
      now: now, commit: false)
    let interval = configuration.scheduler.heartbeatInterval
    let welcome = Welcome(
      heartbeatIntervalMilliseconds: Int(interval.wholeMilliseconds),
      liveness: configuration.scheduler.liveness, cancel: [])
    reply(route, WireMessage(.welcome, welcome))
    heldCommands += commands
  }

  private func heartbeat(_ route: Data, _ heartbeat: Heartbeat) throws {
    let worker = heartbeat.workerID
    try bind(worker, to: route)
    routes[worker] = route
    let commands = try scheduler.handle(
      .heartbeat(worker: worker, running: heartbeat.running), now: now, commit: false)
    let known = !commands.contains {
      if case .requestHello(worker) = $0 { return true } else { return false }
    }
    reply(route, WireMessage(.pong, Pong(known: known)))
    heldCommands += commands.filter { if case .requestHello = $0 { return false } else { return true } }
    // Progress is kept only for attempts this worker holds now (memory only, for `status`).
    if let reports = heartbeat.progress {
      let held = scheduler.read { scheduler in reports.filter { scheduler.holds($0.attempt, on: worker) } }
      for report in held { progress[report.attempt.run] = (worker, report) }
    }
  }

  /// A finished attempt. Its files are checked against their sizes and hashes; then the scheduler says
  /// whether it will record the result, and only a result it will record has its files written (into
  /// `artifacts/runs/<run id>/`, before the database commit, so a committed result always has its
  /// files). A duplicate, or a result for an attempt that is not this worker's, touches no file.
  private func result(_ route: Data, _ message: WireMessage) throws {
    let result = try message.decodeBody(ResultMessage.self)
    let worker = result.workerID
    try bind(worker, to: route)
    routes[worker] = route
    let attempt = result.attempt
    guard message.attachments.count == result.files.count else {
      throw WireError.malformed(
        "result lists \(result.files.count) files but carries \(message.attachments.count)")
    }
    guard Set(result.files.map(\.name)).count == result.files.count else {
      throw WireError.malformed("result of \(attempt) names a file twice")
    }
    for (file, data) in zip(result.files, message.attachments) {
      guard data.count == file.size, SHA256Digest(of: data) == file.sha256 else {
        throw WireError.malformed("file \(file.name) of \(attempt) does not match its size or sha256")
      }
    }
    let outcome: ReportedOutcome
    switch result.outcome {
    case .succeeded:
      let files = zip(result.files, message.attachments).map { (name: $0.0.name, data: $0.1) }
      let runJSON =
        files.first { $0.name.rawValue == RunFiles.runJSON }.map { String(decoding: $0.data, as: UTF8.self) }
        ?? "{}"
      let (disposition, spec) = scheduler.read {
        ($0.disposition(ofResultFrom: worker, attempt: attempt, succeeded: true), $0.run(attempt.run)?.spec)
      }
      let stage = disposition == .recorded && spec?.isStageUnit == true ? StageOutputCheck(files) : nil
      if disposition == .recorded, let spec,
        let problem = ResultCheck.problem(with: files, of: attempt.run, spec: spec)
          ?? stage?.problem(of: attempt.run, spec: spec)
      {
        // Not recorded and not cached: the attempt fails (retried, counted toward quarantine), and the
        // worker is told why in its ack.
        let reason = "the coordinator refused the result: \(problem)"
        rejections[attempt] = reason
        outcome = .failed(exitStatus: result.exitStatus ?? 0, stderrTail: reason)
      } else {
        var payload = RunResultPayload(runJSON: runJSON)
        if disposition == .recorded {
          // A stage unit's end-of-BC checkpoint is kept with the checkpoints (fetched by hash), not twice.
          if let stage, let output = stage.file {
            try checkpoints.store(output.data, sha256: output.reference.sha256)
            payload.stageOutput = output.reference
            payload.stageSeconds = payload.summary.bcSeconds
          }
          payload.artifactPaths = try artifacts.store(
            run: attempt.run, files: files.filter { $0.name.rawValue != StageOutputCheck.fileName })
        }
        outcome = .succeeded(payload)
      }
    case .failed: outcome = .failed(exitStatus: result.exitStatus ?? -1, stderrTail: result.stderrTail)
    case .inputError:
      outcome = .inputError(exitStatus: result.exitStatus ?? 65, stderrTail: result.stderrTail)
    }
    try schedule(.result(worker: worker, attempt: attempt, outcome: outcome))
  }

  /// A worker speaks for itself only: its DEALER's routing id is its worker id, so a message naming
  /// another worker's id arrived on another connection and is refused. With CURVE, a worker id belongs
  /// to the key that first registered it (saved with the worker's row): a connection authenticated with
  /// another key may not speak for it, whether it says hello or reports on the id's attempts. The
  /// refusal's `subject` is the refused key: the worker holding it stops, and an honest worker that
  /// receives it by mistake (ZeroMQ hands the routing id to the newest connection) ignores it.
  private func bind(_ worker: WorkerID, to route: Data) throws {
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

  /// A running attempt's newest checkpoint. Checked (size, hash, a checkpoint of this run) and kept only
  /// if the scheduler will keep it: the attempt is the run's current one on this worker and the
  /// checkpoint is newer than the one kept. The file is written before the commit that refers to it.
  private func checkpoint(_ route: Data, _ message: WireMessage) throws {
    let body = try message.decodeBody(CheckpointMessage.self)
    let worker = body.workerID
    try bind(worker, to: route)
    routes[worker] = route
    let attempt = body.attempt
    let reference = body.checkpoint
    guard message.attachments.count == 1, let data = message.attachments.first else {
      throw WireError.malformed("a checkpoint carries its bytes as exactly one attachment")
    }
    guard data.count == reference.size, SHA256Digest(of: data) == reference.sha256 else {
      throw WireError.malformed("checkpoint of \(attempt) does not match its size or sha256")
    }
    guard let header = CheckpointHeader(data), header.format == CheckpointFormat.current,
      header.runID == attempt.run.rawValue, header.step == reference.step
    else {
      throw WireError.refused(
        code: .invalidInput,
        message:
          "checkpoint of \(attempt) is not a \(CheckpointFormat.current) file of run \(attempt.run) at step "
          + "\(reference.step)", subject: attempt.run.rawValue)
    }
    let accepted = scheduler.read {
      $0.acceptsCheckpoint(from: worker, attempt: attempt, step: reference.step)
    }
    if accepted { try checkpoints.store(data, sha256: reference.sha256) }
    try schedule(
      .checkpointShipped(
        worker: worker, attempt: attempt,
        checkpoint: RunCheckpoint(reference)))
  }

  private func fetch(_ route: Data, _ fetch: Fetch) throws {
    let piece: (data: Data, total: Int)?
    do {
      piece =
        try datasets.chunk(sha256: fetch.sha256, offset: fetch.offset, length: fetch.length)
        ?? checkpoints.chunk(sha256: fetch.sha256, offset: fetch.offset, length: fetch.length)
    } catch {
      throw WireError.refused(code: .invalidInput, message: "\(error)", subject: fetch.sha256.rawValue)
    }
    guard let (data, total) = piece else { throw CoordinatorError.unknownDataset(fetch.sha256) }
    reply(
      route,
      WireMessage(
        .chunk, Chunk(sha256: fetch.sha256, offset: fetch.offset, total: total), attachments: [data]))
  }
}
