import Foundation

/// The format of the trainer's checkpoint files (docs/CHECKPOINTS.md), `checkpoint.safetensors` and
/// the end-of-BC `bc-stage.safetensors` alike: the trainer writes and reads it, the coordinator
/// checks a shipped checkpoint's header against it.
public enum CheckpointFormat {
  public static let current = "trac-checkpoint/1"
}

/// What a peer reads of a trainer checkpoint without the trainer (docs/CHECKPOINTS.md): its
/// safetensors header's `__metadata__` (format, run id, step, BC stage). The trainer writes these
/// entries from here, and checks the rest (a checksum over every byte) when it resumes.
public struct CheckpointHeader: Equatable, Sendable {
  /// The `__metadata__` keys of these fields.
  public enum Key {
    public static let format = "format"
    public static let runID = "run_id"
    public static let step = "step"
    public static let bcStage = "bc_stage"
  }

  public var format: String
  public var runID: String
  public var step: Int
  /// The BC stage id of the run (`bc_stage`), when it has one.
  public var bcStage: String?

  /// The largest header read: a checkpoint's header is a few kilobytes.
  static let maximumHeader = 1 << 20

  public init(format: String = CheckpointFormat.current, runID: String, step: Int, bcStage: String?) {
    self.format = format
    self.runID = runID
    self.step = step
    self.bcStage = bcStage
  }

  /// Reads the header of a checkpoint file's bytes; nil when they are not a safetensors file with
  /// string metadata `format`, `run_id` and an integer `step`.
  public init?(_ data: Data) {
    guard let header = try? SafetensorsHeader(parsing: data, maximumLength: Self.maximumHeader),
      let metadata = header.metadata, let format = metadata[Key.format], let runID = metadata[Key.runID],
      let step = metadata[Key.step].flatMap({ Int($0) }), step >= 0
    else { return nil }
    self.init(format: format, runID: runID, step: step, bcStage: metadata[Key.bcStage])
  }

  /// The fields as `__metadata__` entries (`bc_stage` only when there is one).
  public var metadata: [String: String] {
    var entries = [Key.format: format, Key.runID: runID, Key.step: String(step)]
    if let bcStage { entries[Key.bcStage] = bcStage }
    return entries
  }
}
