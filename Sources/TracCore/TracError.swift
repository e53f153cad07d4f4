/// The error type of TracCore: every case says what is wrong in words a user can act on.
public enum TracError: Error, Equatable, Sendable, CustomStringConvertible {
  /// An input that no retry can fix: a bad option, a dataset that lacks what training needs.
  case invalidInput(String)
  /// A hyperparameter out of its range; `option` is the command-line name (`--x`).
  case invalidHyperparameter(option: String, message: String)
  /// The labelled dataset has no desirable segment: TraC has nothing to learn from.
  case noDesirableSegments(costThreshold: Double)
  /// An undesirable-only run (`segments = undesirable`) has no undesirable segment to train on.
  case noUndesirableSegments(costThreshold: Double)

  /// The exit status `trac-sweep train` reserves for an error of its input (EX_DATAERR): retrying
  /// cannot help, so a worker reports `input_error` and the coordinator fails the run at once.
  public static let inputErrorExitStatus: Int32 = 65

  public var description: String {
    switch self {
    case .invalidInput(let message): return message
    case .invalidHyperparameter(let option, let message): return "\(option): \(message)"
    case .noDesirableSegments(let threshold):
      return "no desirable segments at cost threshold \(formatNumber(threshold))"
    case .noUndesirableSegments(let threshold):
      return
        "no undesirable segments at cost threshold \(formatNumber(threshold)) (segments = undesirable trains"
        + " only on the unsafe segments and the lowest-reward y share of the safe ones)"
    }
  }
}

/// Formats a number without a trailing `.0` for integers (20, not 20.0), for messages and ids.
public func formatNumber(_ value: Double) -> String {
  if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
  return String(value)
}
