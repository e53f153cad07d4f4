import Foundation
import TracCore

/// What a trainer child is started with.
public struct TrainerLaunch: Sendable {
  /// The program; run as is (no `PATH` search).
  public var executable: URL
  /// Arguments after the program name, e.g. `["train", "--task", ..., "--out", DIR]`.
  public var arguments: [String]
  /// Variables added to (or replacing) the worker's own environment.
  public var environment: [String: String]
  /// The child's current directory; the worker's when nil.
  public var workingDirectory: URL?
  /// Files that receive the child's stdout and stderr (created or truncated). Files, not pipes:
  /// a pipe nobody drains fills up and stalls the trainer.
  public var stdoutLog: URL
  public var stderrLog: URL

  public init(
    executable: URL, arguments: [String], environment: [String: String] = [:], workingDirectory: URL? = nil,
    stdoutLog: URL, stderrLog: URL
  ) {
    self.executable = executable
    self.arguments = arguments
    self.environment = environment
    self.workingDirectory = workingDirectory
    self.stdoutLog = stdoutLog
    self.stderrLog = stderrLog
  }

  /// A launch whose logs and current directory are the attempt's directory.
  public init(
    executable: URL, arguments: [String], environment: [String: String] = [:], in attempt: AttemptDirectory
  ) {
    self.init(
      executable: executable, arguments: arguments, environment: environment, workingDirectory: attempt.url,
      stdoutLog: attempt.stdoutLog, stderrLog: attempt.stderrLog)
  }

  /// Each run gets one BLAS thread: the worker runs one run per core.
  public static let fixedEnvironment = ["OPENBLAS_NUM_THREADS": "1"]

  /// The child's whole environment: the worker's, then `environment`, then `fixedEnvironment`.
  public func childEnvironment(inheriting inherited: [String: String] = ProcessInfo.processInfo.environment)
    -> [String: String]
  {
    inherited.merging(environment) { $1 }.merging(TrainerLaunch.fixedEnvironment) { $1 }
  }
}
