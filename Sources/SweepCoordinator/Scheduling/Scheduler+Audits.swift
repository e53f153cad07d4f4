import Foundation
import TracCore

// Audits (docs/SECURITY.md): training is deterministic for a given kernel, so a recorded result can be
// verified by training its run again on another worker. A share of recorded results
// (`configuration.auditShare`, drawn from a secret salt, so no worker can tell which) is trained again
// by a worker that had no part in the run, computing with the same kernels. An audit attempt is an
// ordinary attempt of the run to the worker (same `assign`, same run id): it cannot tell it from work.
// Agreement passes the result. A disagreement is settled by a third worker: the side it contradicts is
// convicted (quarantined with its CURVE key's other ids, its running attempts cancelled, its recorded
// results marked suspect and trained again). Audits use slots no pending run can use.
extension Scheduler {
  // MARK: Choosing

  /// Whether the result `attempt` recorded is drawn for audit: the first 64 bits of
  /// SHA-256(salt, run id, attempt) below `auditShare` of 2^64. The salt is the coordinator's secret
  /// (`audit-salt` in its state directory), so workers cannot predict the draw.
  public func isDrawnForAudit(_ attempt: AttemptID) -> Bool {
    let share = configuration.auditShare
    guard share > 0 else { return false }
    guard share < 1 else { return true }
    let digest = sha256Hex(Data("\(configuration.auditSalt)/\(attempt.run.rawValue)/\(attempt.number)".utf8))
    guard let value = UInt64(digest.prefix(16), radix: 16) else { return false }
    return Double(value) < share * 18_446_744_073_709_551_616.0
  }

  /// A result was recorded: it is audited if drawn and if another worker can reproduce it.
  mutating func considerForAudit(
    _ attempt: AttemptID, by workerID: WorkerID, fingerprint: ResultFingerprint?,
    commands: inout [SchedulerCommand]
  ) {
    if let fingerprint, !fingerprint.reproducible, let kernel = fingerprint.kernels.last {
      learnedKernels[workerID] = kernel
    }
    guard let fingerprint, fingerprint.isAuditable(startsFromStage: runs[attempt.run]?.stage != nil),
      isDrawnForAudit(attempt)
    else { return }
    if let old = audits[attempt.run], !old.state.isFinal { return }
    update(
      audit: AuditRecord(
        run: attempt.run, producer: workerID, producerAttempt: attempt.number, expected: fingerprint))
    commands.append(
      .log(
        level: .info,
        message: "result of run \(attempt.run) (attempt \(attempt.number) on \(workerID)) drawn for audit: "
          + "another worker will train it again"))
  }

  // MARK: Assigning

  /// Whether `workerID` may train `audit`'s run again: online and not quarantined, no part in the result
  /// (not its producer or a disputing auditor, nor one of their CURVE key's ids, not tried before),
  /// evaluates the run's family, and computes with the kernel the result needs when it is known to
  /// compute with another. An audit attempt starts from nothing the worker kept (no checkpoint), so an
  /// earlier attempt of the run on the worker does not matter.
  func mayAudit(_ workerID: WorkerID, _ audit: AuditRecord) -> Bool {
    guard let worker = workers[workerID], worker.state == .online, !worker.quarantined,
      let run = runs[audit.run]
    else { return false }
    var parties: Set<WorkerID> = [audit.producer]
    parties.formUnion(audit.tried)
    if let dispute = audit.dispute { parties.insert(dispute.auditor) }
    if parties.contains(workerID) { return false }
    if let key = worker.publicKey, parties.contains(where: { workers[$0]?.publicKey == key }) { return false }
    if let need = Self.evaluationNeed(of: run.spec), !worker.evaluates.contains(need) { return false }
    if let kernel = audit.expected.neededKernel, let known = learnedKernels[workerID], known != kernel {
      return false
    }
    return true
  }

