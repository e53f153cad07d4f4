import Foundation
import Logging
import SweepWire
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// An attempt the worker holds a lease for: fetching its dataset (`process == nil`) or training.
struct RunningAttempt {
  let key: AttemptID
  let assign: Assign
  let directory: AttemptDirectory
  let logger: Logger
  var process: TrainerProcess?

  var ref: AttemptID { assign.attempt }
}

/// A trainer the worker asked to stop: reaped and cleaned up, never reported.
struct StoppingTrainer {
  let process: TrainerProcess
  let directory: AttemptDirectory
  let killAt: ContinuousClock.Instant
  var killed = false
}

/// A dataset being fetched from the coordinator, one chunk request in flight.
struct DatasetFetch {
  let dataset: DatasetRef
  var requestedOffset: Int
  var requestedAt: ContinuousClock.Instant
}

extension WorkerAgent {
  // MARK: - assign

  func assign(_ assign: Assign) {
    var runLogger = logger
    runLogger[metadataKey: "run"] = "\(assign.attempt.run)"
    let specRunID = assign.spec.runID
    guard specRunID == assign.attempt.run.rawValue else {
      runLogger.error(
        "assign ignored: its spec hashes to run id \(specRunID), not \(assign.attempt.run)")
      return
    }
    guard assign.spec.datasetSHA256 == assign.dataset.sha256.rawValue else {
      runLogger.error(
        "assign ignored: the spec's dataset is \(assign.spec.datasetSHA256), the assignment's \(assign.dataset.sha256)"
      )
      return
    }
    let key = assign.attempt
    if phase != .working {
      runLogger.notice("assign of attempt \(key.number) released: the worker is stopping")
      released.append(assign.attempt)
      return
    }
    if attempts[key] != nil {
      runLogger.info("attempt \(key.number) is already running here; assign ignored")
      return
    }
    if spool.contains(key) {
      runLogger.info("attempt \(key.number) already finished here; sending its result again")
      sendResult(key)
      return
    }
    // An older attempt of the same run still running here is no longer current.
    for other in attempts.keys where other.run == key.run {
      cancel(
        other, reason: "superseded by attempt \(key.number)"
      )
    }
    for (other, child) in stopping where other.run == key.run {
      child.process.signal(SIGKILL)
      _ = child.process.waitUntilExit(timeout: .seconds(2))
    }
    reapStopping()
    if attempts.count >= configuration.slots {
      runLogger.warning("assigned attempt \(key.number) although all \(configuration.slots) slots are busy")
    }
    let directory: AttemptDirectory
    do { directory = try runs.prepare(key) } catch {
      runLogger.error("cannot prepare the attempt's directory: \(error)")
      spoolFailure(
        key: key, logger: runLogger,
        stderrTail: "trac-sweep worker: cannot prepare the run directory: \(error)")
      return
    }
    attempts[key] = RunningAttempt(key: key, assign: assign, directory: directory, logger: runLogger)
    runLogger.info(
      "assigned attempt \(key.number)",
      metadata: ["task": "\(assign.spec.task)", "dataset": "\(assign.dataset.name)"])
    if datasets.contains(assign.dataset.sha256) {
      startTrainer(key)
    } else if fetches[assign.dataset.sha256] == nil {
      fetches[assign.dataset.sha256] = DatasetFetch(
        dataset: assign.dataset, requestedOffset: -1, requestedAt: clock.now)
      runLogger.info(
        "fetching dataset \(assign.dataset.name)",
        metadata: ["sha256": "\(assign.dataset.sha256)", "bytes": "\(assign.dataset.size)"])
      requestChunk(assign.dataset.sha256)
    }
  }

  // MARK: - cancel

  func cancel(_ ref: AttemptID, reason: String) {
    let key = ref
    guard let attempt = attempts.removeValue(forKey: key)
    else {
      logger.info("cancel of \(ref.run) attempt \(ref.number), which is not running here; nothing to do")
      return
    }
    attempt.logger.notice("attempt \(key.number) stopped: \(reason)")
    stopTrainer(of: attempt)
  }

