import Logging
import TracCore

/// What the I/O layer must do after an event, in order. Carry them out only after the event's changes
/// are committed (`DurableScheduler` does this): an acknowledgement promises the result is saved.
public enum SchedulerCommand: Equatable, Sendable {
  /// Push one attempt of one run to one worker.
  case assign(RunAssignment)
  /// Tell a worker its result is dealt with, so that it can drop it from its spool.
  case acknowledge(worker: WorkerID, attempt: AttemptID, disposition: ResultDisposition)
  /// Tell a worker to stop an attempt (its sweep was cancelled, or the run is done or belongs to another).
  case cancelRun(worker: WorkerID, attempt: AttemptID)
  /// A worker the scheduler does not know sent a heartbeat: ask it to say hello (with its slots) again.
  case requestHello(worker: WorkerID)
  /// No run refers to this checkpoint file any more: delete it (after the commit that dropped it).
  case deleteCheckpoint(SHA256Digest)
  /// Something an operator should be able to read in the coordinator's log.
  case log(level: Logger.Level, message: String)
}

/// One attempt pushed to a worker, with everything the worker needs to run it.
public struct RunAssignment: Equatable, Sendable {
  public var worker: WorkerID
  public var attempt: AttemptID
  /// The lease lapses at this instant unless the worker names the attempt in a heartbeat before.
  public var leaseDeadline: SchedulerInstant
  public var spec: RunSpec
  public var datasetPath: String?
  /// The oldest live sweep that contains the run, and the run's point in it: for logs and artifact names.
  public var sweep: SweepID?
  public var pointID: String
  /// The run's newest shipped checkpoint, to resume from (nil: from step 0).
  public var checkpoint: RunCheckpoint?
  /// The end of the run's shared BC stage, to start the TraC phase from (nil: the run trains its own
  /// BC phase, or resumes from `checkpoint`).
  public var initFrom: RunCheckpoint?

  public init(
    worker: WorkerID, attempt: AttemptID, leaseDeadline: SchedulerInstant, spec: RunSpec,
    datasetPath: String?, sweep: SweepID?, pointID: String, checkpoint: RunCheckpoint? = nil,
    initFrom: RunCheckpoint? = nil
  ) {
    self.checkpoint = checkpoint
    self.initFrom = initFrom
    self.worker = worker
    self.attempt = attempt
    self.leaseDeadline = leaseDeadline
    self.spec = spec
    self.datasetPath = datasetPath
    self.sweep = sweep
    self.pointID = pointID
  }
}

/// What became of a reported result.
public enum ResultDisposition: Equatable, Sendable {
  /// Recorded: the attempt's outcome is saved (and for a success, the run's result).
  case recorded
  /// The run's result was already recorded from another attempt: counted, not recorded again.
  case duplicate
  /// Not recorded: a failure from an attempt that is no longer the run's, or a run the coordinator does not
  /// know. Acknowledged all the same, since sending it again cannot change anything.
  case discarded

  /// For the wire's `ack.duplicate`: true when nothing was recorded.
  public var isDuplicate: Bool { self != .recorded }
}
