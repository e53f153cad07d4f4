import TracCore

// Workers coming, staying alive, going, and the leases of the silent ones lapsing.
extension Scheduler {
  mutating func workerHello(
    _ workerID: WorkerID, host: String, slots: Int, running: [AttemptID], spooled: [AttemptID],
    evaluates: Set<TaskFamily>? = nil, publicKey: String? = nil, now: SchedulerInstant,
    commands: inout [SchedulerCommand]
  ) throws(CoordinatorError) {
    guard slots >= 1 else {
      throw .refused("worker \(workerID) offers \(slots) slots; a worker needs at least 1")
    }
    let known = workers[workerID]
    if let bound = known?.publicKey, let publicKey, bound != publicKey {
      // The I/O layer refuses this before (`key_mismatch`); the state machine never rebinds an id.
      throw .refused("worker id \(workerID) is bound to another CURVE key")
    }
    var worker = known ?? WorkerRecord(id: workerID, host: host, slots: slots, state: .online)
    worker.host = host
    worker.slots = slots
    worker.state = .online
    worker.lastSeen = now
    worker.evaluates = evaluates ?? WorkerRecord.assumedEvaluates
    bindKey(&worker, to: publicKey, commands: &commands)
    update(worker: worker)

    // An attempt the worker does not announce is not running there any more (it restarted, or the
    // assignment never arrived): lost, the run goes back to the queue.
    let announced = Set(running + spooled)
    for attempt in runningAttempts(of: workerID) where !announced.contains(attempt) {
      endCurrentAttempt(of: attempt.run, outcome: .lost, then: .pending)
      commands.append(
        .log(level: .warning, message: "attempt \(attempt) lost: worker \(workerID) reconnected without it"))
    }
    for attempt in runningAudits(of: workerID) where !announced.contains(attempt) {
      endAuditAttempt(of: attempt.run, outcome: .lost, excluding: false, commands: &commands)
    }
    for attempt in running where !adopt(attempt, by: workerID, now: now, commands: &commands) {
      commands.append(.cancelRun(worker: workerID, attempt: attempt))
    }
    // A spooled attempt is finished and its result is on its way: hold its run for it if nobody has it.
    for attempt in spooled {
      _ = adopt(attempt, by: workerID, now: now, commands: &commands)
    }
    var message =
      "worker \(workerID) on \(host) \(known == nil ? "joined" : "reconnected") with \(slots) slots"
    let families = worker.evaluates.map(\.rawValue).sorted()
    message +=
      families.isEmpty
      ? ", evaluating nothing (train-only runs)" : ", evaluating \(families.joined(separator: ", "))"
    if evaluates == nil { message += " (assumed: it does not say)" }
    if !running.isEmpty { message += ", running \(running.count)" }
    if worker.quarantined { message += "; it is quarantined and gets no new work until released" }
    commands.append(.log(level: .info, message: message))
  }

  mutating func heartbeat(
    _ workerID: WorkerID, running: [AttemptID], now: SchedulerInstant, commands: inout [SchedulerCommand]
  ) {
    guard var worker = workers[workerID], worker.state != .left else {
      commands.append(.requestHello(worker: workerID))
      return
    }
    worker.lastSeen = now
    if worker.state == .offline {
      worker.state = .online
      update(worker: worker)
      commands.append(.log(level: .info, message: "worker \(workerID) is heard from again"))
    } else {
      heard(from: workerID, at: now)
    }
    for attempt in running where !adopt(attempt, by: workerID, now: now, commands: &commands) {
      commands.append(.cancelRun(worker: workerID, attempt: attempt))
    }
  }

  mutating func workerGoodbye(
    _ workerID: WorkerID, released: [AttemptID], commands: inout [SchedulerCommand]
  ) {
    guard var worker = workers[workerID] else {
      commands.append(.log(level: .warning, message: "goodbye from unknown worker \(workerID) ignored"))
      return
    }
    let handedBack = Set(released)
    var releasedCount = 0
    for attempt in runningAttempts(of: workerID) {
      if handedBack.contains(attempt) {
        endCurrentAttempt(of: attempt.run, outcome: .released, then: .pending)
        releasedCount += 1
      } else if unconfirmedAttempts.contains(attempt) {
        // Assigned after the worker last named its attempts: the assignment crossed the goodbye (the
        // worker releases it on arrival), it never ran here.
        endCurrentAttempt(of: attempt.run, outcome: .released, then: .pending)
        releasedCount += 1
        commands.append(
          .log(
            level: .info,
            message: "attempt \(attempt) handed back: assigned to \(workerID) after its last heartbeat, it "
              + "crossed the goodbye"))
      } else {
        endCurrentAttempt(of: attempt.run, outcome: .lost, then: .pending)
        commands.append(
          .log(
            level: .warning,
            message: "attempt \(attempt) lost: worker \(workerID) left without handing it back"))
      }
    }
    for attempt in runningAudits(of: workerID) {
      endAuditAttempt(
        of: attempt.run, outcome: handedBack.contains(attempt) ? .released : .lost, excluding: false,
        commands: &commands)
    }
    worker.state = .left
    update(worker: worker)
    commands.append(
      .log(level: .info, message: "worker \(workerID) left, handing back \(releasedCount) runs"))
  }

