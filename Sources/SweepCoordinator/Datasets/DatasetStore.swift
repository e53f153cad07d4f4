import Foundation
import TracCore

/// The coordinator's datasets, stored by content: `artifacts/datasets/<sha256>.hdf5`. Workers
/// without a shared filesystem fetch them from here in chunks.
public struct DatasetStore: Sendable {
  public let directory: URL

  public init(directory: URL) throws {
    self.directory = directory
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  public struct StoredDataset: Sendable, Equatable {
    public var sha256: String
    public var size: Int
    public var name: String
  }

  /// Copies `path` into the store (once per content) and returns its hash. The copy is written to a
  /// temporary name and renamed, so a crash never leaves a partial dataset under a valid hash.
  public func importFile(at path: String) throws -> StoredDataset {
    guard FileManager.default.isReadableFile(atPath: path) else {
      throw TracError.invalidInput("dataset \(path): no such readable file on the coordinator's machine")
    }
    let digest = try sha256Hex(ofFileAt: path)
    let target = url(for: digest)
    if !FileManager.default.fileExists(atPath: target.path) {
      let temporary = directory.appendingPathComponent(".incoming-\(UUID().uuidString)")
      try FileManager.default.copyItem(atPath: path, toPath: temporary.path)
      guard try sha256Hex(ofFileAt: temporary.path) == digest else {
        try? FileManager.default.removeItem(at: temporary)
        throw TracError.invalidInput("dataset \(path) changed while it was being copied")
      }
      try FileManager.default.moveItem(at: temporary, to: target)
    }
    let size =
      (try FileManager.default.attributesOfItem(atPath: target.path)[.size] as? NSNumber)?.intValue ?? 0
    return StoredDataset(sha256: digest, size: size, name: URL(fileURLWithPath: path).lastPathComponent)
  }

  public func url(for sha256: String) -> URL {
    directory.appendingPathComponent("\(sha256).hdf5")
  }

  /// Up to `length` bytes from `offset` (at most 4 MiB a chunk); nil when the hash is unknown.
  public func chunk(sha256: String, offset: Int, length: Int) throws -> (data: Data, total: Int)? {
    guard sha256.count == 64, sha256.allSatisfy(\.isHexDigit) else { return nil }
    let url = url(for: sha256)
    guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
    defer { try? handle.close() }
    let total = Int(try handle.seekToEnd())
    guard offset >= 0, offset <= total, length > 0 else { return (Data(), total) }
    try handle.seek(toOffset: UInt64(offset))
    let data = try handle.read(upToCount: min(length, 4 << 20)) ?? Data()
    return (data, total)
  }
}
