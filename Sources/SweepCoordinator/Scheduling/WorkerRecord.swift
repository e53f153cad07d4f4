import TracCore

/// A worker as the scheduler keeps it and the store saves it (one row of `workers`).
public struct WorkerRecord: Equatable, Sendable {
  public let id: WorkerID
  public var host: String
  public var slots: Int
  public var state: WorkerState
  /// Quarantined workers get no new work until an operator releases them.
  public var quarantined: Bool
  /// Trainer failures in a row on this worker; a success resets it.
  public var consecutiveFailures: Int
  /// When the worker was last heard from; not saved (a restarted coordinator has not heard from anyone).
  public var lastSeen: SchedulerInstant
  /// The task families whose evaluation it runs, as its last `hello` announced; not saved (every
  /// `hello` announces it again). A worker that does not announce it evaluates BulletGym only.
  public var evaluates: Set<TaskFamily>
  /// With CURVE: the public key (Z85) that first registered this worker id; only that key may speak
  /// for it. Nil for a worker registered without CURVE.
  public var publicKey: String?

  /// What a worker that does not say what it evaluates (an older one) is taken to evaluate.
  public static let assumedEvaluates: Set<TaskFamily> = [.bulletGym]

  public init(
    id: WorkerID, host: String, slots: Int, state: WorkerState, quarantined: Bool = false,
    consecutiveFailures: Int = 0, lastSeen: SchedulerInstant = .zero,
    evaluates: Set<TaskFamily> = WorkerRecord.assumedEvaluates, publicKey: String? = nil
  ) {
    self.id = id
    self.host = host
    self.slots = slots
    self.state = state
    self.quarantined = quarantined
    self.consecutiveFailures = consecutiveFailures
    self.lastSeen = lastSeen
    self.evaluates = evaluates
    self.publicKey = publicKey
  }
}

/// Whether a worker can be given work.
public enum WorkerState: String, Equatable, Sendable {
  /// Connected and heartbeating.
  case online
  /// Silent past `heartbeatInterval * liveness`, or not yet heard from since the coordinator restarted.
  case offline
  /// Said goodbye.
  case left
}
