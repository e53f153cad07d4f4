import Foundation

/// A file's SHA-256 as 64 lowercase hex digits: how datasets travel and are stored
/// (`datasets/<sha256>.hdf5`) and how result files are checked.
public struct SHA256Digest: ValidatedIdentifier {
  public static let kind = "sha256"
  public static let rule = "64 lowercase hexadecimal digits"
  public let rawValue: String

  public init(checked text: String) { rawValue = text }
  public static func isValid(_ text: String) -> Bool { IdentifierRules.isLowercaseHex(text, count: 64) }

  /// The first 12 digits, for messages.
  public var short: String { String(rawValue.prefix(12)) }
}

extension SHA256Digest {
  /// The digest of the file at `path`.
  public init(ofFileAt path: String) throws { self.init(checked: try sha256Hex(ofFileAt: path)) }

  /// The digest of `data`.
  public init(of data: Data) { self.init(checked: sha256Hex(data)) }
}
