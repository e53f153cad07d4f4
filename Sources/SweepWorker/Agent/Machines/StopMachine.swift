/// The phases of a worker's stop (docs/PROTOCOL.md section 7): no new work, running attempts finish
/// within the grace period, the rest are handed back, their trainers exit, `goodbye`, a short wait for
/// acknowledgements, done.
public struct StopMachine: Sendable {
  public enum State: Equatable, Sendable {
    case working
    /// No new work; running attempts may finish until the deadline.
    case draining(deadline: WorkerInstant)
    /// The released attempts' trainers are exiting.
    case terminating
    /// `goodbye` sent; waiting briefly for acknowledgements.
    case leaving(deadline: WorkerInstant)
    case finished
  }

  /// What the worker has left, as the next step needs it.
  public struct Remaining: Sendable {
    public var attempts: Bool
    public var exitingTrainers: Bool
    public var unacknowledgedResults: Bool
    public var connected: Bool

    public init(attempts: Bool, exitingTrainers: Bool, unacknowledgedResults: Bool, connected: Bool) {
      self.attempts = attempts
      self.exitingTrainers = exitingTrainers
      self.unacknowledgedResults = unacknowledgedResults
      self.connected = connected
    }
  }

  /// The next step of the stop.
  public enum Step: Equatable, Sendable {
    /// The grace period is over (or nothing runs): hand every attempt back.
    case releaseAll
    case sayGoodbye
    case finish
  }

  public enum Request: Equatable, Sendable {
    /// The stop begins: attempts not training yet go back now, the others may run until `deadline`.
    case begin(deadline: WorkerInstant)
    /// A second, immediate request shortened the grace period.
    case hurried
    case ignored
  }

  public private(set) var state = State.working
  let grace: Duration
  let acknowledgementWait: Duration

  public init(grace: Duration, acknowledgementWait: Duration) {
    self.grace = grace
    self.acknowledgementWait = acknowledgementWait
  }

  public var isStopping: Bool { state != .working }
  public var isFinished: Bool { state == .finished }

  public var nextDeadline: WorkerInstant? {
    switch state {
    case .draining(let deadline), .leaving(let deadline): deadline
    case .working, .terminating, .finished: nil
    }
  }

  public mutating func request(immediately: Bool, now: WorkerInstant) -> Request {
    switch state {
    case .working:
      let deadline = immediately ? now : now + grace
      state = .draining(deadline: deadline)
      return .begin(deadline: deadline)
    case .draining(let deadline) where immediately && deadline > now:
      state = .draining(deadline: now)
      return .hurried
    default:
      return .ignored
    }
  }

  /// The next step due, if any (the parent carries it out and asks again).
  public mutating func next(now: WorkerInstant, _ remaining: Remaining) -> Step? {
    switch state {
    case .working, .finished:
      return nil
    case .draining(let deadline):
      guard !remaining.attempts || now >= deadline else { return nil }
      state = .terminating
      return .releaseAll
    case .terminating:
      guard !remaining.exitingTrainers else { return nil }
      state = .leaving(deadline: now + acknowledgementWait)
      return .sayGoodbye
    case .leaving(let deadline):
      guard !remaining.unacknowledgedResults || !remaining.connected || now >= deadline else { return nil }
      state = .finished
      return .finish
    }
  }

  /// A fatal error: finished at once.
  public mutating func fail() { state = .finished }
}
