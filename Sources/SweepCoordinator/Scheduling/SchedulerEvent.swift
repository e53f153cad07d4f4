import TracCore

/// Everything that can change the scheduler's state. Each is handled by `Scheduler.handle(_:now:)`.
public enum SchedulerEvent: Equatable, Sendable {
  /// A grid submitted. Idempotent: the same sweep again changes nothing (a cancelled one resumes). Runs
  /// already known (done, pending or running for another sweep) are shared, not repeated.
  case submit(SweepSubmission)
  /// A worker (re)connects with `slots` slots and announces the attempts it is still running and those it
  /// holds finished but unacknowledged in its spool, and the task families it evaluates (nil: not
  /// announced, BulletGym assumed). `publicKey`: its connection's CURVE key (nil without CURVE), bound
  /// to the worker id by its first hello; a worker id shares the quarantine of its key.
  case workerHello(
    worker: WorkerID, host: String, slots: Int, running: [AttemptID], spooled: [AttemptID],
    evaluates: Set<TaskFamily>? = nil, publicKey: String? = nil)
  /// A worker is alive and still running these attempts: their leases are extended. An attempt of the
  /// worker it does not name keeps its deadline, so that an assignment lost on the way lapses. A named
  /// attempt that is no longer the run's is cancelled; a lapsed one nobody took since is re-adopted.
  case heartbeat(worker: WorkerID, running: [AttemptID])
  /// A worker reports how an attempt ended. The first result for a run wins.
  case result(worker: WorkerID, attempt: AttemptID, outcome: ReportedOutcome)
  /// A running attempt's newest checkpoint arrived and is stored: the run's next attempt resumes from it.
  /// Ignored unless the attempt is the run's current one on that worker and the checkpoint is newer.
  case checkpointShipped(worker: WorkerID, attempt: AttemptID, checkpoint: RunCheckpoint)
  /// A worker stops gracefully, handing back the attempts it did not finish.
  case workerGoodbye(worker: WorkerID, released: [AttemptID])
  /// Time passed: leases of silent workers lapse.
  case tick
  /// Stop a sweep: its unfinished runs (unless another live sweep needs them) are cancelled.
  case cancel(SweepID)
  /// Run a sweep's failed runs again, with a fresh attempt budget and their same seeds.
  case retryFailed(SweepID)
  /// An operator lets a quarantined worker take work again.
  case releaseQuarantine(WorkerID)
}
