import TracCore

/// The newest checkpoint a run's attempts have shipped (docs/CHECKPOINTS.md): its content hash names
/// the file the coordinator keeps, and the next attempt, on any worker, resumes from it.
public struct RunCheckpoint: Equatable, Hashable, Sendable {
  public var sha256: SHA256Digest
  public var size: Int
  /// The updates it holds (BC included).
  public var step: Int

  public init(sha256: SHA256Digest, size: Int, step: Int) {
    self.sha256 = sha256
    self.size = size
    self.step = step
  }
}
