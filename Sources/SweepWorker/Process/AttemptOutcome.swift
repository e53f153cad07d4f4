/// How an attempt's trainer ended, as the coordinator records it (PROTOCOL.md `result.outcome`).
public enum AttemptOutcome: String, Codable, Sendable, CaseIterable {
  /// Exit status 0: the result holds a policy and its metrics.
  case succeeded
  /// Any other exit, or a signal: the run may be retried.
  case failed
  /// Exit status 65: the input is at fault, and retrying cannot help (DESIGN.md guarantee 4).
  case inputError = "input_error"

  /// The exit status `trac-sweep train` reserves for an error of its input (`inputErrorExitCode`
  /// in TrainCommand.swift; EX_DATAERR in sysexits.h).
  public static let inputErrorExitStatus: Int32 = 65

  /// Classifies an exit: `nil` means the trainer was killed by a signal.
  public init(exitStatus: Int32?) {
    switch exitStatus {
    case 0: self = .succeeded
    case AttemptOutcome.inputErrorExitStatus: self = .inputError
    default: self = .failed
    }
  }
}
