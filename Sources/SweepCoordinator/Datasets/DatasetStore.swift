import Foundation
import TracCore

/// The coordinator's datasets, stored by content: `artifacts/datasets/<sha256>.hdf5`. Workers
/// without a shared filesystem fetch them from here in chunks.
public struct DatasetStore: Sendable {
  public let root: ContainedDirectory
  public var directory: URL { root.url }

  public init(directory: URL) throws {
    root = try ContainedDirectory(directory)
  }

  public struct StoredDataset: Sendable, Equatable {
    public var sha256: SHA256Digest
    public var size: Int
    public var name: String
  }

  /// Copies `path` into the store (once per content) and returns its hash. The copy is written to a
  /// temporary name and renamed, so a crash never leaves a partial dataset under a valid hash.
  public func importFile(at path: String) throws -> StoredDataset {
    guard FileManager.default.isReadableFile(atPath: path) else {
      throw TracError.invalidInput("dataset \(path): no such readable file on the coordinator's machine")
    }
    let digest = try SHA256Digest(ofFileAt: path)
    let target = try url(for: digest)
    if !FileManager.default.fileExists(atPath: target.path) {
      let temporary = try root.path(".incoming-\(UUID().uuidString)")
      try FileManager.default.copyItem(atPath: path, toPath: temporary.path)
      guard try SHA256Digest(ofFileAt: temporary.path) == digest else {
        try? FileManager.default.removeItem(at: temporary)
        throw TracError.invalidInput("dataset \(path) changed while it was being copied")
      }
      try FileManager.default.moveItem(at: temporary, to: target)
    }
    let size =
      (try FileManager.default.attributesOfItem(atPath: target.path)[.size] as? NSNumber)?.intValue ?? 0
    return StoredDataset(sha256: digest, size: size, name: URL(fileURLWithPath: path).lastPathComponent)
  }

  /// `datasets/<sha256>.hdf5`.
  public func url(for sha256: SHA256Digest) throws(PathOutsideRoot) -> URL {
    try root.path("\(sha256).hdf5")
  }

  /// Whether the dataset is stored in full.
  public func contains(_ sha256: SHA256Digest) -> Bool {
    (try? url(for: sha256)).map { FileManager.default.fileExists(atPath: $0.path) } ?? false
  }

  /// The largest piece a `fetch` gets.
  public static let maximumChunk = 4 << 20

  /// Up to `length` bytes (at most `maximumChunk`) from `offset`, which must lie within the file; nil
  /// when the dataset is not held.
  public func chunk(sha256: SHA256Digest, offset: Int, length: Int) throws -> (data: Data, total: Int)? {
    try Self.chunk(of: try url(for: sha256), named: "dataset \(sha256.short)", offset: offset, length: length)
  }

  /// Up to `length` bytes (at most `maximumChunk`) of `file` from `offset`, which must lie within it;
  /// nil when there is no such file.
  static func chunk(of file: URL, named name: String, offset: Int, length: Int) throws -> (
    data: Data, total: Int
  )? {
    guard let handle = try? FileHandle(forReadingFrom: file) else { return nil }
    defer { try? handle.close() }
    let total = Int(try handle.seekToEnd())
    guard offset >= 0, offset <= total else {
      throw TracError.invalidInput("fetch of \(name): offset \(offset) is outside its \(total) bytes")
    }
    guard length > 0 else {
      throw TracError.invalidInput("fetch of \(name): length \(length)")
    }
    try handle.seek(toOffset: UInt64(offset))
    let data = try handle.read(upToCount: min(length, maximumChunk)) ?? Data()
    return (data, total)
  }
}
