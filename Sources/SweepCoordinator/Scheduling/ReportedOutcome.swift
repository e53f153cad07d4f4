import Foundation
import TracCore

/// How a worker says an attempt ended, in a `result` event.
public enum ReportedOutcome: Equatable, Sendable {
  /// The trainer finished; the payload is what gets recorded.
  case succeeded(RunResultPayload)
  /// The trainer exited non-zero.
  case failed(exitStatus: Int32, stderrTail: String)
  /// The trainer exited with `AttemptOutcome.inputErrorExitStatus`.
  case inputError(exitStatus: Int32, stderrTail: String)

  /// A trainer that exited with `exitStatus` (non-zero): an input error for the reserved status, a
  /// failure otherwise.
  public static func trainerExited(status exitStatus: Int32, stderrTail: String) -> ReportedOutcome {
    exitStatus == AttemptOutcome.inputErrorExitStatus
      ? .inputError(exitStatus: exitStatus, stderrTail: stderrTail)
      : .failed(exitStatus: exitStatus, stderrTail: stderrTail)
  }
}

/// A successful attempt's result as the coordinator records it: `run.json` (docs/FORMATS.md), what
/// results rows show of it (`RunSummary`, decoded here, once), and where the artifacts are kept (by run
/// id, so a new attempt never leaves a second copy behind).
public struct RunResultPayload: Equatable, Sendable {
  public var runJSON: String
  public var summary: RunSummary
  public var artifactPaths: [String]
  /// For a stage unit: its end-of-BC checkpoint (checked and stored by the caller) and the seconds its
  /// BC phase took.
  public var stageOutput: RunCheckpoint?
  public var stageSeconds: Double?
  /// What an audit compares (`ResultFingerprint`), made by the coordinator from the result's files; nil
  /// when it could not be (no policy file).
  public var fingerprint: ResultFingerprint?

  public init(
    runJSON: String, artifactPaths: [String] = [], stageOutput: RunCheckpoint? = nil,
    stageSeconds: Double? = nil
  ) {
    self.runJSON = runJSON
    self.summary = RunSummary(runJSON: Data(runJSON.utf8)) ?? RunSummary()
    self.artifactPaths = artifactPaths
    self.stageOutput = stageOutput
    self.stageSeconds = stageSeconds
  }
}