  /// Starts waiting audits on workers with a slot free after the pending runs took theirs.
  mutating func assignAudits(now: SchedulerInstant, commands: inout [SchedulerCommand]) {
    guard !waitingAudits.isEmpty, freeSlots.best() != nil else { return }
    var free = workers.values.filter { hasFreeSlot($0.id) }.map(\.id).sorted()
    guard !free.isEmpty else { return }
    let waiting = waitingAudits.compactMap { audits[$0] }.sorted {
      (runs[$0.run]?.queueOrder ?? 0) < (runs[$1.run]?.queueOrder ?? 0)
    }
    for audit in waiting {
      guard let index = free.firstIndex(where: { mayAudit($0, audit) }) else { continue }
      let worker = free[index]
      startAudit(audit, on: worker, now: now, commands: &commands)
      if !hasFreeSlot(worker) { free.remove(at: index) }
      if free.isEmpty { return }
    }
  }

  func hasFreeSlot(_ workerID: WorkerID) -> Bool {
    guard let worker = workers[workerID], worker.state == .online, !worker.quarantined else { return false }
    return load(of: workerID) < worker.slots
  }

  /// The attempts `workerID` runs: its runs' and its audits'.
  func load(of workerID: WorkerID) -> Int {
    (runningByWorker[workerID]?.count ?? 0) + (auditsByWorker[workerID]?.count ?? 0)
  }

  private mutating func startAudit(
    _ audit: AuditRecord, on workerID: WorkerID, now: SchedulerInstant, commands: inout [SchedulerCommand]
  ) {
    guard var run = runs[audit.run], run.state == .done else { return }
    run.attemptCount += 1
    let attempt = AttemptID(run: run.id, counted: run.attemptCount)
    let deadline = now + configuration.leaseDuration
    update(attempt: AttemptRecord(id: attempt, worker: workerID))
    update(run: run)
    var started = audit
    started.state = .running(RunLease(attempt: attempt.number, worker: workerID, leaseDeadline: deadline))
    started.attempts.append(attempt.number)
    update(audit: started)
    assignmentCount += 1
    lastAssignment[workerID] = assignmentCount
    refreshSlots(of: workerID)
    // From step 0 (or its stage unit's output): nothing the run's earlier attempts shipped.
    commands.append(
      .assign(assignment(of: run, attempt: attempt, to: workerID, deadline: deadline, from: nil)))
    commands.append(
      .log(
        level: .info,
        message: "audit of run \(run.id) (recorded from \(audit.producer)): attempt \(attempt.number) on "
          + "\(workerID)\(audit.dispute == nil ? "" : ", as referee")"))
  }

  // MARK: Leases

  /// Whether `attempt` is one of its run's audit attempts.
  public func isAuditAttempt(_ attempt: AttemptID) -> Bool {
    audits[attempt.run]?.attempts.contains(attempt.number) ?? false
  }

  /// The audit attempts `workerID` runs.
  func runningAudits(of workerID: WorkerID) -> [AttemptID] {
    (auditsByWorker[workerID] ?? []).sorted().compactMap { run in
      audits[run]?.lease.map { AttemptID(run: run, counted: $0.attempt) }
    }
  }

  /// For a worker that names an audit attempt as running: true (lease extended) when it is the audit's
  /// current attempt there, false when it is not; nil when `attempt` is no audit attempt.
  mutating func adoptAudit(_ attempt: AttemptID, by workerID: WorkerID, now: SchedulerInstant) -> Bool? {
    guard isAuditAttempt(attempt) else { return nil }
    guard let lease = audits[attempt.run]?.lease, lease.attempt == attempt.number, lease.worker == workerID
    else { return false }
    audits[attempt.run]?.state = .running(
      RunLease(attempt: lease.attempt, worker: workerID, leaseDeadline: now + configuration.leaseDuration))
    return true
  }

