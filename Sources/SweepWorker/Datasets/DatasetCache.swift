import Foundation
import TracCore

/// A worker's datasets by content hash (`WORKDIR/datasets/<sha256>.hdf5`), filled from the
/// coordinator one chunk at a time. A dataset becomes visible only once complete and verified.
public struct DatasetCache: Sendable {
  public let root: ContainedDirectory
  public var directory: URL { root.url }
  public static let chunkSize = 1 << 20

  public init(directory: URL) throws {
    root = try ContainedDirectory(directory)
  }

  /// `datasets/<sha256>.hdf5`.
  public func url(for sha256: SHA256Digest) throws(PathOutsideRoot) -> URL { try root.path("\(sha256).hdf5") }
  private func partialURL(for sha256: SHA256Digest) throws(PathOutsideRoot) -> URL {
    try root.path(".\(sha256).partial")
  }

  public func contains(_ sha256: SHA256Digest) -> Bool {
    (try? url(for: sha256)).map { FileManager.default.fileExists(atPath: $0.path) } ?? false
  }

  /// What the cache holds of a file: complete, or the bytes of an unfinished fetch (0: none).
  public func held(_ sha256: SHA256Digest) -> WorkerStateMachine.CachedDataset {
    contains(sha256) ? .complete : .partial(bytes: receivedBytes(sha256))
  }

  /// Removes what fetches left beside a file that is complete (a worker stopped between publishing
  /// the file and deleting its partial copy, or fetched a file it already had); other partial files
  /// stay, to be resumed. Returns the names removed.
  @discardableResult
  public func removeLeftovers() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    var removed: [String] = []
    for name in names where name.hasPrefix(".") && name.hasSuffix(".partial") {
      let hash = String(name.dropFirst().dropLast(".partial".count))
      guard let sha256 = SHA256Digest(rawValue: hash), contains(sha256),
        let partial = try? partialURL(for: sha256), (try? FileManager.default.removeItem(at: partial)) != nil
      else { continue }
      removed.append(name)
    }
    return removed
  }

  /// Bytes received so far for an incomplete dataset (where to resume the fetch).
  public func receivedBytes(_ sha256: SHA256Digest) -> Int {
    guard let partial = try? partialURL(for: sha256) else { return 0 }
    let attributes = try? FileManager.default.attributesOfItem(atPath: partial.path)
    return (attributes?[.size] as? NSNumber)?.intValue ?? 0
  }

  public enum CacheError: Error, CustomStringConvertible {
    case outOfOrder(expected: Int, got: Int)
    case hashMismatch(expected: SHA256Digest, got: SHA256Digest)

    public var description: String {
      switch self {
      case .outOfOrder(let expected, let got): return "dataset chunk at offset \(got), expected \(expected)"
      case .hashMismatch(let expected, let got):
        return "dataset refused: its content hashes to \(got), not \(expected)"
      }
    }
  }

  /// Appends a chunk; when the dataset is complete, verifies its hash and publishes it. Returns
  /// true when complete. A mismatching hash deletes the bytes and throws: it is never used.
  @discardableResult
  public func append(sha256: SHA256Digest, offset: Int, total: Int, data: Data) throws -> Bool {
    let partial = try partialURL(for: sha256)
    // Content-addressed: a file already published under this hash is this content, verified then.
    if contains(sha256) {
      try? FileManager.default.removeItem(at: partial)
      return true
    }
    let received = receivedBytes(sha256)
    guard offset == received else { throw CacheError.outOfOrder(expected: received, got: offset) }
    if received == 0 { _ = FileManager.default.createFile(atPath: partial.path, contents: nil) }
    let handle = try FileHandle(forWritingTo: partial)
    try handle.seekToEnd()
    try handle.write(contentsOf: data)
    try handle.synchronize()
    try handle.close()
    guard offset + data.count >= total else { return false }
    let digest = try SHA256Digest(ofFileAt: partial.path)
    guard digest == sha256 else {
      try? FileManager.default.removeItem(at: partial)
      throw CacheError.hashMismatch(expected: sha256, got: digest)
    }
    try FileManager.default.moveItem(at: partial, to: url(for: sha256))
    return true
  }
}
