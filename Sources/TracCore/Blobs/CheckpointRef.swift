/// A trainer checkpoint (docs/CHECKPOINTS.md) named by its content: a run's newest shipped checkpoint,
/// the end-of-BC file of a shared BC stage, and the `checkpoint`/`init_from` objects of the wire
/// protocol (docs/PROTOCOL.md: {`sha256`, `size`, `step`}) are this one type. The scheduler, which does
/// not import the wire types, calls it `RunCheckpoint`.
public struct CheckpointRef: Codable, Hashable, Sendable {
  public var sha256: SHA256Digest
  public var size: Int
  /// The updates the checkpoint holds (BC included): the trainer resumes at this step.
  public var step: Int

  public init(sha256: SHA256Digest, size: Int, step: Int) {
    self.sha256 = sha256
    self.size = size
    self.step = step
  }
}