  /// Ends `run`'s running audit attempt with `outcome`: the audit waits for a worker again (one that
  /// failed it or is `excluding` is not asked again).
  mutating func endAuditAttempt(
    of runID: RunID, outcome: AttemptOutcome, excluding: Bool, commands: inout [SchedulerCommand]
  ) {
    guard var audit = audits[runID], let lease = audit.lease else { return }
    let id = AttemptID(run: runID, counted: lease.attempt)
    if var attempt = attempts[id] {
      attempt.outcome = outcome
      update(attempt: attempt)
    }
    if outcome.isTrainerFailure {
      noteFailure(id)
      audit.failures += 1
    }
    if excluding || outcome.isTrainerFailure { audit.tried.append(lease.worker) }
    audit.state = .waiting
    if audit.failures >= AuditRecord.maximumFailures {
      audit.state = .inconclusive
      audit.detail = "\(audit.failures) audit trainings failed (the last on \(lease.worker))"
      commands.append(.log(level: .warning, message: "audit of run \(runID) inconclusive: \(audit.detail)"))
    }
    update(audit: audit)
  }

  // MARK: Verdicts

  /// A result from an audit attempt: compared, never recorded. False when `attempt` is no audit attempt.
  mutating func auditResult(
    _ workerID: WorkerID, attempt: AttemptID, outcome: ReportedOutcome, commands: inout [SchedulerCommand]
  ) -> Bool {
    guard isAuditAttempt(attempt), let audit = audits[attempt.run] else { return false }
    guard let lease = audit.lease, lease.attempt == attempt.number, lease.worker == workerID else {
      commands.append(
        .log(
          level: .info,
          message: "result of audit attempt \(attempt) on \(workerID) discarded: no longer the audit's"))
      commands.append(.acknowledge(worker: workerID, attempt: attempt, disposition: .discarded))
      return true
    }
    switch outcome {
    case .failed(let status, let tail), .inputError(let status, let tail):
      let isInput: Bool
      if case .inputError = outcome { isInput = true } else { isInput = false }
      let trimmed = Self.trimmed(tail)
      endAuditAttempt(
        of: attempt.run,
        outcome: isInput
          ? .inputError(exitStatus: status, stderrTail: trimmed)
          : .failed(exitStatus: status, stderrTail: trimmed),
        excluding: true, commands: &commands)
      commands.append(
        .log(
          level: .warning,
          message: "audit attempt \(attempt) failed on \(workerID) with exit status \(status): "
            + "another worker will audit"))
    case .succeeded(let payload):
      if var record = attempts[attempt] {
        record.outcome = .succeeded
        update(attempt: record)
      }
      var judged = audit
      judged.state = .waiting
      if let fingerprint = payload.fingerprint {
        if !fingerprint.reproducible, let kernel = fingerprint.kernels.last {
          learnedKernels[workerID] = kernel
        }
        judge(&judged, trainedBy: workerID, fingerprint, commands: &commands)
      } else {
        judged.tried.append(workerID)
        update(audit: judged)
      }
    }
    commands.append(.acknowledge(worker: workerID, attempt: attempt, disposition: .recorded))
    return true
  }

