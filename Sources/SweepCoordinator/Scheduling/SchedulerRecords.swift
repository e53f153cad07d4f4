import TracCore

/// Rows of the scheduler's state. As the changes of an event (`Scheduler.takeChanges()`), each record is
/// the row's new content, to be inserted or replaced, plus the results to insert; as a snapshot
/// (`SweepStore.load`), every row, to rebuild a scheduler from (`results` is then empty: the scheduler
/// does not keep them).
public struct SchedulerRecords: Equatable, Sendable {
  /// Sweep rows. `members` are set only for a sweep new in these changes (membership never changes
  /// afterwards), and always in a snapshot.
  public var sweeps: [SweepRecord] = []
  public var runs: [RunRecord] = []
  /// In the order they started (changes), or in the order they ended with unfinished ones last (snapshot).
  public var attempts: [AttemptRecord] = []
  public var workers: [WorkerRecord] = []
  public var results: [ResultRecord] = []
  /// The total of duplicate results discarded, when it changed (changes) or always (snapshot).
  public var duplicatesDiscarded: Int?
  /// Audits that changed (changes) or every audit (snapshot).
  public var audits: [AuditRecord] = []
  /// Recorded results newly marked suspect, with why (changes), or every suspect result (snapshot).
  public var suspectResults: [RunID: String] = [:]

  public init(
    sweeps: [SweepRecord] = [], runs: [RunRecord] = [], attempts: [AttemptRecord] = [],
    workers: [WorkerRecord] = [], results: [ResultRecord] = [], duplicatesDiscarded: Int? = nil,
    audits: [AuditRecord] = [], suspectResults: [RunID: String] = [:]
  ) {
    self.audits = audits
    self.suspectResults = suspectResults
    self.sweeps = sweeps
    self.runs = runs
    self.attempts = attempts
    self.workers = workers
    self.results = results
    self.duplicatesDiscarded = duplicatesDiscarded
  }

  public var isEmpty: Bool {
    sweeps.isEmpty && runs.isEmpty && attempts.isEmpty && workers.isEmpty && results.isEmpty
      && duplicatesDiscarded == nil && audits.isEmpty && suspectResults.isEmpty
  }
}

/// A recorded result: at most one per run (the store's primary key makes that a database fact).
public struct ResultRecord: Equatable, Sendable {
  public var attempt: AttemptID
  public var worker: WorkerID
  public var payload: RunResultPayload

  public var run: RunID { attempt.run }

  public init(attempt: AttemptID, worker: WorkerID, payload: RunResultPayload) {
    self.attempt = attempt
    self.worker = worker
    self.payload = payload
  }
}
