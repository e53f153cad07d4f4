import Crypto
import Foundation

/// SHA-256 of a file, read in 4 MiB pieces so a large dataset is never held twice.
public func sha256Hex(ofFileAt path: String) throws -> String {
  guard let handle = FileHandle(forReadingAtPath: path) else {
    throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
  }
  defer { try? handle.close() }
  var hasher = SHA256()
  while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
    hasher.update(data: chunk)
  }
  return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

/// SHA-256 of bytes in memory, as 64 lowercase hex digits.
public func sha256Hex(_ data: Data) -> String {
  SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// SHA-256 fed piece by piece (a dataset arriving in chunks), as 64 lowercase hex digits at the end.
public struct StreamingSHA256 {
  private var hasher = SHA256()

  public init() {}

  public mutating func update(_ data: Data) { hasher.update(data: data) }

  public func finalizeHex() -> String { hasher.finalize().map { String(format: "%02x", $0) }.joined() }
}
