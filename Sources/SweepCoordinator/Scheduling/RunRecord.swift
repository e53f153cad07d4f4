import TracCore

/// A run as the scheduler keeps it and the store saves it (one row of `runs`).
public struct RunRecord: Equatable, Sendable {
  public let id: RunID
  public let spec: RunSpec
  /// As the first sweep that contained the run named it.
  public let datasetPath: String?
  /// Its place in the queue: runs submitted earlier are assigned first, and a requeued run keeps its place.
  public let queueOrder: Int
  public var state: RunState
  /// How many attempts were started; the next attempt is number `attemptCount + 1`.
  public var attemptCount: Int
  /// Trainer failures since the run was submitted or last retried, against `maxAttempts`.
  public var failureCount: Int
  /// Results that arrived after this run's result was recorded, discarded.
  public var duplicateResults: Int
  /// The newest checkpoint an attempt shipped: the next attempt resumes from it. Dropped when the run
  /// is done (its file is deleted) or an attempt fails (the next one starts from step 0). For a stage
  /// unit (`spec.isStageUnit`) that is done: its end-of-BC checkpoint, kept for as long as the
  /// coordinator's state (runs submitted later with the same stage start from it too).
  public var checkpoint: RunCheckpoint?
  /// The stage unit whose end-of-BC checkpoint this run's TraC phase starts from (a shared BC stage,
  /// docs/CHECKPOINTS.md); nil when the run trains its own BC phase. Set when the run is first submitted.
  public var stage: RunID?
  /// For a stage unit that is done: the seconds its trainer spent in the BC phase (its run.json), what
  /// each further run that starts from it does not spend.
  public var stageSeconds: Double?

  /// Whether the run trains only a BC stage for other runs to start from.
  public var isStageUnit: Bool { spec.isStageUnit }

  public init(
    id: RunID, spec: RunSpec, datasetPath: String?, queueOrder: Int, state: RunState = .pending,
    attemptCount: Int = 0, failureCount: Int = 0, duplicateResults: Int = 0, checkpoint: RunCheckpoint? = nil,
    stage: RunID? = nil, stageSeconds: Double? = nil
  ) {
    self.checkpoint = checkpoint
    self.stage = stage
    self.stageSeconds = stageSeconds
    self.id = id
    self.spec = spec
    self.datasetPath = datasetPath
    self.queueOrder = queueOrder
    self.state = state
    self.attemptCount = attemptCount
    self.failureCount = failureCount
    self.duplicateResults = duplicateResults
  }
}
