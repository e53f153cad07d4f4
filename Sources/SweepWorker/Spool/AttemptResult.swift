import Foundation
import SweepWire
import TracCore

/// A finished attempt as the worker reports it (PROTOCOL.md `result`, without the files).
public struct AttemptResult: Codable, Sendable, Equatable {
  public var key: AttemptID
  public var outcome: TrainerOutcome
  /// nil when a signal killed the trainer.
  public var exitStatus: Int32?
  public var signal: Int32?
  public var stderrTail: String
  public var wallSeconds: Double

  public init(
    key: AttemptID, outcome: TrainerOutcome, exitStatus: Int32?, signal: Int32? = nil, stderrTail: String,
    wallSeconds: Double
  ) {
    self.key = key
    self.outcome = outcome
    self.exitStatus = exitStatus
    self.signal = signal
    self.stderrTail = stderrTail
    self.wallSeconds = wallSeconds
  }

  public init(key: AttemptID, exit: TrainerExit) {
    self.init(
      key: key, outcome: exit.outcome, exitStatus: exit.exitStatus, signal: exit.signal,
      stderrTail: exit.stderrTail, wallSeconds: exit.wallSeconds)
  }

  enum CodingKeys: String, CodingKey {
    case runID = "run_id"
    case attempt, outcome, signal
    case exitStatus = "exit_status"
    case stderrTail = "stderr_tail"
    case wallSeconds = "wall_seconds"
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    key = try AttemptID(
      run: container.decode(RunID.self, forKey: .runID), number: container.decode(Int.self, forKey: .attempt))
    outcome = try container.decode(TrainerOutcome.self, forKey: .outcome)
    exitStatus = try container.decodeIfPresent(Int32.self, forKey: .exitStatus)
    signal = try container.decodeIfPresent(Int32.self, forKey: .signal)
    stderrTail = try container.decode(String.self, forKey: .stderrTail)
    wallSeconds = try container.decode(Double.self, forKey: .wallSeconds)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(key.run, forKey: .runID)
    try container.encode(key.number, forKey: .attempt)
    try container.encode(outcome, forKey: .outcome)
    try container.encodeIfPresent(exitStatus, forKey: .exitStatus)
    try container.encodeIfPresent(signal, forKey: .signal)
    try container.encode(stderrTail, forKey: .stderrTail)
    try container.encode(wallSeconds, forKey: .wallSeconds)
  }
}

/// One file of a spooled result: the protocol's `FileInfo` (name, size, sha256), so the manifest and
/// the `result` message list files the same way.
public typealias SpooledFile = FileInfo

/// A spool entry's `manifest.json`: the result, its files with their hashes, when it was spooled.
public struct SpooledResult: Codable, Sendable, Equatable {
  public static let currentFormat = "trac-sweep-spool/1"

  public var format: String
  public var result: AttemptResult
  public var files: [SpooledFile]
  public var spooledAt: Date

  public var key: AttemptID { result.key }

  public init(result: AttemptResult, files: [SpooledFile], spooledAt: Date) {
    self.format = SpooledResult.currentFormat
    self.result = result
    self.files = files
    self.spooledAt = spooledAt
  }

  enum CodingKeys: String, CodingKey {
    case format, result, files
    case spooledAt = "spooled_at"
  }
}
