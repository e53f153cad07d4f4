import CZMQ
import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A CURVE key (Curve25519, as ZeroMQ's CurveZMQ uses it) in its Z85 text form: 40 characters.
public struct CurveKey: Hashable, Sendable, CustomStringConvertible {
  public let z85: String

  /// A Z85 string that decodes to 32 bytes; nil for anything else.
  public init?(z85: String) {
    guard z85.utf8.count == 40, Self.isZ85(z85) else { return nil }
    var bytes = [UInt8](repeating: 0, count: 32)
    guard zmq_z85_decode(&bytes, z85) != nil else { return nil }
    self.z85 = z85
  }

  /// The key from its 32 raw bytes (as a ZAP request carries a client's public key).
  public init?(bytes: Data) {
    guard bytes.count == 32 else { return nil }
    var text = [CChar](repeating: 0, count: 41)
    let encoded = bytes.withUnsafeBytes { raw in
      zmq_z85_encode(&text, raw.bindMemory(to: UInt8.self).baseAddress, 32)
    }
    guard encoded != nil else { return nil }
    z85 = String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  public var description: String { z85 }

  static let alphabet = Set(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

  static func isZ85(_ text: String) -> Bool { text.utf8.allSatisfy { alphabet.contains($0) } }
}

/// A CURVE key pair: what `trac-sweep keys generate` writes and a `--curve-secret` file holds.
public struct CurveKeyPair: Sendable, Equatable {
  public let publicKey: CurveKey
  public let secretKey: CurveKey

  /// Whether this libzmq was built with CURVE (Debian's is, through libsodium).
  public static var isAvailable: Bool { zmq_has("curve") == 1 }

  /// A fresh key pair from libzmq's `zmq_curve_keypair`.
  public static func generate() throws(CurveKeyError) -> CurveKeyPair {
    guard isAvailable else { throw .unavailable }
    var publicText = [CChar](repeating: 0, count: 41)
    var secretText = [CChar](repeating: 0, count: 41)
    guard zmq_curve_keypair(&publicText, &secretText) == 0,
      let publicKey = CurveKey(
        z85: String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)),
      let secretKey = CurveKey(
        z85: String(decoding: secretText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    else { throw .unavailable }
    return CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
  }

  /// The pair of a secret key, its public half derived (`zmq_curve_public`).
  public init(secretKey: CurveKey) throws(CurveKeyError) {
    var publicText = [CChar](repeating: 0, count: 41)
    guard zmq_curve_public(&publicText, secretKey.z85) == 0,
      let publicKey = CurveKey(
        z85: String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    else { throw .unavailable }
    self.init(publicKey: publicKey, secretKey: secretKey)
  }

  init(publicKey: CurveKey, secretKey: CurveKey) {
    self.publicKey = publicKey
    self.secretKey = secretKey
  }
}

/// Why a key could not be made, read or written; every case names the file.
public enum CurveKeyError: Error, Equatable, Sendable, CustomStringConvertible {
  case unavailable
  case unreadable(path: String, reason: String)
  case malformed(path: String, reason: String)
  case unprotected(path: String, mode: Int)
  case exists(path: String)
  case invalidName(String)
  case unwritable(path: String, reason: String)
  case incomplete(String)

  public var description: String {
    switch self {
    case .unavailable:
      return
        "this libzmq has no CURVE security (zmq_has(\"curve\") is false); install a libzmq built with libsodium"
    case .unreadable(let path, let reason): return "cannot read the key file \(path): \(reason)"
    case .malformed(let path, let reason): return "\(path) is not a trac-sweep key file: \(reason)"
    case .unprotected(let path, let mode):
      return "the secret key file \(path) can be read by other users (mode \(String(mode, radix: 8)));"
        + " run: chmod 600 \(path)"
    case .exists(let path): return "\(path) already exists; refusing to overwrite a key (remove it first)"
    case .invalidName(let name):
      return "key name '\(name)' must be letters, digits, '.', '_' or '-' and not start with '.'"
    case .unwritable(let path, let reason): return "cannot write \(path): \(reason)"
    case .incomplete(let detail): return detail
    }
  }
}

/// The key files (docs/PROTOCOL.md, "Security"): `NAME.key` holds `public-key = Z85` and
/// `secret-key = Z85` (mode 0600); `NAME.pub` holds `public-key = Z85`. Lines starting with `#` and
/// blank lines are ignored.
public enum CurveKeyFile {
  public static let secretExtension = "key"
  public static let publicExtension = "pub"

  /// Writes `NAME.key` (mode 0600) and `NAME.pub` in `directory`; refuses to overwrite either, and
  /// leaves neither behind when one cannot be written.
  @discardableResult
  public static func write(_ pair: CurveKeyPair, name: String, directory: URL) throws(CurveKeyError) -> (
    secret: URL, publicFile: URL
  ) {
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    guard !name.isEmpty, !name.hasPrefix("."), name.allSatisfy({ allowed.contains($0) }) else {
      throw .invalidName(name)
    }
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw .unwritable(path: directory.path, reason: error.localizedDescription)
    }
    let secretURL = directory.appendingPathComponent("\(name).\(secretExtension)")
    let publicURL = directory.appendingPathComponent("\(name).\(publicExtension)")
    for url in [secretURL, publicURL] where FileManager.default.fileExists(atPath: url.path) {
      throw .exists(path: url.path)
    }
    let secretText = """
      # trac-sweep CURVE key pair '\(name)'. This file holds the SECRET key: keep it private (mode 0600).
      # Give the coordinator (or the workers and clients) \(name).pub instead.
      public-key = \(pair.publicKey.z85)
      secret-key = \(pair.secretKey.z85)

      """
    let publicText = """
      # trac-sweep CURVE public key '\(name)'. Put it in the coordinator's --authorized-keys directory
      # (a worker's or client's key) or give it as --server-key (the coordinator's key).
      public-key = \(pair.publicKey.z85)

      """
    try create(secretURL, secretText, mode: 0o600)
    do throws(CurveKeyError) { try create(publicURL, publicText, mode: 0o644) } catch {
      try? FileManager.default.removeItem(at: secretURL)
      throw error
    }
    return (secretURL, publicURL)
  }

  /// Creates a new file (never an existing one) with `mode`, writes `text` and syncs it.
  private static func create(_ url: URL, _ text: String, mode: mode_t) throws(CurveKeyError) {
    let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard descriptor >= 0 else {
      if errno == EEXIST { throw .exists(path: url.path) }
      throw .unwritable(path: url.path, reason: String(cString: strerror(errno)))
    }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
    let synced = fsync(descriptor)
    close(descriptor)
    guard written == bytes.count, synced == 0 else {
      unlink(url.path)
      throw .unwritable(path: url.path, reason: "short write")
    }
  }

  private static func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
      Glibc.write(descriptor, bytes, count)
    #else
      Darwin.write(descriptor, bytes, count)
    #endif
  }

  /// Reads a secret key file (`--curve-secret`). It must not be readable by group or others, and its
  /// public key must be the secret key's.
  public static func readSecret(_ url: URL) throws(CurveKeyError) -> CurveKeyPair {
    let fields = try readFields(url)
    guard let secretText = fields["secret-key"] else {
      let hint = fields["public-key"] != nil ? " (this is a public key file: give the .key file)" : ""
      throw .malformed(path: url.path, reason: "no 'secret-key = ...' line\(hint)")
    }
    guard let secret = CurveKey(z85: secretText) else {
      throw .malformed(path: url.path, reason: "the secret key is not 40 Z85 characters")
    }
    var info = stat()
    if stat(url.path, &info) == 0, info.st_mode & 0o077 != 0 {
      throw .unprotected(path: url.path, mode: Int(info.st_mode & 0o777))
    }
    let pair = try CurveKeyPair(secretKey: secret)
    if let publicText = fields["public-key"], publicText != pair.publicKey.z85 {
      throw .malformed(path: url.path, reason: "its public key is not the secret key's public key")
    }
    return pair
  }

  /// Reads a public key file (`--server-key`, or one of `--authorized-keys`).
  public static func readPublic(_ url: URL) throws(CurveKeyError) -> CurveKey {
    let fields = try readFields(url)
    guard let text = fields["public-key"] else {
      throw .malformed(path: url.path, reason: "no 'public-key = ...' line")
    }
    guard let key = CurveKey(z85: text) else {
      throw .malformed(path: url.path, reason: "the public key is not 40 Z85 characters")
    }
    return key
  }

  /// `name = value` lines; comments and blank lines skipped, anything else is malformed.
  static func readFields(_ url: URL) throws(CurveKeyError) -> [String: String] {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      let reason =
        FileManager.default.fileExists(atPath: url.path) ? error.localizedDescription : "no such file"
      throw .unreadable(path: url.path, reason: reason)
    }
    guard data.count <= 64 << 10 else { throw .malformed(path: url.path, reason: "larger than 64 KiB") }
    guard let text = String(data: data, encoding: .utf8) else {
      throw .malformed(path: url.path, reason: "not UTF-8 text")
    }
    var fields: [String: String] = [:]
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
      if line.isEmpty || line.hasPrefix("#") { continue }
      guard let equals = line.firstIndex(of: "=") else {
        throw .malformed(path: url.path, reason: "line \(index + 1) is not 'name = value'")
      }
      let name = line[..<equals].trimmingCharacters(in: .whitespaces)
      let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
      guard name == "public-key" || name == "secret-key" else {
        throw .malformed(path: url.path, reason: "line \(index + 1): unknown field '\(name.prefix(40))'")
      }
      guard fields[name] == nil else {
        throw .malformed(path: url.path, reason: "line \(index + 1): '\(name)' given twice")
      }
      fields[name] = value
    }
    return fields
  }

  /// Every `*.pub` file in `directory`, by public key; the value is the file's name without `.pub`.
  public static func readAuthorized(_ directory: URL) throws(CurveKeyError) -> [CurveKey: String] {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
      throw .unreadable(path: directory.path, reason: "not a readable directory")
    }
    var keys: [CurveKey: String] = [:]
    for name in names.sorted() where name.hasSuffix(".\(publicExtension)") && !name.hasPrefix(".") {
      let key = try readPublic(directory.appendingPathComponent(name))
      keys[key] = keys[key] ?? String(name.dropLast(publicExtension.count + 1))
    }
    return keys
  }
}
