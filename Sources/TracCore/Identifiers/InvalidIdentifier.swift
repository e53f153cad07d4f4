/// An identifier that does not follow its rule: refused where it enters (the wire, a file, the
/// command line), before any other code sees it.
public struct InvalidIdentifier: Error, Equatable, Sendable, CustomStringConvertible {
  /// What the value should have been: "run id", "worker id", ...
  public let kind: String
  /// The value as received, made safe for one log line (control characters escaped, truncated).
  public let value: String
  /// The rule it broke, in words: "16 lowercase hexadecimal digits".
  public let rule: String

  public init(kind: String, value: String, rule: String) {
    self.kind = kind
    self.value = IdentifierRules.printable(value)
    self.rule = rule
  }

  public var description: String { "invalid \(kind) \"\(value)\": must be \(rule)" }
}

/// The character rules identifiers share.
enum IdentifierRules {
  static func isLowercaseHex(_ text: String, count: Int) -> Bool {
    text.utf8.count == count
      && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
  }

  /// 1 to `maxLength` ASCII letters, digits, `.`, `_` or `-`, starting with a letter or digit: safe as
  /// a file name (never `.`, `..` or hidden), a log field and a ZeroMQ routing id.
  static func isPlainName(_ text: String, maxLength: Int) -> Bool {
    let bytes = Array(text.utf8)
    guard (1...maxLength).contains(bytes.count), isAlphanumeric(bytes[0]) else { return false }
    return bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
  }

  static func isAlphanumeric(_ byte: UInt8) -> Bool {
    (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
  }

  /// `text` escaped for a message: control and non-ASCII characters as `\u{..}`, at most 80 characters.
  static func printable(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
      if result.count >= 80 {
        result += "..."
        break
      }
      if scalar.isASCII && scalar.value >= 0x20 && scalar.value < 0x7F {
        result.unicodeScalars.append(scalar)
      } else {
        result += scalar.escaped(asASCII: true)
      }
    }
    return result
  }
}

/// What every validated identifier shares: made only from a string that follows its rule, coded as
/// that string, so a decoder refuses a bad value with the rule in its error.
public protocol ValidatedIdentifier: RawRepresentable<String>, Hashable, Comparable, Sendable, Codable,
  CustomStringConvertible
{
  /// "run id", "worker id", ...
  static var kind: String { get }
  /// The rule in words, for errors.
  static var rule: String { get }
  static func isValid(_ text: String) -> Bool
  /// Only for a value already checked with `isValid`.
  init(checked text: String)
}

extension ValidatedIdentifier {
  /// The identifier `text` names; refused with the rule it breaks.
  public init(_ text: String) throws(InvalidIdentifier) {
    guard Self.isValid(text) else { throw InvalidIdentifier(kind: Self.kind, value: text, rule: Self.rule) }
    self.init(checked: text)
  }

  public init?(rawValue: String) {
    guard Self.isValid(rawValue) else { return nil }
    self.init(checked: rawValue)
  }

  public var description: String { rawValue }
  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    do {
      try self.init(text)
    } catch {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: error.description, underlyingError: error))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}
