import Foundation
import TracCore

/// Runs' newest checkpoints by content: `artifacts/checkpoints/<sha256>.safetensors`. A file is written
/// (fsynced, renamed into place) before the commit that refers to it, and deleted after the commit that
/// stops referring to it; a file no run refers to after a restart is a leftover and removed.
public struct CheckpointStore: Sendable {
  public let root: ContainedDirectory
  public var directory: URL { root.url }

  public init(directory: URL) throws {
    root = try ContainedDirectory(directory)
    ArtifactStore.removeLeftovers(in: root.url)
  }

  public func url(for sha256: SHA256Digest) throws(PathOutsideRoot) -> URL {
    try root.path("\(sha256).safetensors")
  }

  /// Stores the bytes under their hash (the caller has checked it); nothing happens if already held.
  public func store(_ data: Data, sha256: SHA256Digest) throws {
    let target = try url(for: sha256)
    guard !FileManager.default.fileExists(atPath: target.path) else { return }
    let temporary = try root.path(".incoming-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: temporary) }
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
      throw CoordinatorError.storage(
        operation: "storing a checkpoint", message: "cannot create \(temporary.path)")
    }
    let handle = try FileHandle(forWritingTo: temporary)
    try handle.write(contentsOf: data)
    try handle.synchronize()
    try handle.close()
    try FileManager.default.moveItem(at: temporary, to: target)
  }

  public func remove(_ sha256: SHA256Digest) {
    if let url = try? url(for: sha256) { try? FileManager.default.removeItem(at: url) }
  }

  /// Deletes every checkpoint file not in `keep` (those the database no longer refers to).
  public func removeAll(except keep: Set<SHA256Digest>) {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: root.url.path)) ?? []
    for name in names where name.hasSuffix(".safetensors") {
      let digest = SHA256Digest(rawValue: String(name.dropLast(".safetensors".count)))
      if digest.map({ keep.contains($0) }) != true {
        try? FileManager.default.removeItem(at: root.url.appendingPathComponent(name))
      }
    }
  }

  /// Up to `length` bytes (at most `DatasetStore.maximumChunk`) from `offset`; nil when not held.
  public func chunk(sha256: SHA256Digest, offset: Int, length: Int) throws -> (data: Data, total: Int)? {
    try DatasetStore.chunk(
      of: try url(for: sha256), named: "checkpoint \(sha256.short)", offset: offset, length: length)
  }
}