  /// Compares an audit's training with the recorded result (and, in a dispute, with the first auditor's)
  /// and carries out the verdict.
  private mutating func judge(
    _ audit: inout AuditRecord, trainedBy workerID: WorkerID, _ fingerprint: ResultFingerprint,
    commands: inout [SchedulerCommand]
  ) {
    let run = audit.run
    guard audit.expected.isComparable(with: fingerprint) else {
      audit.tried.append(workerID)
      audit.detail =
        "\(workerID) computed with other kernels (\(fingerprint.short) against \(audit.expected.short)): "
        + "not compared; another worker will audit"
      update(audit: audit)
      commands.append(.log(level: .info, message: "audit of run \(run): \(audit.detail)"))
      return
    }
    guard let dispute = audit.dispute else {
      if fingerprint.agrees(with: audit.expected) {
        audit.state = .passed
        audit.detail = "\(workerID) trained it again: the same result (\(fingerprint.short))"
        update(audit: audit)
        commands.append(.log(level: .info, message: "audit of run \(run) passed: \(audit.detail)"))
      } else {
        audit.dispute = AuditDispute(auditor: workerID, fingerprint: fingerprint)
        audit.tried.append(workerID)
        audit.detail =
          "\(workerID) trained it again and got \(fingerprint.short) where \(audit.producer) recorded "
          + "\(audit.expected.short): a third worker referees"
        update(audit: audit)
        commands.append(.log(level: .warning, message: "audit of run \(run) disputed: \(audit.detail)"))
      }
      return
    }
    if fingerprint.agrees(with: audit.expected) {
      audit.state = .passed
      audit.detail =
        "referee \(workerID) agreed with \(audit.producer); the first auditor \(dispute.auditor), who did "
        + "not, is convicted"
      update(audit: audit)
      commands.append(.log(level: .warning, message: "audit of run \(run) passed: \(audit.detail)"))
      convict(
        dispute.auditor,
        reason: "its training of run \(run) as auditor was contradicted by \(audit.producer) and \(workerID)",
        commands: &commands)
    } else if fingerprint.agrees(with: dispute.fingerprint) {
      audit.state = .mismatch
      audit.detail =
        "\(dispute.auditor) and referee \(workerID) both got \(fingerprint.short); \(audit.producer) "
        + "recorded \(audit.expected.short) and is convicted"
      update(audit: audit)
      commands.append(.log(level: .error, message: "audit of run \(run) found a mismatch: \(audit.detail)"))
      convict(
        audit.producer,
        reason: "its result of run \(run) was contradicted by \(dispute.auditor) and \(workerID)",
        commands: &commands)
    } else {
      audit.state = .inconclusive
      audit.detail =
        "three different results: \(audit.producer) \(audit.expected.short), \(dispute.auditor) "
        + "\(dispute.fingerprint.short), \(workerID) \(fingerprint.short); nobody is convicted"
      update(audit: audit)
      commands.append(.log(level: .error, message: "audit of run \(run) inconclusive: \(audit.detail)"))
    }
  }

  /// A worker was contradicted by two others: it and its CURVE key's other ids are quarantined, their
  /// running attempts cancelled, and every result they recorded (with the runs that started from a BC
  /// stage they trained) is marked suspect and trained again.
  mutating func convict(_ workerID: WorkerID, reason: String, commands: inout [SchedulerCommand]) {
    guard let record = workers[workerID] else { return }
    let culprits = Set([workerID] + siblings(of: record))
    for culprit in culprits.sorted() {
      guard var worker = workers[culprit] else { continue }
      worker.quarantined = true
      update(worker: worker)
      commands.append(
        .log(
          level: .error,
          message: "worker \(culprit) convicted by audit (\(reason)): quarantined, its running attempts "
            + "cancelled, its recorded results suspect and trained again"))
      for attempt in runningAttempts(of: culprit) {
        commands.append(.cancelRun(worker: culprit, attempt: attempt))
        endCurrentAttempt(of: attempt.run, outcome: .cancelled, then: .pending)
      }
      for attempt in runningAudits(of: culprit) {
        commands.append(.cancelRun(worker: culprit, attempt: attempt))
        endAuditAttempt(of: attempt.run, outcome: .cancelled, excluding: true, commands: &commands)
      }
    }
    // A dispute raised by a convicted auditor is void: the recorded result stands until someone else
    // trains it.
    for audit in audits.values.sorted(by: { $0.run < $1.run }) where !audit.state.isFinal {
      guard let dispute = audit.dispute, culprits.contains(dispute.auditor) else { continue }
      var voided = audit
      voided.dispute = nil
      voided.detail = "the dispute of \(dispute.auditor) is void: it was convicted"
      update(audit: voided)
    }
    // The runs whose recorded result a culprit produced: the latest succeeded attempt that is not an
    // audit attempt.
    var produced: [RunID: AttemptRecord] = [:]
    for attempt in attempts.values where attempt.outcome == .succeeded && !isAuditAttempt(attempt.id) {
      if let other = produced[attempt.id.run], other.id.number > attempt.id.number { continue }
      produced[attempt.id.run] = attempt
    }
    let withdrawn = produced.values.filter { culprits.contains($0.worker) && runs[$0.id.run]?.state == .done }
      .map(\.id.run).sorted()
    for runID in withdrawn {
      withdraw(
        runID, reason: "recorded from \(produced[runID]!.worker), convicted by audit", commands: &commands)
      guard runs[runID]?.isStageUnit == true else { continue }
      for dependent in (dependentsOfStage[runID] ?? []).sorted() where runs[dependent]?.state == .done {
        withdraw(
          dependent, reason: "started from BC stage \(runID), trained by a convicted worker",
          commands: &commands)
      }
    }
    if !withdrawn.isEmpty {
      commands.append(
        .log(
          level: .error,
          message:
            "\(withdrawn.count) recorded results of \(culprits.sorted().map(\.rawValue).joined(separator: ", ")) "
            + "marked suspect; their runs are trained again"))
    }
  }

