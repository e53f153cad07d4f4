import SweepWire
import TracCore

/// When a training attempt's newest checkpoint goes to the coordinator (docs/PROTOCOL.md section 5,
/// "Checkpoints"): every shipping interval and when the attempt is handed back, only if it differs
/// from the one last sent or the one the attempt started from.
public struct CheckpointShipping: Sendable {
  public enum State: Equatable, Sendable {
    /// The worker ships no checkpoints on a timer.
    case off
    /// Next shipment at `next`, then every `interval`.
    case every(Duration, next: WorkerInstant)
  }

  public private(set) var state: State = .off
  /// The checkpoint last sent (or started from) per attempt.
  public private(set) var lastShipped: [AttemptID: SHA256Digest] = [:]
  let interval: Duration?

  public init(interval: Duration?) { self.interval = interval }

  public mutating func start(now: WorkerInstant) {
    state = interval.map { .every($0, next: now + $0) } ?? .off
  }

  public var nextDeadline: WorkerInstant? { if case .every(_, let next) = state { next } else { nil } }

  /// Whether a shipment is due at `now` (the next one is then scheduled).
  public mutating func due(now: WorkerInstant) -> Bool {
    guard case .every(let interval, let next) = state, now >= next else { return false }
    state = .every(interval, next: now + interval)
    return true
  }

  /// The attempt starts from this checkpoint: the coordinator has it already.
  public mutating func startedFrom(_ key: AttemptID, _ sha256: SHA256Digest?) { lastShipped[key] = sha256 }

  /// Whether a checkpoint the attempt's trainer wrote is worth sending.
  public func isNew(_ key: AttemptID, _ sha256: SHA256Digest) -> Bool { lastShipped[key] != sha256 }

  public mutating func shipped(_ key: AttemptID, _ sha256: SHA256Digest) { lastShipped[key] = sha256 }

  /// The attempt's directory is gone.
  public mutating func forget(_ key: AttemptID) { lastShipped[key] = nil }
}

/// The running attempts' progress in heartbeats (docs/PROTOCOL.md, `heartbeat.progress`): read at most
/// once a `minimumInterval`, and only what changed since last sent.
public struct ProgressReports: Sendable {
  public enum State: Equatable, Sendable {
    case neverSent
    case sent(at: WorkerInstant)
  }

  public private(set) var state = State.neverSent
  public private(set) var reported: [AttemptID: AttemptProgress] = [:]
  let minimumInterval: Duration

  public init(minimumInterval: Duration = .seconds(1)) { self.minimumInterval = minimumInterval }

  /// Whether a heartbeat at `now` may carry progress.
  public func isDue(now: WorkerInstant) -> Bool {
    if case .sent(let at) = state { now - at >= minimumInterval } else { true }
  }

  /// What the trainers' files say now: the progress to send (nil when nothing changed).
  public mutating func read(_ progress: [AttemptProgress], running: [AttemptID], now: WorkerInstant)
    -> [AttemptProgress]?
  {
    reported = reported.filter { running.contains($0.key) }
    let changed = progress.filter { running.contains($0.attempt) && reported[$0.attempt] != $0 }
    guard !changed.isEmpty else { return nil }
    for item in changed { reported[item.attempt] = item }
    state = .sent(at: now)
    return changed
  }
}
