import TracCore

// Results: the first one for a run wins, every one is acknowledged.
extension Scheduler {
  /// What `result` would do with this result, without doing it: the I/O layer asks before it writes a
  /// result's files, so a result that will not be recorded touches no file.
  public func disposition(ofResultFrom workerID: WorkerID, attempt: AttemptID, succeeded: Bool)
    -> ResultDisposition
  {
    guard let run = runs[attempt.run], let record = attempts[attempt], record.worker == workerID else {
      return .discarded
    }
    if isAuditAttempt(attempt) {
      // An audit attempt: compared, not recorded (the intake checks it like a result).
      let lease = audits[attempt.run]?.lease
      return lease?.attempt == attempt.number && lease?.worker == workerID ? .recorded : .discarded
    }
    if succeeded { return run.state == .done ? .duplicate : .recorded }
    return holds(attempt, on: workerID) ? .recorded : .discarded
  }

  mutating func result(
    _ workerID: WorkerID, attempt: AttemptID, outcome: ReportedOutcome, now: SchedulerInstant,
    commands: inout [SchedulerCommand]
  ) {
    if workers[workerID]?.state == .online { heard(from: workerID, at: now) }
    func acknowledge(_ disposition: ResultDisposition) {
      commands.append(.acknowledge(worker: workerID, attempt: attempt, disposition: disposition))
    }
    let succeeded: Bool
    if case .succeeded = outcome { succeeded = true } else { succeeded = false }
    let disposition = disposition(ofResultFrom: workerID, attempt: attempt, succeeded: succeeded)
    guard var run = runs[attempt.run], let record = attempts[attempt], record.worker == workerID else {
      commands.append(
        .log(
          level: .warning,
          message: "result for attempt \(attempt) from worker \(workerID) discarded: no such attempt was "
            + "assigned to that worker"))
      acknowledge(.discarded)
      return
    }
    if auditResult(workerID, attempt: attempt, outcome: outcome, commands: &commands) { return }
    let current = holds(attempt, on: workerID)

    switch outcome {
    case .succeeded(let payload):
      guard disposition == .recorded else {
        run.duplicateResults += 1
        update(run: run)
        duplicatesDiscarded += 1
        duplicatesChanged = true
        commands.append(
          .log(
            level: .warning,
            message: "duplicate result for run \(attempt.run) from attempt \(attempt.number) on \(workerID) "
              + "discarded: its result is already recorded"))
        acknowledge(.duplicate)
        return
      }
      // First result wins, even from an attempt that lapsed: a finished run is never thrown away. An
      // attempt that took the run over since is stopped.
      if !current, let other = run.state.lease {
        let otherAttempt = AttemptID(run: attempt.run, counted: other.attempt)
        commands.append(.cancelRun(worker: other.worker, attempt: otherAttempt))
        endCurrentAttempt(of: attempt.run, outcome: .cancelled, then: .done)
        run = runs[attempt.run] ?? run
      }
      var finished = record
      finished.outcome = .succeeded
      update(attempt: finished)
      run.state = .done
      if run.isStageUnit {
        stageDone(&run, output: payload.stageOutput, seconds: payload.stageSeconds, commands: &commands)
      } else {
        dropCheckpoint(of: &run, commands: &commands)
      }
      update(run: run)
      newResults.append(ResultRecord(attempt: attempt, worker: workerID, payload: payload))
      suspectRuns[attempt.run] = nil  // trained again: the suspect row is replaced
      considerForAudit(attempt, by: workerID, fingerprint: payload.fingerprint, commands: &commands)
      if var worker = workers[workerID], worker.consecutiveFailures != 0 {
        worker.consecutiveFailures = 0
        update(worker: worker)
      }
      acknowledge(.recorded)

    case .failed(let exitStatus, let stderrTail), .inputError(let exitStatus, let stderrTail):
      guard disposition == .recorded else {
        commands.append(
          .log(
            level: .info,
            message: "failure of attempt \(attempt) on \(workerID) (exit status \(exitStatus)) not recorded: "
              + "the attempt is no longer the run's"))
        acknowledge(.discarded)
        return
      }
      let tail = Self.trimmed(stderrTail)
      let isInputError: Bool
      if case .inputError = outcome { isInputError = true } else { isInputError = false }
      run.failureCount += 1
      // The failure may come from resuming: the next attempt starts from step 0.
      dropCheckpoint(of: &run, commands: &commands)
      let giveUp = isInputError || run.failureCount >= configuration.maxAttempts
      let recorded: AttemptOutcome =
        isInputError
        ? .inputError(exitStatus: exitStatus, stderrTail: tail)
        : .failed(exitStatus: exitStatus, stderrTail: tail)
      update(run: run)  // the new failure count
      endCurrentAttempt(of: attempt.run, outcome: recorded, then: giveUp ? .failed : .pending)

      let lastLine = tail.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
      let verdict =
        isInputError
        ? "an error of its input: the run fails without retrying"
        : giveUp
          ? "attempt \(run.failureCount) of \(configuration.maxAttempts): the run failed"
          : "attempt \(run.failureCount) of \(configuration.maxAttempts): retrying"
      commands.append(
        .log(
          level: .error,
          message: "run \(attempt.run) attempt \(attempt.number) failed on \(workerID) with exit status "
            + "\(exitStatus), \(verdict): \(lastLine)"))
      if giveUp && run.isStageUnit {
        stageFailed(attempt.run, error: "exit status \(exitStatus): \(lastLine)", commands: &commands)
      }

      if !isInputError, var worker = workers[workerID] {
        worker.consecutiveFailures += 1
        if !worker.quarantined && worker.consecutiveFailures >= configuration.quarantineAfter {
          worker.quarantined = true
          commands.append(
            .log(
              level: .error,
              message:
                "worker \(workerID) quarantined after \(worker.consecutiveFailures) failures in a row: "
                + "it gets no new work until released"))
          quarantineSiblings(of: worker, commands: &commands)
        }
        update(worker: worker)
      }
      acknowledge(.recorded)
    }
  }

  /// The last 4000 characters of a stderr tail: enough to read the error, bounded in the database.
  static func trimmed(_ stderrTail: String) -> String {
    stderrTail.count > 4000 ? String(stderrTail.suffix(4000)) : stderrTail
  }
}