  /// Asks the attempt's trainer to stop (SIGTERM, SIGKILL after the termination grace); an attempt
  /// that never started just loses its directory. The caller has removed it from `attempts`.
  func stopTrainer(of attempt: RunningAttempt) {
    let sha256 = attempt.assign.dataset.sha256
    if fetches[sha256] != nil, !attempts.values.contains(where: { $0.assign.dataset.sha256 == sha256 }) {
      fetches[sha256] = nil  // nobody waits for it any more; a later fetch resumes where this one stopped
    }
    guard let process = attempt.process else {
      try? runs.remove(attempt.key)
      return
    }
    process.signal(SIGTERM)
    stopping[attempt.key] = StoppingTrainer(
      process: process, directory: attempt.directory, killAt: clock.now + configuration.terminationGrace)
  }

  /// Children asked to stop: SIGKILL past their grace, cleanup once they are gone.
  func reapStopping() {
    let now = clock.now
    for (key, child) in stopping {
      if child.process.exit != nil {
        stopping[key] = nil
        if attempts[key] == nil, !spool.contains(key) { try? runs.remove(key) }
      } else if !child.killed, now >= child.killAt {
        logger.warning(
          "trainer of \(key) ignored SIGTERM for \(milliseconds(configuration.terminationGrace)) ms; killing it",
          metadata: ["run": "\(key.run)"])
        child.process.signal(SIGKILL)
        stopping[key]?.killed = true
      }
    }
  }

  // MARK: - Datasets

  /// Asks for the next piece of a dataset: from what the cache holds, at most 1 MiB.
  func requestChunk(_ sha256: SHA256Digest) {
    guard var fetch = fetches[sha256] else { return }
    let offset = datasets.receivedBytes(sha256)
    let length = max(min(DatasetCache.chunkSize, fetch.dataset.size - offset), 1)
    fetch.requestedOffset = offset
    fetch.requestedAt = clock.now
    fetches[sha256] = fetch
    send(WireMessage(.fetch, Fetch(sha256: sha256, offset: offset, length: length)))
  }

  func chunk(_ chunk: Chunk, attachments: [Data]) {
    guard let fetch = fetches[chunk.sha256] else {
      logger.debug("chunk of a dataset no longer fetched ignored", metadata: ["sha256": "\(chunk.sha256)"])
      return
    }
    guard attachments.count == 1 else {
      failFetch(chunk.sha256, reason: "a chunk came with \(attachments.count) attachments instead of 1")
      return
    }
    let data = attachments[0]
    let received = datasets.receivedBytes(chunk.sha256)
    guard chunk.offset == received else {
      // An answer to a request sent before a reconnection: the current request is still in flight.
      logger.debug("stale chunk at offset \(chunk.offset) ignored (have \(received) bytes)")
      return
    }
    guard !data.isEmpty || chunk.offset >= chunk.total else {
      failFetch(
        chunk.sha256,
        reason: "the coordinator sent no bytes at offset \(chunk.offset) of \(chunk.total)")
      return
    }
    let complete: Bool
    do {
      complete = try datasets.append(
        sha256: chunk.sha256, offset: chunk.offset, total: chunk.total, data: data)
    } catch {
      failFetch(chunk.sha256, reason: "\(error)")
      return
    }
    guard complete else {
      requestChunk(chunk.sha256)
      return
    }
    fetches[chunk.sha256] = nil
    logger.info(
      "dataset \(fetch.dataset.name) received and verified",
      metadata: ["sha256": "\(chunk.sha256)", "bytes": "\(chunk.total)"])
    for key in attempts.keys.sorted()
    where attempts[key]!.process == nil && attempts[key]!.assign.dataset.sha256 == chunk.sha256 {
      startTrainer(key)
    }
  }

  /// The dataset cannot be had: every attempt waiting for it fails, with the reason as its stderr.
  func failFetch(_ sha256: SHA256Digest, reason: String) {
    guard let fetch = fetches.removeValue(forKey: sha256) else { return }
    let text =
      "trac-sweep worker: cannot get dataset \(fetch.dataset.name) (sha256 \(sha256)): \(reason)"
    for key in attempts.keys.sorted()
    where attempts[key]!.process == nil && attempts[key]!.assign.dataset.sha256 == sha256 {
      let attempt = attempts.removeValue(forKey: key)!
      attempt.logger.error("attempt \(key.number) failed: \(text)")
      spoolFailure(key: key, logger: attempt.logger, stderrTail: text)
    }
  }

  // MARK: - Trainers

