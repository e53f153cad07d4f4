import CLibCrypto
import Foundation

/// SHA-256, computed by OpenSSL's libcrypto (which uses the CPU's SHA extensions where it has them):
/// the one place the project hashes. Run ids, BC stage ids, sweep ids and dataset hashes all come from here.
/// A reference: copies share one digest in progress.
public final class SHA256 {
  private let context: OpaquePointer
  private var finished = false

  public init() {
    guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
      fatalError("libcrypto cannot start a SHA-256 digest (out of memory)")
    }
    self.context = context
  }

  deinit { EVP_MD_CTX_free(context) }

  public func update(_ data: Data) {
    precondition(!finished, "SHA-256 updated after finalize")
    data.withUnsafeBytes { bytes in
      guard let base = bytes.baseAddress, bytes.count > 0 else { return }
      precondition(EVP_DigestUpdate(context, base, bytes.count) == 1, "libcrypto's SHA-256 update failed")
    }
  }

  /// The 32-byte digest; the hasher is spent.
  public func finalize() -> [UInt8] {
    precondition(!finished, "SHA-256 finalized twice")
    finished = true
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    precondition(
      EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32, "libcrypto's SHA-256 failed")
    return Array(digest.prefix(32))
  }

  /// The digest as 64 lowercase hex digits; the hasher is spent.
  public func finalizeHex() -> String { Self.hex(finalize()) }

  static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}

/// SHA-256 of a file, read in 4 MiB pieces so a large dataset is never held twice.
public func sha256Hex(ofFileAt path: String) throws -> String {
  guard let handle = FileHandle(forReadingAtPath: path) else {
    throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
  }
  defer { try? handle.close() }
  let hasher = SHA256()
  while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
    hasher.update(chunk)
  }
  return hasher.finalizeHex()
}

/// SHA-256 of bytes in memory, as 64 lowercase hex digits.
public func sha256Hex(_ data: Data) -> String {
  let hasher = SHA256()
  hasher.update(data)
  return hasher.finalizeHex()
}

/// The 16 hex digits (first 8 bytes) of SHA-256 that name a run, a BC stage or a kernel probe.
public func shortSHA256Hex(_ data: Data) -> String { String(sha256Hex(data).prefix(16)) }

/// SHA-256 fed piece by piece (a dataset arriving in chunks), as 64 lowercase hex digits at the end.
/// A reference, like `SHA256`.
public typealias StreamingSHA256 = SHA256
