import Foundation
import SweepWire
import TracCore

/// What the cache holds of a blob: all of it, or the bytes an unfinished fetch left (0: none).
public enum CachedBlob: Equatable, Sendable {
  case complete
  case partial(bytes: Int)
}

/// A worker's content-addressed files, each kind in its own folder of the work directory:
/// datasets (`datasets/<sha256>.hdf5`), run checkpoints to resume from (`checkpoints/<sha256>.safetensors`)
/// and BC stages to start from (`stages/<sha256>.safetensors`). Filled from the coordinator one chunk at
/// a time (`.<sha256>.partial` beside them); a file becomes visible only once complete and verified.
///
/// Workers before this layout kept checkpoints and stages in `datasets/` as `<sha256>.hdf5`: such a file
/// (or its partial copy) is moved to its kind's folder the first time it is asked for, never fetched again.
public struct BlobCache: Sendable {
  public let workDirectory: URL
  let datasets: ContainedDirectory
  let checkpoints: ContainedDirectory
  let stages: ContainedDirectory
  public static let chunkSize = 1 << 20

  public init(workDirectory: URL) throws {
    self.workDirectory = workDirectory
    datasets = try ContainedDirectory(workDirectory.appendingPathComponent(Self.folderName(.dataset)))
    checkpoints = try ContainedDirectory(workDirectory.appendingPathComponent(Self.folderName(.checkpoint)))
    stages = try ContainedDirectory(workDirectory.appendingPathComponent(Self.folderName(.stage)))
  }

  static func folderName(_ kind: BlobKind) -> String {
    switch kind {
    case .dataset: "datasets"
    case .checkpoint: "checkpoints"
    case .stage: "stages"
    }
  }

  static func fileName(_ kind: BlobKind, _ sha256: SHA256Digest) -> String {
    kind == .dataset ? "\(sha256).hdf5" : "\(sha256).safetensors"
  }

  private func folder(_ kind: BlobKind) -> ContainedDirectory {
    switch kind {
    case .dataset: datasets
    case .checkpoint: checkpoints
    case .stage: stages
    }
  }

  /// Where the complete file is (or will be).
  public func url(for blob: BlobRef) throws(PathOutsideRoot) -> URL { try url(blob.kind, blob.sha256) }

  public func url(_ kind: BlobKind, _ sha256: SHA256Digest) throws(PathOutsideRoot) -> URL {
    try folder(kind).path(Self.fileName(kind, sha256))
  }

  private func partialURL(_ kind: BlobKind, _ sha256: SHA256Digest) throws(PathOutsideRoot) -> URL {
    try folder(kind).path(".\(sha256).partial")
  }

  public func contains(_ kind: BlobKind, _ sha256: SHA256Digest) -> Bool {
    (try? url(kind, sha256)).map { FileManager.default.fileExists(atPath: $0.path) } ?? false
  }

  /// What the cache holds of a blob: complete, or the bytes of an unfinished fetch (0: none). A
  /// checkpoint or stage an older worker left in `datasets/` is moved to its folder first.
  public func held(_ blob: BlobRef) -> CachedBlob {
    adoptLegacyCopy(blob.kind, blob.sha256)
    return contains(blob.kind, blob.sha256)
      ? .complete : .partial(bytes: receivedBytes(blob.kind, blob.sha256))
  }

  /// The old layout's `datasets/<sha256>.hdf5` (or its partial copy) of a checkpoint or stage, moved
  /// to where this layout keeps it.
  private func adoptLegacyCopy(_ kind: BlobKind, _ sha256: SHA256Digest) {
    guard kind != .dataset, !contains(kind, sha256) else { return }
    let manager = FileManager.default
    if let old = try? url(.dataset, sha256), manager.fileExists(atPath: old.path),
      let new = try? url(kind, sha256)
    {
      try? manager.moveItem(at: old, to: new)
      return
    }
    if let old = try? partialURL(.dataset, sha256), manager.fileExists(atPath: old.path),
      let new = try? partialURL(kind, sha256), !manager.fileExists(atPath: new.path)
    {
      try? manager.moveItem(at: old, to: new)
    }
  }

  /// Removes what fetches left beside a file that is complete (a worker stopped between publishing
  /// the file and deleting its partial copy, or fetched a file it already had); other partial files
  /// stay, to be resumed. Returns the names removed (`folder/name`).
  @discardableResult
  public func removeLeftovers() -> [String] {
    var removed: [String] = []
    for kind in BlobKind.allCases {
      let names = (try? FileManager.default.contentsOfDirectory(atPath: folder(kind).url.path)) ?? []
      for name in names.sorted() where name.hasPrefix(".") && name.hasSuffix(".partial") {
        let hash = String(name.dropFirst().dropLast(".partial".count))
        guard let sha256 = SHA256Digest(rawValue: hash), contains(kind, sha256),
          let partial = try? partialURL(kind, sha256),
          (try? FileManager.default.removeItem(at: partial)) != nil
        else { continue }
        removed.append("\(Self.folderName(kind))/\(name)")
      }
    }
    return removed
  }

  /// Bytes received so far of an incomplete blob (where to resume its fetch).
  public func receivedBytes(_ kind: BlobKind, _ sha256: SHA256Digest) -> Int {
    guard let partial = try? partialURL(kind, sha256) else { return 0 }
    let attributes = try? FileManager.default.attributesOfItem(atPath: partial.path)
    return (attributes?[.size] as? NSNumber)?.intValue ?? 0
  }

  /// Why a chunk was not taken; the text names the kind of file.
  public enum CacheError: Error, CustomStringConvertible {
    case outOfOrder(BlobKind, expected: Int, got: Int)
    case hashMismatch(BlobKind, expected: SHA256Digest, got: SHA256Digest)

    public var description: String {
      switch self {
      case .outOfOrder(let kind, let expected, let got):
        return "\(kind.rawValue) chunk at offset \(got), expected \(expected)"
      case .hashMismatch(let kind, let expected, let got):
        return "\(kind.rawValue) refused: its content hashes to \(got), not \(expected)"
      }
    }
  }

  /// Appends a chunk; when the blob is complete, verifies its hash and publishes it. Returns true
  /// when complete. A mismatching hash deletes the bytes and throws: it is never used.
  @discardableResult
  public func append(_ blob: BlobRef, offset: Int, total: Int, data: Data) throws -> Bool {
    let (kind, sha256) = (blob.kind, blob.sha256)
    let partial = try partialURL(kind, sha256)
    // Content-addressed: a file already published under this hash is this content, verified then.
    if contains(kind, sha256) {
      try? FileManager.default.removeItem(at: partial)
      return true
    }
    let received = receivedBytes(kind, sha256)
    guard offset == received else { throw CacheError.outOfOrder(kind, expected: received, got: offset) }
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
      throw CacheError.hashMismatch(kind, expected: sha256, got: digest)
    }
    try FileManager.default.moveItem(at: partial, to: url(kind, sha256))
    return true
  }
}