  mutating func tick(now: SchedulerInstant, commands: inout [SchedulerCommand]) {
    let lease = configuration.leaseDuration
    // Only the workers that went silent or hold a lapsed lease need anything, in id order; finding them
    // first keeps a tick over thousands of healthy workers from sorting them all.
    var due: [WorkerID] = []
    for worker in workers.values {
      if worker.state == .online && now - worker.lastSeen >= lease {
        due.append(worker.id)
      } else if let held = runningByWorker[worker.id],
        held.contains(where: { runs[$0]?.state.lease.map { now >= $0.leaseDeadline } ?? false })
      {
        due.append(worker.id)
      } else if let held = auditsByWorker[worker.id],
        held.contains(where: { audits[$0]?.lease.map { now >= $0.leaseDeadline } ?? false })
      {
        due.append(worker.id)
      }
    }
    for id in due.sorted() {
      guard var worker = workers[id] else { continue }
      let wentOffline = worker.state == .online && now - worker.lastSeen >= lease
      if wentOffline {
        worker.state = .offline
        update(worker: worker)
        commands.append(
          .log(
            level: .warning,
            message:
              "worker \(worker.id) silent for \(SchedulerConfiguration.describe(now - worker.lastSeen)): "
              + "offline, its runs go back to the queue"))
      }
      for attempt in runningAttempts(of: worker.id) {
        guard let deadline = runs[attempt.run]?.state.lease?.leaseDeadline else { continue }
        guard wentOffline || now >= deadline else { continue }
        endCurrentAttempt(of: attempt.run, outcome: .lost, then: .pending)
        commands.append(
          .log(
            level: .warning,
            message: "attempt \(attempt) on \(worker.id) lost: its lease lapsed; run requeued"))
      }
      for attempt in runningAudits(of: worker.id) {
        guard let deadline = audits[attempt.run]?.lease?.leaseDeadline, wentOffline || now >= deadline else {
          continue
        }
        endAuditAttempt(of: attempt.run, outcome: .lost, excluding: false, commands: &commands)
        commands.append(
          .log(level: .warning, message: "audit attempt \(attempt) on \(worker.id) lost: its lease lapsed"))
      }
    }
  }

  mutating func releaseQuarantine(_ workerID: WorkerID, commands: inout [SchedulerCommand])
    throws(CoordinatorError)
  {
    guard var worker = workers[workerID] else { throw .unknownWorker(workerID) }
    worker.quarantined = false
    worker.consecutiveFailures = 0
    update(worker: worker)
    commands.append(.log(level: .info, message: "worker \(workerID) released from quarantine"))
    // Quarantine follows the CURVE key: the key's other worker ids are released with it.
    for sibling in siblings(of: worker) {
      guard var other = workers[sibling], other.quarantined else { continue }
      other.quarantined = false
      other.consecutiveFailures = 0
      update(worker: other)
      commands.append(
        .log(
          level: .info, message: "worker \(sibling) released from quarantine with \(workerID) (the same key)")
      )
    }
  }

  /// Takes `attempt` as running on `workerID` if the scheduler agrees: it is the run's current attempt
  /// there (the lease is extended), or the run went back to the queue after losing exactly this attempt
  /// (coordinator restart, lapsed lease, graceful hand-back) and nobody has taken it since (the attempt
  /// resumes). Otherwise the worker holds an attempt that is no longer the run's: false.
  mutating func adopt(
    _ attempt: AttemptID, by workerID: WorkerID, now: SchedulerInstant, commands: inout [SchedulerCommand]
  ) -> Bool {
    guard var run = runs[attempt.run], var record = attempts[attempt], record.worker == workerID else {
      return false
    }
    if let audit = adoptAudit(attempt, by: workerID, now: now) { return audit }
    let lease = RunLease(
      attempt: attempt.number, worker: workerID, leaseDeadline: now + configuration.leaseDuration)
    switch run.state {
    case .running(let current) where current.attempt == attempt.number && current.worker == workerID:
      extendLease(of: run.id, to: lease)
      unconfirmedAttempts.remove(attempt)
      return true
    case .pending
    where run.attemptCount == attempt.number && (record.outcome == .lost || record.outcome == .released):
      record.outcome = nil
      update(attempt: record)
      run.state = .running(lease)
      update(run: run)
      commands.append(.log(level: .info, message: "attempt \(attempt) re-adopted from worker \(workerID)"))
      return true
    default:
      return false
    }
  }
}
