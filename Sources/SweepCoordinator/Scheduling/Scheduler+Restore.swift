import TracCore

// Rebuilding a scheduler from the rows of its store after a restart.
extension Scheduler {
  /// The scheduler `records` describe, as a restarted coordinator sees it at `now`. Running attempts stay
  /// running with a fresh lease deadline (`now + leaseDuration`), so that their workers can reconnect and
  /// announce them; if they do not, the leases lapse as usual. Workers are offline until they say hello.
  public init(
    configuration: SchedulerConfiguration, restoring records: SchedulerRecords, now: SchedulerInstant
  ) throws(CoordinatorError) {
    self.init(configuration: configuration)
    for sweep in records.sweeps.sorted(by: { $0.submitOrder < $1.submitOrder }) {
      sweeps[sweep.id] = sweep
      sweepIDsByName[sweep.name] = sweep.id
      for member in sweep.members {
        sweepsOfRun[member.run, default: []].append((sweep.id, member.pointID))
      }
      nextSubmitOrder = max(nextSubmitOrder, sweep.submitOrder + 1)
    }
    for attempt in records.attempts {
      attempts[attempt.id] = attempt
      if attempt.outcome?.isTrainerFailure == true { noteFailure(attempt.id) }
    }
    for var worker in records.workers {
      if worker.state == .online {
        worker.state = .offline
        changedWorkers.insert(worker.id)
      }
      worker.lastSeen = now
      workers[worker.id] = worker
      if let key = worker.publicKey { workersByKey[key, default: []].insert(worker.id) }
    }
    for var run in records.runs.sorted(by: { $0.queueOrder < $1.queueOrder }) {
      if let lease = run.state.lease {
        guard attempts[AttemptID(run: run.id, counted: lease.attempt)] != nil, workers[lease.worker] != nil
        else {
          throw .corruptState(
            "run \(run.id) is running attempt \(lease.attempt) that has no attempt or worker row")
        }
        run.state = .running(
          RunLease(
            attempt: lease.attempt, worker: lease.worker, leaseDeadline: now + configuration.leaseDuration))
        runningByWorker[lease.worker, default: []].insert(run.id)
      }
      runs[run.id] = run
      if let stage = run.stage { dependentsOfStage[stage, default: []].insert(run.id) }
      nextQueueOrder = max(nextQueueOrder, run.queueOrder + 1)
    }
    // Queued once every run is known: a run waits while its stage unit is not done.
    for run in runs.values.sorted(by: { $0.queueOrder < $1.queueOrder }) where run.state == .pending {
      queue(run, revivingStage: false)
    }
    for (run, owners) in sweepsOfRun where runs[run] == nil {
      throw .corruptState("sweep \(owners[0].sweep) contains run \(run), which has no row")
    }
    duplicatesDiscarded = records.duplicatesDiscarded ?? 0
    recountTallies()
    for var audit in records.audits {
      guard runs[audit.run] != nil else { throw .corruptState("audit of run \(audit.run), which has no row") }
      if let lease = audit.lease {
        guard workers[lease.worker] != nil else {
          throw .corruptState("audit of run \(audit.run) is running on \(lease.worker), which has no row")
        }
        audit.state = .running(
          RunLease(
            attempt: lease.attempt, worker: lease.worker, leaseDeadline: now + configuration.leaseDuration))
      }
      update(audit: audit)
    }
    changedAudits = []
    suspectRuns = records.suspectResults
  }
}
