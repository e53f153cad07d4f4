import Foundation
import TracCore

/// One recorded result of a sweep's run, as `results` exports it (CSV or JSON): where the run sits in the
/// sweep, what it is, and its `run.json`.
public struct ResultRow: Equatable, Sendable {
  public var sweep: SweepID
  public var run: RunID
  public var pointID: String
  public var spec: RunSpec
  /// The attempt whose result was recorded, and where it ran.
  public var attempt: Int
  public var worker: WorkerID
  /// `run.json` (docs/FORMATS.md), as the worker sent it.
  public var runJSON: String
  /// What results rows show of it, decoded when the result arrived.
  public var summary: RunSummary
  public var artifactPaths: [String]
  public var recordedAt: Date
  /// What audits say of the result (docs/SECURITY.md): empty when it was not drawn; `waiting`,
  /// `running`, `disputed`, `passed`, `mismatch`, `inconclusive`, `withdrawn`; `suspect` when its producer was
  /// convicted (the run is being trained again).
  public var audit: String

  public init(
    sweep: SweepID, run: RunID, pointID: String, spec: RunSpec, attempt: Int, worker: WorkerID,
    runJSON: String, summary: RunSummary? = nil, artifactPaths: [String], recordedAt: Date, audit: String = ""
  ) {
    self.audit = audit
    self.sweep = sweep
    self.run = run
    self.pointID = pointID
    self.spec = spec
    self.attempt = attempt
    self.worker = worker
    self.runJSON = runJSON
    self.summary = summary ?? RunSummary(runJSON: Data(runJSON.utf8)) ?? RunSummary()
    self.artifactPaths = artifactPaths
    self.recordedAt = recordedAt
  }
}
