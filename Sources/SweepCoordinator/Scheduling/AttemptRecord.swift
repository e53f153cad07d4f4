import TracCore

/// One attempt as the scheduler keeps it and the store saves it (one row of `attempts`).
public struct AttemptRecord: Equatable, Sendable {
  public let id: AttemptID
  public let worker: WorkerID
  /// Nil while the attempt runs.
  public var outcome: AttemptOutcome?

  public init(id: AttemptID, worker: WorkerID, outcome: AttemptOutcome? = nil) {
    self.id = id
    self.worker = worker
    self.outcome = outcome
  }
}
