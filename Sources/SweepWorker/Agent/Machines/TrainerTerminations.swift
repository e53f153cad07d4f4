import TracCore

/// Trainers asked to stop (their attempt cancelled or handed back): SIGTERM, then SIGKILL after the
/// termination grace; reaped and cleaned up, never reported.
public struct TrainerTerminations: Sendable {
  public enum State: Equatable, Sendable {
    /// SIGTERM sent; SIGKILL is due at `killAt`.
    case terminating(killAt: WorkerInstant)
    case killed
  }

  public struct Exiting: Equatable, Sendable {
    public let attempt: AttemptID
    /// Handed back (not cancelled): its newest checkpoint goes to the coordinator once it has exited.
    public let handedBack: Bool
    public var state: State
  }

  public private(set) var children: [WorkerStateMachine.ChildID: Exiting] = [:]
  let grace: Duration

  public init(grace: Duration) { self.grace = grace }

  public var isEmpty: Bool { children.isEmpty }
  public var keys: [WorkerStateMachine.ChildID] { children.keys.sorted() }
  public func isExiting(run: RunID) -> Bool { children.values.contains { $0.attempt.run == run } }
  public func isExiting(_ key: AttemptID) -> Bool { children.values.contains { $0.attempt == key } }

  public var nextDeadline: WorkerInstant? {
    children.values.compactMap { if case .terminating(let killAt) = $0.state { killAt } else { nil } }.min()
  }

  /// SIGTERM goes to the trainer now.
  public mutating func terminate(
    _ child: WorkerStateMachine.ChildID, of key: AttemptID, handedBack: Bool, now: WorkerInstant
  ) {
    children[child] = Exiting(attempt: key, handedBack: handedBack, state: .terminating(killAt: now + grace))
  }

  /// Trainers past their termination grace: SIGKILL goes to each.
  public mutating func overdue(now: WorkerInstant) -> [(WorkerStateMachine.ChildID, Exiting)] {
    keys.compactMap { child in
      guard let exiting = children[child], case .terminating(let killAt) = exiting.state, now >= killAt
      else { return nil }
      children[child]?.state = .killed
      return (child, exiting)
    }
  }

  /// The run's trainers not yet killed: SIGKILL at once (a newer attempt needs the run's directory).
  public mutating func killNow(run: RunID) -> [WorkerStateMachine.ChildID] {
    keys.filter { child in
      guard let exiting = children[child], exiting.attempt.run == run, exiting.state != .killed else {
        return false
      }
      children[child]?.state = .killed
      return true
    }
  }

  /// The trainer is gone: what it was, nil if it was not stopping.
  public mutating func exited(_ child: WorkerStateMachine.ChildID) -> Exiting? {
    children.removeValue(forKey: child)
  }
}
