/// A grid file that cannot be used: the JSON path of the bad value and what is wrong with it, e.g.
/// `$.vary.alpha[1]: the temperature must be positive, got 0.0`.
public struct GridError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Where the bad value is: `$` is the whole file, `$.base.x` a key, `$.seeds[0]` an element of a list.
  public let path: String
  /// What is wrong, in words a user can act on.
  public let message: String

  public init(path: String, message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { "\(path): \(message)" }
}

/// A JSON path under construction, in the notation of `GridError.path`.
struct GridPath: Hashable, Sendable, CustomStringConvertible {
  let description: String

  static let root = GridPath(description: "$")

  private init(description: String) {
    self.description = description
  }

  /// `$.base.x` for a plain key; `$.base["odd key"]` for one that is not an identifier.
  func key(_ key: String) -> GridPath {
    let isIdentifier =
      !key.isEmpty && !key.first!.isNumber
      && key.unicodeScalars.allSatisfy {
        $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
      }
    if isIdentifier { return GridPath(description: "\(description).\(key)") }
    return GridPath(description: "\(description)[\(GridPath.quote(key))]")
  }

  func index(_ index: Int) -> GridPath {
    GridPath(description: "\(description)[\(index)]")
  }

  func error(_ message: String) -> GridError {
    GridError(path: description, message: message)
  }

  /// A string as a JSON string literal, for paths and messages.
  static func quote(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\t": result += "\\t"
      case "\r": result += "\\r"
      case _ where scalar.value < 0x20:
        result +=
          "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
          + String(scalar.value, radix: 16)
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}
