import Foundation

/// What a peer reads of a trainer checkpoint without the trainer (docs/CHECKPOINTS.md): its
/// safetensors header's `__metadata__` (format, run id, step). The trainer checks the rest (a
/// checksum over every byte) when it resumes.
public struct CheckpointHeader: Equatable, Sendable {
  public var format: String
  public var runID: String
  public var step: Int
  /// The BC stage id of the run (`bc_stage`), when it has one.
  public var bcStage: String?

  /// The largest header read: a checkpoint's header is a few kilobytes.
  static let maximumHeader = 1 << 20

  /// Reads the header of a checkpoint file's bytes; nil when they are not a safetensors file with
  /// string metadata `format`, `run_id` and an integer `step`.
  public init?(_ data: Data) {
    guard data.count >= 8 else { return nil }
    var length: UInt64 = 0
    for index in 0..<8 { length |= UInt64(data[data.startIndex + index]) << (8 * UInt64(index)) }
    guard length <= UInt64(min(Self.maximumHeader, data.count - 8)) else { return nil }
    let start = data.startIndex + 8
    let header = data[start..<start + Int(length)]
    guard let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any],
      let metadata = object["__metadata__"] as? [String: String], let format = metadata["format"],
      let runID = metadata["run_id"], let step = metadata["step"].flatMap({ Int($0) }), step >= 0
    else { return nil }
    self.format = format
    self.runID = runID
    self.step = step
    self.bcStage = metadata["bc_stage"]
  }
}
