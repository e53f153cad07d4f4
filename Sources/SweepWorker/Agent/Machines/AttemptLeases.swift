import SweepWire
import TracCore

/// The attempts this worker holds a lease for, each from its assignment to its trainer's start and
/// exit (docs/PROTOCOL.md section 5). An attempt that is handed back or cancelled leaves; its trainer,
/// if it had one, goes to `TrainerTerminations`.
public struct AttemptLeases: Sendable {
  public enum State: Equatable, Sendable {
    /// An older attempt of the run is still exiting; taken over anyway at the deadline.
    case waitingForPredecessor(until: WorkerInstant)
    /// Its directory is being made.
    case preparing
    /// Waiting for its dataset, checkpoint or BC stage.
    case fetching
    case training(WorkerStateMachine.ChildID)
  }

  public struct Attempt: Equatable, Sendable {
    public var assign: Assign
    public var state: State

    public var isTraining: Bool { if case .training = state { true } else { false } }
    public var child: WorkerStateMachine.ChildID? {
      if case .training(let child) = state { child } else { nil }
    }
  }

  public private(set) var attempts: [AttemptID: Attempt] = [:]
  /// Attempts handed back, for `goodbye`.
  public private(set) var released: [AttemptID] = []
  private var nextChild = 0

  public init() {}

  public var keys: [AttemptID] { attempts.keys.sorted() }
  public var count: Int { attempts.count }
  public var isEmpty: Bool { attempts.isEmpty }
  public var training: [AttemptID] { keys.filter { attempts[$0]?.isTraining == true } }
  public subscript(key: AttemptID) -> Attempt? { attempts[key] }

  public var nextDeadline: WorkerInstant? {
    attempts.values.compactMap { if case .waitingForPredecessor(let until) = $0.state { until } else { nil } }
      .min()
  }

  /// A new lease: its directory is made now, or once the run's older trainer has exited.
  public mutating func admit(_ assign: Assign, waitUntil: WorkerInstant?) {
    attempts[assign.attempt] = Attempt(
      assign: assign, state: waitUntil.map { .waitingForPredecessor(until: $0) } ?? .preparing)
  }

  /// Attempts of `run` waiting for an older trainer, now free to take the directory.
  public mutating func predecessorGone(of run: RunID) -> [AttemptID] {
    keys.filter { key in
      guard key.run == run, case .waitingForPredecessor = attempts[key]?.state else { return false }
      attempts[key]?.state = .preparing
      return true
    }
  }

  /// Attempts whose wait for an older trainer is over: they take the directory anyway.
  public mutating func waitsOver(now: WorkerInstant) -> [AttemptID] {
    keys.filter { key in
      guard case .waitingForPredecessor(let until) = attempts[key]?.state, now >= until else { return false }
      attempts[key]?.state = .preparing
      return true
    }
  }

  /// The directory is made: the attempt's assignment, if it was waiting for it.
  public func prepared(_ key: AttemptID) -> Assign? {
    guard let attempt = attempts[key], attempt.state == .preparing else { return nil }
    return attempt.assign
  }

  public mutating func fetching(_ key: AttemptID) {
    if attempts[key]?.state == .preparing { attempts[key]?.state = .fetching }
  }

  /// Attempts waiting for blobs, in a stable order.
  public var waitingForBlobs: [AttemptID] { keys.filter { attempts[$0]?.state == .fetching } }

  /// The trainer starts: its child id and the assignment it runs.
  public mutating func start(_ key: AttemptID) -> (WorkerStateMachine.ChildID, Assign)? {
    guard let attempt = attempts[key] else { return nil }
    let child = WorkerStateMachine.ChildID(nextChild)
    nextChild += 1
    attempts[key]?.state = .training(child)
    return (child, attempt.assign)
  }

  /// Without this checkpoint or BC stage the run trains from step 0 (slower, never wrong): dropped from
  /// the assignment. Returns whether the attempt named it.
  public mutating func dropStart(_ key: AttemptID, sha256: SHA256Digest) -> Bool {
    guard var assign = attempts[key]?.assign else { return false }
    var dropped = false
    if assign.checkpoint?.sha256 == sha256 {
      assign.checkpoint = nil
      dropped = true
    }
    if assign.initFrom?.sha256 == sha256 {
      assign.initFrom = nil
      dropped = true
    }
    attempts[key]?.assign = assign
    return dropped
  }

  /// The lease ends (cancelled, failed, handed back): the attempt as it was.
  public mutating func remove(_ key: AttemptID) -> Attempt? { attempts.removeValue(forKey: key) }

  /// The trainer exited on its own: its attempt, which leaves.
  public mutating func exited(_ child: WorkerStateMachine.ChildID) -> AttemptID? {
    guard let key = keys.first(where: { attempts[$0]?.child == child }) else { return nil }
    attempts[key] = nil
    return key
  }

  /// Handed back to the coordinator: named in `goodbye`.
  public mutating func handedBack(_ key: AttemptID) { released.append(key) }

  /// Whether any attempt waiting for blobs still needs this one.
  public func needs(_ sha256: SHA256Digest) -> Bool {
    attempts.values.contains { $0.assign.blobs.contains { $0.sha256 == sha256 } }
  }
}
