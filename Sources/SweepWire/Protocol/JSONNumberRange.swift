import Foundation

/// Finds a number no field can hold in a JSON body that JSONDecoder refused as a whole, so that the
/// `error` names its field (`$.slots`) instead of the body (`$`). Only used on the error path.
enum JSONNumberRange {
  /// The JSON path of the first number in `body` beyond a 64-bit signed integer (an integer literal)
  /// or a finite double (any other number); nil when there is none, or the body does not scan.
  static func firstOutOfRange(in body: Data) -> String? {
    body.withUnsafeBytes { raw -> String? in
      var scanner = Scanner(bytes: raw.bindMemory(to: UInt8.self))
      return scanner.value(path: "$", depth: 0)
    }
  }

  /// Whether `text`, a JSON number, fits the field types a body has.
  static func fits(_ text: String) -> Bool {
    if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
      return Double(text).map(\.isFinite) ?? false
    }
    return Int64(text) != nil
  }

  private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Set when the body does not scan: the search stops.
    var failed = false

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpace() {
      while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    mutating func value(path: String, depth: Int) -> String? {
      skipSpace()
      guard depth < 64, let byte = current else {
        failed = true
        return nil
      }
      switch byte {
      case UInt8(ascii: "{"): return object(path: path, depth: depth)
      case UInt8(ascii: "["): return array(path: path, depth: depth)
      case UInt8(ascii: "\""):
        if string() == nil { failed = true }
        return nil
      default:
        let start = index
        while let next = current, !Self.ends(next) { index += 1 }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if ["true", "false", "null"].contains(text) { return nil }
        guard let first = text.first, first == "-" || first.isNumber else {
          failed = true
          return nil
        }
        return fits(text) ? nil : path
      }
    }

    mutating func object(path: String, depth: Int) -> String? {
      index += 1
      skipSpace()
      if current == UInt8(ascii: "}") {
        index += 1
        return nil
      }
      while !failed {
        skipSpace()
        guard current == UInt8(ascii: "\""), let key = string() else { break }
        skipSpace()
        guard current == UInt8(ascii: ":") else { break }
        index += 1
        if let found = value(path: path + "." + loggable(key, limit: 64), depth: depth + 1) { return found }
        skipSpace()
        if current == UInt8(ascii: ",") {
          index += 1
          continue
        }
        if current == UInt8(ascii: "}") {
          index += 1
          return nil
        }
        break
      }
      failed = true
      return nil
    }

    mutating func array(path: String, depth: Int) -> String? {
      index += 1
      skipSpace()
      if current == UInt8(ascii: "]") {
        index += 1
        return nil
      }
      var count = 0
      while !failed {
        if let found = value(path: "\(path)[\(count)]", depth: depth + 1) { return found }
        count += 1
        skipSpace()
        if current == UInt8(ascii: ",") {
          index += 1
          continue
        }
        if current == UInt8(ascii: "]") {
          index += 1
          return nil
        }
        break
      }
      failed = true
      return nil
    }

    /// A string's text (escapes kept as written: it only names a key); nil when it does not end.
    mutating func string() -> String? {
      index += 1
      let start = index
      while let byte = current {
        if byte == UInt8(ascii: "\"") {
          let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
          index += 1
          return text
        }
        index += byte == UInt8(ascii: "\\") ? 2 : 1
      }
      return nil
    }

    static func ends(_ byte: UInt8) -> Bool {
      byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == 0x20
        || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
  }
}
