import Foundation

/// A clock that moves only when a test says so, in milliseconds (or any `Duration`). Time starts at zero.
///
/// Pure code (the coordinator's `Scheduler`) takes `clock.elapsed` as its `now`; code that sleeps (a
/// heartbeat loop) takes the clock itself: `sleep(until:)` returns once `advance` has moved the clock to or
/// past the deadline, or throws `CancellationError` if its task is cancelled first.
public final class ManualClock: Clock, @unchecked Sendable {
  /// A point in the manual clock's time: the time since the clock was made.
  public struct Instant: InstantProtocol, Sendable {
    public var offset: Duration

    public init(offset: Duration) { self.offset = offset }

    public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
    public func duration(to other: Instant) -> Duration { other.offset - offset }
    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
  }

  private struct Sleeper {
    let id: UInt64
    let deadline: Instant
    let continuation: CheckedContinuation<Void, any Error>
  }

  private let lock = NSLock()
  private var current = Instant(offset: .zero)
  private var sleepers: [Sleeper] = []
  private var nextSleeperID: UInt64 = 0

  public init() {}

  public var now: Instant {
    lock.lock()
    defer { lock.unlock() }
    return current
  }

  /// The time since the clock was made: a `SchedulerInstant`.
  public var elapsed: Duration { now.offset }

  public var minimumResolution: Duration { .milliseconds(1) }

  /// Moves the clock forward and wakes the sleepers whose deadline has come, earliest first.
  public func advance(by duration: Duration) {
    precondition(duration >= .zero, "a manual clock only moves forward")
    lock.lock()
    current = current.advanced(by: duration)
    let now = current
    let due = sleepers.filter { $0.deadline <= now }.sorted { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
    sleepers.removeAll { $0.deadline <= now }
    lock.unlock()
    for sleeper in due { sleeper.continuation.resume() }
  }

  public func advance(milliseconds: Int64) {
    advance(by: .milliseconds(milliseconds))
  }

  /// Moves the clock to `instant` if it is later than now.
  public func advance(to instant: Instant) {
    let now = self.now
    if instant > now { advance(by: now.duration(to: instant)) }
  }

  /// How many tasks are sleeping on this clock: lets a test wait until a loop has gone to sleep.
  public var sleeperCount: Int {
    lock.lock()
    defer { lock.unlock() }
    return sleepers.count
  }

  public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
    let id = lock.withLock {
      defer { nextSleeperID += 1 }
      return nextSleeperID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        lock.lock()
        if Task.isCancelled {
          lock.unlock()
          continuation.resume(throwing: CancellationError())
        } else if deadline <= current {
          lock.unlock()
          continuation.resume()
        } else {
          sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
          lock.unlock()
        }
      }
    } onCancel: {
      lock.lock()
      let cancelled = sleepers.first { $0.id == id }
      sleepers.removeAll { $0.id == id }
      lock.unlock()
      cancelled?.continuation.resume(throwing: CancellationError())
    }
  }
}
