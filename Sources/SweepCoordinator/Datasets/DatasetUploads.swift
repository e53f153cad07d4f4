import Foundation
import TracCore

/// Datasets arriving from clients that do not share the coordinator's filesystem (`upload` requests):
/// appended in order to `.upload-<sha256>` beside the store, hashed as they arrive, and moved under
/// their hash only when every byte is there and the hash matches. A restarted coordinator starts an
/// unfinished upload over (the hash of the bytes before is not kept).
public final class DatasetUploads {
  public let store: DatasetStore
  /// The largest dataset accepted, in bytes.
  public let maximumSize: Int
  private var inProgress: [SHA256Digest: (received: Int, hasher: StreamingSHA256)] = [:]

  /// The largest `upload` piece accepted (the client sends 4 MiB pieces).
  public static let maximumPiece = 4 << 20

  public init(store: DatasetStore, maximumSize: Int = 64 << 30) {
    self.store = store
    self.maximumSize = maximumSize
  }

  /// How much of `sha256` is held: all of it when stored, else what this process received.
  public func status(sha256: SHA256Digest, total: Int) throws -> (received: Int, complete: Bool) {
    try check(sha256: sha256, total: total)
    if store.contains(sha256) { return (total, true) }
    return (inProgress[sha256]?.received ?? 0, false)
  }

  /// Appends `data` at `offset`, which must be where the upload stands (0 starts it over). The last
  /// piece completes it: a hash that does not match is refused and the bytes are dropped.
  public func receive(sha256: SHA256Digest, total: Int, offset: Int, data: Data) throws -> (
    received: Int, complete: Bool
  ) {
    try check(sha256: sha256, total: total)
    guard data.count <= Self.maximumPiece else {
      throw TracError.invalidInput(
        "upload of dataset \(sha256.short): a piece of \(data.count) bytes; pieces are at most \(Self.maximumPiece)"
      )
    }
    let target = try store.url(for: sha256)
    if FileManager.default.fileExists(atPath: target.path) { return (total, true) }
    let partial = try store.root.path(".upload-\(sha256)")
    var state = inProgress[sha256] ?? (0, StreamingSHA256())
    if offset == 0 {
      state = (0, StreamingSHA256())
      try? FileManager.default.removeItem(at: partial)
      _ = FileManager.default.createFile(atPath: partial.path, contents: nil)
    }
    guard offset == state.received else {
      throw TracError.invalidInput(
        "upload of dataset \(sha256.short): a piece at byte \(offset), but \(state.received) bytes are held; "
          + "continue from there")
    }
    guard offset + data.count <= total else {
      throw TracError.invalidInput("upload of dataset \(sha256.short): more than its \(total) bytes")
    }
    let handle = try FileHandle(forWritingTo: partial)
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: data)
    state.received += data.count
    state.hasher.update(data)
    guard state.received == total else {
      inProgress[sha256] = state
      return (state.received, false)
    }
    inProgress[sha256] = nil
    try handle.synchronize()
    let digest = state.hasher.finalizeHex()
    guard digest == sha256.rawValue else {
      try? FileManager.default.removeItem(at: partial)
      throw TracError.invalidInput(
        "upload of dataset \(sha256.short) refused: its bytes hash to \(digest.prefix(12)), not to the sha256 given"
      )
    }
    try FileManager.default.moveItem(at: partial, to: target)
    return (total, true)
  }

  private func check(sha256: SHA256Digest, total: Int) throws {
    guard total > 0, total <= maximumSize else {
      throw TracError.invalidInput(
        "a dataset of \(total) bytes: the coordinator takes 1 byte to \(maximumSize)")
    }
  }
}
