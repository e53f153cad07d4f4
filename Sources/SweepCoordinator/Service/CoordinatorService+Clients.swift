import Foundation
import Logging
import SweepWire
import TracCore

// Requests from clients (`submit`, `status`, ... and dataset uploads).
extension CoordinatorService {
  func request(_ route: Data, _ request: ClientRequest, attachments: [Data]) throws {
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
    case .status:
      let sweep = request.sweep
      heldReads.append((route, { try self.status(sweep) }))
    case .cancel:
      let sweep = try sweepID(request.sweep)
      let before = scheduler.read { $0.sweepStatus(sweep)?.runs.cancelled } ?? 0
      try schedule(.cancel(sweep))
      let after = scheduler.read { $0.sweepStatus(sweep)?.runs.cancelled } ?? 0
      let message = ChangeReply(
        message: "cancelled \(sweep): \(after - before) runs", affected: after - before)
      heldReplies.append((route, WireMessage(.reply, message)))
    case .retry:
      let sweep = try sweepID(request.sweep)
      let before = scheduler.read { $0.sweepStatus(sweep)?.runs.failed } ?? 0
      try schedule(.retryFailed(sweep))
      let after = scheduler.read { $0.sweepStatus(sweep)?.runs.failed } ?? 0
      let message = ChangeReply(
        message: "\(before - after) failed runs of \(sweep) queued again", affected: before - after)
      heldReplies.append((route, WireMessage(.reply, message)))
    case .release:
      guard let worker = request.worker else { throw WireError.malformed("release needs a worker") }
      let wasQuarantined = scheduler.read { $0.worker(worker)?.quarantined } ?? false
      try schedule(.releaseQuarantine(worker))
      let message =
        wasQuarantined
        ? ChangeReply(message: "released \(worker) from quarantine", affected: 1)
        : ChangeReply(message: "\(worker) was not quarantined", affected: 0)
      heldReplies.append((route, WireMessage(.reply, message)))
    case .results:
      let sweep = try sweepID(request.sweep)
      heldReads.append((route, { try self.results(sweep) }))
    case .report:
      let sweep = try sweepID(request.sweep)
      heldReads.append((route, { try self.reportData(sweep) }))
    case .metrics:
      heldReads.append((route, { self.metrics() }))
    }
  }

  /// The loop's counters and timings (`metrics`): read-only, answered from memory in O(1) (the
  /// scheduler's tallies; the artifact folders' sizes are recounted at most every 5 seconds).
  func metrics() -> MetricsReply {
    let (totals, duplicates) = scheduler.read { ($0.totals, $0.duplicatesDiscarded) }
    let (recorded, queued) = (totals.runs.done, totals.runs.pending)
    let (failed, lost) = (totals.failedAttempts, totals.lostAttempts)
    let artifactsDirectory = configuration.stateDirectory.appendingPathComponent("artifacts")
    let now = clockNow
    let uptime = now - started
    var reply = MetricsReply(
      uptimeSeconds: uptime.seconds,
      messages: counting.messages, hellos: counting.hellos, heartbeats: counting.heartbeats,
      results: counting.results, assignments: counting.assigned, acknowledgements: counting.acknowledged,
      commits: counting.batches, resultsRecorded: recorded,
      duplicates: duplicates, failedAttempts: failed, lostAttempts: lost,
      queueDepth: queued,
      datasetBytes: directorySizes.bytes(under: datasets.directory, version: counting.messages, now: now),
      artifactBytes: directorySizes.bytes(
        under: artifactsDirectory.appendingPathComponent("runs"), version: recorded, now: now),
      loopPassSeconds: timings.pass.reply, commitSeconds: timings.commit.reply)
    reply.repliesDropped = counting.repliesDropped
    reply.busyAnswers = counting.busy
    reply.queuedReplyBytes = outbound.total
    reply.queuedReplyBytesPeak = outbound.highWater
    return reply
  }

  func submit(_ request: ClientRequest) throws -> SubmitReply {
    guard let text = request.grid else { throw WireError.malformed("submit needs the grid's text") }
    let grid = try GridFile(parsing: Data(text.utf8))
    let base = URL(fileURLWithPath: request.gridDirectory ?? FileManager.default.currentDirectoryPath)
    let submission = try SweepSubmission(grid: grid) { (taskDataset: GridFile.TaskDataset) throws -> String in
      if let given = taskDataset.datasetPath, let sha256 = request.datasetHashes?[given] {
        guard datasets.contains(sha256) else { throw CoordinatorError.unknownDataset(sha256) }
        return sha256.rawValue
      }
      // Read from this machine's disk: only inside the directories the operator named.
      let path: String
      if let given = taskDataset.datasetPath {
        path = given.hasPrefix("/") ? given : base.appendingPathComponent(given).standardizedFileURL.path
      } else {
        path = try DSRLDatasetDirectory.resolve(task: taskDataset.task)
      }
      guard datasetSources.contains(where: { $0.contains(URL(fileURLWithPath: path)) }) else {
        throw CoordinatorError.datasetNotAllowed(path: path, allowed: datasetSources.map(\.url.path))
      }
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw WireError.refused(
          code: .invalidInput, message: "dataset \(path): no such readable file on the coordinator's machine",
          subject: nil)
      }
      return try datasets.importFile(at: path).sha256.rawValue
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

  /// A sweep by id or by name: O(1), from the scheduler's name index (the known sweeps are listed
  /// only when none matches).
  func sweepID(_ value: String?) throws -> SweepID {
    guard let value else { throw WireError.malformed("which sweep? give its id or name") }
    if let match = scheduler.read({ $0.sweepID(matching: value) }) { return match }
    let sweeps = scheduler.read { $0.sweeps.values.sorted { $0.submitOrder < $1.submitOrder } }
    throw WireError.refused(
      code: .unknownSweep,
      message: "no sweep has the id or name \"\(loggable(value, limit: 80))\"; known sweeps: "
        + (sweeps.isEmpty ? "none" : sweeps.map { "\($0.id) (\($0.name))" }.joined(separator: ", ")),
      subject: loggable(value, limit: 80))
  }

  func status(_ sweep: String?) throws -> StatusReply {
    let status = scheduler.status()
    var sweeps = status.sweeps
    if let sweep {
      let id = try sweepID(sweep)
      sweeps = sweeps.filter { $0.id == id }
    }
    // A sweep's age counts from its first submission, as the database recorded it (restarts included);
    // read once, not per poll.
    let submitted = try scheduler.sweepSubmissionDates()
    let clock = Date()
    let shown = Set(sweeps.map(\.id))
    return StatusReply(
      sweeps: sweeps.map {
        StatusReply.Sweep(
          id: $0.id.rawValue, name: $0.name, total: $0.runs.total, pending: $0.runs.pending,
          running: $0.runs.running,
          done: $0.runs.done, failed: $0.runs.failed, cancelled: $0.runs.cancelled,
          duplicates: $0.duplicatesDiscarded,
          lostAttempts: $0.lostAttempts,
          ageSeconds: submitted[$0.id].map { max(0, clock.timeIntervalSince($0)) } ?? 0)
      },
      workers: status.workers.map {
        StatusReply.Worker(
          id: $0.id.rawValue, host: $0.host, slots: $0.slots, running: $0.running.map(\.run.rawValue),
          state: "\($0.state)", quarantined: $0.quarantined, consecutiveFailures: $0.consecutiveFailures,
          evaluates: $0.evaluates.map(\.rawValue).sorted())
      },
      recentFailures: status.recentFailures.map {
        StatusReply.Failure(
          runID: $0.attempt.run.rawValue, attempt: $0.attempt.number, worker: $0.worker.rawValue,
          exitStatus: $0.exitStatus ?? -1, stderrTail: $0.stderrTail, inputError: $0.isInputError,
          sweeps: $0.sweeps.map(\.rawValue), stageUnit: $0.isStageUnit)
      },
      waitingFor: status.waiting.map {
        StatusReply.Waiting(evaluates: $0.family.rawValue, runs: $0.runs, reason: $0.reason)
      },
      checkpoints: scheduler.read { scheduler in
        let held = scheduler.checkpointsHeld
        return StatusReply.Checkpoints(runs: held.runs, bytes: held.bytes)
      },
      progress: runningProgress(in: shown),
      stages: StatusReply.Stages(
        units: status.stages.units.total, done: status.stages.units.done,
        running: status.stages.units.running, failed: status.stages.units.failed,
        runs: status.stages.dependents, runsDone: status.stages.dependentsDone, bytes: status.stages.bytes,
        secondsSaved: status.stages.secondsSaved))
  }

  /// The progress of the runs running now in these sweeps, by run id; reports of attempts that ended
  /// are forgotten here.
  func runningProgress(in sweeps: Set<SweepID>) -> [StatusReply.RunProgress] {
    var shown: [StatusReply.RunProgress] = []
    for (run, entry) in progress.sorted(by: { $0.key < $1.key }) {
      let (current, owners) = scheduler.read { scheduler in
        (scheduler.holds(entry.progress.attempt, on: entry.worker), scheduler.sweeps(containing: run))
      }
      guard current else {
        progress[run] = nil
        continue
      }
      guard owners.contains(where: sweeps.contains) else { continue }
      let report = entry.progress
      shown.append(
        StatusReply.RunProgress(
          runID: run.rawValue, attempt: report.attempt.number, worker: entry.worker.rawValue,
          sweeps: owners.map(\.rawValue), phase: report.phase, step: report.step,
          totalSteps: report.totalSteps,
          loss: report.loss))
    }
    return shown
  }

  /// Those of `runs` that start from a shared BC stage unit.
  func sharesStage(_ runs: [RunID]) -> Set<RunID> {
    scheduler.read { scheduler in Set(runs.filter { scheduler.run($0)?.stage != nil }) }
  }

  /// The columns of `results` (`ResultColumns`).
  public static var resultColumns: [String] { ResultColumns.names }

  /// One tidy row per recorded run.
  func results(_ sweep: SweepID) throws -> ResultsReply {
    let rows = try scheduler.store.results(sweep: sweep)
    let sharing = sharesStage(rows.map(\.run))
    let grid = self.grid(of: sweep)
    return ResultsReply(
      columns: Self.resultColumns, types: ResultColumns.kinds.map(\.rawValue),
      rows: rows.map {
        Self.resultRow(
          sweep: sweep, run: $0.run, pointID: $0.pointID, spec: $0.spec, result: $0,
          sharesStage: sharing.contains($0.run), grid: grid)
      })
  }

  /// The sweep's grid, for the `setting` labels (parsed once per request; it parsed when submitted).
  func grid(of sweep: SweepID) -> GridFile? {
    scheduler.read { $0.sweep(sweep) }.flatMap { try? GridFile(parsing: Data($0.gridJSON.utf8)) }
  }

  /// The grid and every run of the sweep, recorded or not, for `trac-sweep report`.
  func reportData(_ sweep: SweepID) throws -> ReportDataReply {
    guard let record = scheduler.read({ $0.sweep(sweep) }) else { throw CoordinatorError.unknownSweep(sweep) }
    let recorded = try scheduler.store.results(sweep: sweep)
    let sharing = sharesStage(recorded.map(\.run))
    let grid = try? GridFile(parsing: Data(record.gridJSON.utf8))
    var rows = recorded.map {
      Self.resultRow(
        sweep: sweep, run: $0.run, pointID: $0.pointID, spec: $0.spec, result: $0,
        sharesStage: sharing.contains($0.run), grid: grid) + ["done"]
    }
    let done = Set(recorded.map(\.run))
    let others = scheduler.read { current in
      record.members.filter { !done.contains($0.run) }.compactMap { member in
        current.run(member.run).map { (member, $0.spec, $0.state.name) }
      }
    }
    for (member, spec, state) in others {
      rows.append(
        Self.resultRow(
          sweep: sweep, run: member.run, pointID: member.pointID, spec: spec, result: nil, grid: grid) + [
            state
          ])
    }
    return ReportDataReply(
      sweepID: sweep.rawValue, name: record.name, grid: record.gridJSON,
      columns: Self.resultColumns + ["state"], types: ResultColumns.kinds.map(\.rawValue) + ["text"],
      rows: rows)
  }

  /// A run's row of `resultColumns`; the evaluation's fields are empty without a recorded result.
  static func resultRow(
    sweep: SweepID, run: RunID, pointID: String, spec: RunSpec, result: ResultRow?, sharesStage: Bool = false,
    grid: GridFile?
  ) -> [String] {
    let h = spec.hyperparameters
    // run.json as decoded when the result arrived (`RunSummary`): no JSON is read here.
    let record = result?.summary ?? RunSummary()
    func number(_ value: Double?) -> String { value.map { formatDecimal($0) } ?? "" }
    // The setting tells TraC's points from the baselines, which share the base point's id.
    let setting =
      grid?.settingLabel(spec.algorithm, pointID: pointID) ?? "\(spec.algorithm.rawValue) \(pointID)"
    let identity: [String] = [
      sweep.rawValue, run.rawValue, pointID, setting, spec.task, spec.algorithm.rawValue,
    ]
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
      number(record.rewardMean), number(record.rewardStd), number(record.costMean), number(record.costStd),
      record.safe.map { $0 ? "true" : "false" } ?? "",
      number(record.rewardReturnMean), number(record.costReturnMean),
      "\(spec.evalEpisodes)", result.map { "\($0.attempt)" } ?? "", result?.worker.rawValue ?? "",
      number(record.totalSeconds),
      result?.artifactPaths.first { $0.hasSuffix("policy.safetensors") } ?? "",
      // As the trainer recorded it; computed (a hash of the spec) only for runs without a run.json.
      record.bcStage ?? spec.bcStage?.stageID ?? "",
      result == nil ? "" : "\(stepsTrained(run: run, spec: spec, record: record, sharesStage: sharesStage))",
    ]
    return identity + hyperparameters + outcome
  }

  /// The steps trained for the run itself, its shared BC stage left out: all of them when its
  /// recorded attempt started from step 0, the TraC phase when it started from its stage unit's
  /// checkpoint; after resuming from its own checkpoint, the TraC phase if the run shares a stage.
  /// Another run's checkpoint can only be the end of this run's BC stage (the trainer refuses any
  /// other), so no id needs computing.
  static func stepsTrained(run: RunID, spec: RunSpec, record: RunSummary, sharesStage: Bool) -> Int {
    let steps = spec.hyperparameters.steps
    guard let resumedFrom = record.resumedFromRun else { return steps }
    let startedFromStage = resumedFrom != run.rawValue || sharesStage
    return startedFromStage ? steps - spec.hyperparameters.bcSteps : steps
  }
}