  /// A recorded result is marked suspect and its run goes back to the queue (its stage unit's kept
  /// checkpoint dropped); an unfinished audit of it is withdrawn.
  private mutating func withdraw(_ runID: RunID, reason: String, commands: inout [SchedulerCommand]) {
    guard var run = runs[runID], run.state == .done else { return }
    suspectRuns[runID] = reason
    newSuspects[runID] = reason
    if run.isStageUnit, let output = run.checkpoint {
      commands.append(.deleteCheckpoint(output.sha256))
      run.checkpoint = nil
      run.stageSeconds = nil
    }
    run.failureCount = 0
    let wanted = run.isStageUnit ? isStageWanted(runID) || isWanted(runID) : isWanted(runID)
    run.state = wanted ? .pending : .cancelled
    update(run: run)
    guard var audit = audits[runID], !audit.state.isFinal else { return }
    if let lease = audit.lease {
      commands.append(
        .cancelRun(worker: lease.worker, attempt: AttemptID(run: runID, counted: lease.attempt)))
      endAuditAttempt(of: runID, outcome: .cancelled, excluding: false, commands: &commands)
      audit = audits[runID] ?? audit
    }
    audit.state = .withdrawn
    audit.detail = "the result under audit was withdrawn before it was compared: \(reason)"
    update(audit: audit)
  }

  // MARK: Records

  /// Saves `audit`, keeping the slot and waiting indexes and the counts of `status` in step.
  mutating func update(audit: AuditRecord) {
    let old = audits[audit.run]
    if let lease = old?.lease, lease.worker != audit.lease?.worker {
      auditsByWorker[lease.worker]?.remove(audit.run)
      refreshSlots(of: lease.worker)
    }
    if let lease = audit.lease, auditsByWorker[lease.worker, default: []].insert(audit.run).inserted {
      refreshSlots(of: lease.worker)
    }
    if audit.state == .waiting { waitingAudits.insert(audit.run) } else { waitingAudits.remove(audit.run) }
    // A run trained again after its result was withdrawn gets a new audit; the old one (final) stays
    // counted, and stays in the store (keyed by the attempt audited).
    if let old, old.producerAttempt == audit.producerAttempt { auditTallies.count(old, -1) }
    auditTallies.count(audit, 1)
    audits[audit.run] = audit
    changedAudits.insert(audit.run)
  }

  /// Audits by state, the share drawn, and the suspect results: for `status`, O(1).
  public func auditCounts() -> AuditCounts {
    var counts = auditTallies
    counts.share = configuration.auditShare
    counts.suspect = suspectRuns.count
    return counts
  }

  /// The audit of `run`, if its result was drawn.
  public func audit(of run: RunID) -> AuditRecord? { audits[run] }

  /// Why `run`'s recorded result is suspect, if it is.
  public func suspicion(of run: RunID) -> String? { suspectRuns[run] }
}

extension AuditCounts {
  mutating func count(_ audit: AuditRecord, _ sign: Int) {
    switch audit.stateName {
    case "waiting": waiting += sign
    case "running": running += sign
    case "disputed": disputed += sign
    case "passed": passed += sign
    case "mismatch": mismatch += sign
    case "withdrawn": withdrawn += sign
    default: inconclusive += sign
    }
  }
}
