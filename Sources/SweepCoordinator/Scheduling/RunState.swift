import TracCore

/// Where a run is. `done`, `failed` and `cancelled` are terminal for a sweep, though
/// `retryFailed` and a new submission can bring a failed or cancelled run back to `pending`.
public enum RunState: Equatable, Sendable {
  /// Waiting for a worker with a free slot.
  case pending
  /// Attempt `lease.attempt` is running on `lease.worker` until `lease.leaseDeadline` unless extended.
  case running(RunLease)
  /// Its result is recorded.
  case done
  /// The trainer failed on every allowed attempt, or reported an error of its input.
  case failed
  /// Every sweep that contains it was cancelled before it finished.
  case cancelled

  /// The name stored in the database and shown by `status`.
  public var name: String {
    switch self {
    case .pending: return "pending"
    case .running: return "running"
    case .done: return "done"
    case .failed: return "failed"
    case .cancelled: return "cancelled"
    }
  }

  public var lease: RunLease? {
    if case .running(let lease) = self { return lease }
    return nil
  }
}

/// A running attempt's hold on its run.
public struct RunLease: Equatable, Sendable {
  public var attempt: Int
  public var worker: WorkerID
  /// The lease lapses at this instant unless the worker names the attempt in a heartbeat before.
  public var leaseDeadline: SchedulerInstant

  public init(attempt: Int, worker: WorkerID, leaseDeadline: SchedulerInstant) {
    self.attempt = attempt
    self.worker = worker
    self.leaseDeadline = leaseDeadline
  }
}
