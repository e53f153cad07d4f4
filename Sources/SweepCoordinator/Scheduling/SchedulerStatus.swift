import TracCore

/// What `status` shows: every sweep's progress, every worker, and the latest failures with their error.
public struct SchedulerStatus: Equatable, Sendable {
  /// In the order they were submitted.
  public var sweeps: [SweepStatus]
  /// By id.
  public var workers: [WorkerStatus]
  /// The latest trainer failures, oldest first.
  public var recentFailures: [FailureReport]
  /// Results discarded because their run's result was already recorded, over all sweeps.
  public var duplicatesDiscarded: Int
  /// Pending runs no online worker can take (their evaluator), by family.
  public var waiting: [WaitingRuns] = []
  /// Shared BC stages: units, the runs that start from them, what sharing saved.
  public var stages = StageCounts()
  /// Audits by state, the share drawn, and the suspect results.
  public var audits = AuditCounts()

  public func sweep(_ id: SweepID) -> SweepStatus? { sweeps.first { $0.id == id } }
  public func worker(_ id: WorkerID) -> WorkerStatus? { workers.first { $0.id == id } }
}

/// One sweep's progress. A run shared with other sweeps counts in each.
public struct SweepStatus: Equatable, Sendable {
  public var id: SweepID
  public var name: String
  public var cancelled: Bool
  public var runs: RunCounts
  /// Late results for this sweep's runs that were discarded, not recorded twice.
  public var duplicatesDiscarded: Int
  /// Attempts whose lease lapsed or whose worker left without handing them back.
  public var lostAttempts: Int
  /// Attempts in which the trainer failed (including input errors).
  public var failedAttempts: Int

  /// Every run is done, failed or cancelled.
  public var isFinished: Bool { runs.pending == 0 && runs.running == 0 }

  public init(
    id: SweepID, name: String, cancelled: Bool, runs: RunCounts, duplicatesDiscarded: Int, lostAttempts: Int,
    failedAttempts: Int
  ) {
    self.id = id
    self.name = name
    self.cancelled = cancelled
    self.runs = runs
    self.duplicatesDiscarded = duplicatesDiscarded
    self.lostAttempts = lostAttempts
    self.failedAttempts = failedAttempts
  }
}

/// Runs by state. For a cancelled sweep, a run another sweep keeps going counts as cancelled.
public struct RunCounts: Equatable, Sendable {
  public var pending = 0
  public var running = 0
  public var done = 0
  public var failed = 0
  public var cancelled = 0

  public init(pending: Int = 0, running: Int = 0, done: Int = 0, failed: Int = 0, cancelled: Int = 0) {
    self.pending = pending
    self.running = running
    self.done = done
    self.failed = failed
    self.cancelled = cancelled
  }

  public var total: Int { pending + running + done + failed + cancelled }
}

/// One worker as `status` shows it.
public struct WorkerStatus: Equatable, Sendable {
  public var id: WorkerID
  public var host: String
  public var slots: Int
  public var state: WorkerState
  public var quarantined: Bool
  public var consecutiveFailures: Int
  /// The attempts it holds a lease on.
  public var running: [AttemptID]
  /// The task families it evaluates.
  public var evaluates: Set<TaskFamily> = []
}

/// A failed attempt, with what the user needs to see at once: where it ran and the tail of its stderr.
public struct FailureReport: Equatable, Sendable {
  public var attempt: AttemptID
  public var worker: WorkerID
  public var outcome: AttemptOutcome
  /// The sweeps containing the run, and its point, cost threshold and seed.
  public var sweeps: [SweepID]
  public var pointID: String
  public var costThreshold: Double
  public var seed: UInt64
  /// The run's state now: `pending` if it will be retried, `failed` if not.
  public var runState: String
  /// Whether the run is a BC stage unit; `sweeps` are then those of the runs that start from it.
  public var isStageUnit = false

  public var exitStatus: Int32? { outcome.exitStatus }
  public var stderrTail: String { outcome.stderrTail ?? "" }
  public var isInputError: Bool {
    if case .inputError = outcome { return true }
    return false
  }
}

extension Scheduler {
  /// The counters `status` and `watch` show: O(sweeps + workers + recent failures), read from the
  /// tallies the write paths keep (`SchedulerTallies`), never by scanning runs or attempts.
  public func status() -> SchedulerStatus {
    let sweepStatuses = sweeps.values.sorted { $0.submitOrder < $1.submitOrder }.map(sweepStatus)
    let workerStatuses = workers.values.sorted { $0.id < $1.id }.map { worker in
      WorkerStatus(
        id: worker.id, host: worker.host, slots: worker.slots, state: worker.state,
        quarantined: worker.quarantined,
        consecutiveFailures: worker.consecutiveFailures, running: runningAttempts(of: worker.id),
        evaluates: worker.evaluates)
    }
    let failures = recentFailures.compactMap { id -> FailureReport? in
      guard let attempt = attempts[id], let outcome = attempt.outcome, let run = runs[id.run] else {
        return nil
      }
      var concerned = sweeps(containing: id.run)
      for dependent in (dependentsOfStage[id.run] ?? []).sorted() {
        for sweep in sweeps(containing: dependent) where !concerned.contains(sweep) {
          concerned.append(sweep)
        }
      }
      return FailureReport(
        attempt: id, worker: attempt.worker, outcome: outcome, sweeps: concerned,
        pointID: sweepsOfRun[id.run]?.first?.pointID ?? "", costThreshold: run.spec.costThreshold,
        seed: run.spec.seed, runState: run.state.name, isStageUnit: run.isStageUnit)
    }
    return SchedulerStatus(
      sweeps: sweepStatuses, workers: workerStatuses, recentFailures: failures,
      duplicatesDiscarded: duplicatesDiscarded, waiting: waitingRuns(), stages: stageCounts(),
      audits: auditCounts())
  }

  /// One sweep's progress, or nil for an unknown id: O(1).
  public func sweepStatus(_ id: SweepID) -> SweepStatus? {
    sweeps[id].map(sweepStatus)
  }

  func sweepStatus(_ sweep: SweepRecord) -> SweepStatus {
    let tally = tallies.bySweep[sweep.id] ?? .init()
    var counts = tally.runs
    if sweep.cancelled {
      // What another sweep keeps going is over for this one.
      counts.cancelled += counts.pending + counts.running
      counts.pending = 0
      counts.running = 0
    }
    return SweepStatus(
      id: sweep.id, name: sweep.name, cancelled: sweep.cancelled, runs: counts,
      duplicatesDiscarded: tally.duplicates, lostAttempts: tally.lostAttempts,
      failedAttempts: tally.failedAttempts)
  }

  /// Every run by state (stage units included) and every attempt that was lost or failed, for
  /// `metrics`: O(1).
  public var totals: SchedulerTotals {
    SchedulerTotals(
      runs: tallies.runs, lostAttempts: tallies.lostAttempts, failedAttempts: tallies.failedAttempts)
  }
}

/// Counts over every run and attempt (`metrics`).
public struct SchedulerTotals: Equatable, Sendable {
  /// Stage units included.
  public var runs: RunCounts
  public var lostAttempts: Int
  public var failedAttempts: Int

  public init(runs: RunCounts, lostAttempts: Int, failedAttempts: Int) {
    self.runs = runs
    self.lostAttempts = lostAttempts
    self.failedAttempts = failedAttempts
  }
}
