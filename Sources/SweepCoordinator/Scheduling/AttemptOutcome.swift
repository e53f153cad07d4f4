import TracCore

/// How an attempt ended, as recorded by the coordinator.
public enum AttemptOutcome: Equatable, Sendable {
  /// The trainer finished and the result is recorded.
  case succeeded
  /// The trainer exited non-zero; the run is retried up to `maxAttempts`.
  case failed(exitStatus: Int32, stderrTail: String)
  /// The trainer reported an error of its input (`inputErrorExitStatus`): the run fails at once.
  case inputError(exitStatus: Int32, stderrTail: String)
  /// The lease lapsed or the worker went away: not the trainer's fault, the run goes back to `pending`.
  case lost
  /// The worker handed the run back on a graceful stop: neither a failure nor lost.
  case released
  /// The coordinator told the worker to stop it: its sweep was cancelled, or another attempt's result
  /// was recorded first.
  case cancelled

  /// The trainer's exit status reserved for "the input is wrong, retrying cannot help" (EX_DATAERR).
  public static let inputErrorExitStatus = TracError.inputErrorExitStatus

  /// The name stored in the database and shown by `status`.
  public var name: String {
    switch self {
    case .succeeded: return "succeeded"
    case .failed: return "failed"
    case .inputError: return "input_error"
    case .lost: return "lost"
    case .released: return "released"
    case .cancelled: return "cancelled"
    }
  }

  public var exitStatus: Int32? {
    switch self {
    case .failed(let status, _), .inputError(let status, _): return status
    default: return nil
    }
  }

  public var stderrTail: String? {
    switch self {
    case .failed(_, let tail), .inputError(_, let tail): return tail
    default: return nil
    }
  }

  /// Whether the trainer itself failed (a failure the user must see).
  public var isTrainerFailure: Bool {
    switch self {
    case .failed, .inputError: return true
    default: return false
    }
  }

  /// Rebuilds an outcome from its stored form; nil if `name` is not one.
  public init?(name: String, exitStatus: Int32?, stderrTail: String?) {
    switch name {
    case "succeeded": self = .succeeded
    case "failed": self = .failed(exitStatus: exitStatus ?? -1, stderrTail: stderrTail ?? "")
    case "input_error":
      self = .inputError(exitStatus: exitStatus ?? Self.inputErrorExitStatus, stderrTail: stderrTail ?? "")
    case "lost": self = .lost
    case "released": self = .released
    case "cancelled": self = .cancelled
    default: return nil
    }
  }
}