  func startTrainer(_ key: AttemptID) {
    guard var attempt = attempts[key] else { return }
    do {
      let arguments = TrainerArguments.make(
        spec: attempt.assign.spec, dataset: try datasets.url(for: attempt.assign.dataset.sha256),
        outputDirectory: attempt.directory.outputDirectory, evaluate: configuration.evaluate)
      let launch = TrainerLaunch(
        executable: configuration.trainer, arguments: arguments,
        environment: configuration.trainerEnvironment,
        in: attempt.directory)
      attempt.process = try TrainerProcess.start(launch)
      attempts[key] = attempt
      attempt.logger.info(
        "trainer started for attempt \(key.number)", metadata: ["pid": "\(attempt.process!.pid)"])
    } catch {
      attempts[key] = nil
      attempt.logger.error("cannot start the trainer: \(error)")
      spoolFailure(key: key, logger: attempt.logger, stderrTail: "trac-sweep worker: \(error)")
    }
  }

  /// Finished trainers: spooled, then reported.
  func reapAttempts() {
    for key in attempts.keys.sorted() {
      guard let attempt = attempts[key], let process = attempt.process, let exit = process.exit else {
        continue
      }
      attempts[key] = nil
      if exit.terminatedOnRequest {
        // Someone (not this loop) stopped it: not a trainer failure, so never reported as one.
        attempt.logger.notice("trainer of attempt \(key.number) was stopped on request; not reported")
        released.append(attempt.ref)
        try? runs.remove(key)
        continue
      }
      if exit.interruptedFromOutside {
        // Handed back (in `goodbye` when the worker is stopping too, else by its lease lapsing), so
        // the run is requeued with no failure counted and the worker is not quarantined for it.
        let signal = exit.signal ?? 0
        attempt.logger.notice(
          "trainer of attempt \(key.number) was stopped by signal \(signal) from outside the worker; handed back",
          metadata: ["why": "the job is being stopped? (not reported as a trainer failure)"])
        released.append(attempt.ref)
        try? runs.remove(key)
        continue
      }
      let result = AttemptResult(key: key, exit: exit)
      let status = exit.exitStatus.map { "exit status \($0)" } ?? "signal \(exit.signal ?? 0)"
      let wall = String(format: "%.1f", exit.wallSeconds)
      let line = "attempt \(key.number) \(result.outcome.rawValue) (\(status), \(wall) s)"
      if result.outcome == .succeeded {
        attempt.logger.info("\(line)")
      } else {
        attempt.logger.warning("\(line): \(exit.stderrTail.split(separator: "\n").last ?? "")")
      }
      spoolAndSend(result, files: attempt.directory.existingArtifacts(), logger: attempt.logger)
    }
  }

  /// An attempt that failed before its trainer could run (no dataset, no directory, no program).
  func spoolFailure(key: AttemptID, logger: Logger, stderrTail: String) {
    let result = AttemptResult(
      key: key, outcome: .failed, exitStatus: nil, stderrTail: stderrTail, wallSeconds: 0)
    spoolAndSend(result, files: [], logger: logger)
  }

  /// The spool entry is on the disk before the `result` leaves (PROTOCOL.md section 6).
  private func spoolAndSend(_ result: AttemptResult, files: [URL], logger: Logger) {
    do {
      try spool.write(result, files: files)
    } catch {
      logger.critical("cannot spool the result of attempt \(result.key.number), so it is not sent: \(error)")
      return
    }
    sendResult(result.key)
  }

  /// Sends a spooled result with its files as attachments, in the manifest's order.
  func sendResult(_ key: AttemptID) {
    guard let entry = spool.entry(for: key) else { return }
    var attachments: [Data] = []
    for file in entry.files {
      do {
        attachments.append(try Data(contentsOf: spool.fileURL(named: file.name, of: key)))
      } catch {
        logger.error(
          "cannot read spooled \(file.name) of \(key): \(error)", metadata: ["run": "\(key.run)"])
        return
      }
    }
    let message = ResultMessage(
      workerID: workerID, attempt: key,
      outcome: entry.result.outcome,
      exitStatus: entry.result.exitStatus, stderrTail: entry.result.stderrTail,
      files: entry.files)
    if send(WireMessage(.result, message, attachments: attachments)) { unacknowledged.insert(key) }
  }
}
