import Foundation

// MARK: - Reading JSON

/// A JSON value that keeps what `JSONSerialization` loses: the order of an object's keys (the order
/// of `vary` is the order of the points) and a number's literal (seeds are exact 64-bit integers).
indirect enum GridJSON {
  case object([(key: String, value: GridJSON)])
  case array([GridJSON])
  case string(String)
  case number(literal: String, value: Double)
  case bool(Bool)
  case null

  var isArray: Bool {
    if case .array = self { return true }
    return false
  }

  /// For messages: "a list", "the number 0.5".
  var kindDescription: String {
    switch self {
    case .object: return "an object"
    case .array: return "a list"
    case .string(let text):
      return "the string \(GridPath.quote(text.count > 80 ? String(text.prefix(80)) + "..." : text))"
    case .number(let literal, _): return "the number \(literal)"
    case .bool(let truth): return "\(truth)"
    case .null: return "null"
    }
  }

  /// Compact JSON, for `differences(from:)`.
  var rendered: String {
    switch self {
    case .object(let members):
      return "{" + members.map { "\(GridPath.quote($0.key)): \($0.value.rendered)" }.joined(separator: ", ")
        + "}"
    case .array(let elements): return "[" + elements.map(\.rendered).joined(separator: ", ") + "]"
    case .string(let text): return GridPath.quote(text)
    case .number(let literal, _): return literal
    case .bool(let truth): return "\(truth)"
    case .null: return "null"
    }
  }
}

/// A strict JSON (RFC 8259) reader that reports where it stopped as a JSON path plus line and column,
/// and refuses duplicate keys. Nesting is limited so a hostile file cannot overflow the stack.
struct GridJSONReader {
  private static let maximumDepth = 64

  private let bytes: [UInt8]
  private var offset = 0

  private init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  static func read(_ data: Data) throws(GridError) -> GridJSON {
    var reader = GridJSONReader(bytes: [UInt8](data))
    if reader.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.offset = 3 }  // a UTF-8 byte order mark
    reader.skipWhitespace()
    let value = try reader.readValue(at: .root, depth: 0)
    reader.skipWhitespace()
    guard reader.offset == reader.bytes.count else {
      throw reader.syntaxError("unexpected text after the end of the JSON value", at: .root)
    }
    return value
  }

  private var next: UInt8? { offset < bytes.count ? bytes[offset] : nil }

  private mutating func skipWhitespace() {
    while let byte = next, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
  }

  private func syntaxError(_ problem: String, at path: GridPath) -> GridError {
    var line = 1
    var column = 1
    for byte in bytes[..<min(offset, bytes.count)] {
      if byte == 0x0A {
        line += 1
        column = 1
      } else if byte & 0xC0 != 0x80 {  // count characters, not UTF-8 continuation bytes
        column += 1
      }
    }
    return path.error("not valid JSON: \(problem) (line \(line), column \(column))")
  }

  private func describeNext() -> String {
    guard let byte = next else { return "the end of the file" }
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    return "the byte 0x\(String(byte, radix: 16))"
  }

  private mutating func readValue(at path: GridPath, depth: Int) throws(GridError) -> GridJSON {
    guard depth < Self.maximumDepth else {
      throw syntaxError("nested more than \(Self.maximumDepth) levels deep", at: path)
    }
    guard let byte = next else { throw syntaxError("expected a value, found the end of the file", at: path) }
    switch byte {
    case UInt8(ascii: "{"): return try readObject(at: path, depth: depth)
    case UInt8(ascii: "["): return try readArray(at: path, depth: depth)
    case UInt8(ascii: "\""): return .string(try readString(at: path))
    case UInt8(ascii: "t"):
      try readWord("true", at: path)
      return .bool(true)
    case UInt8(ascii: "f"):
      try readWord("false", at: path)
      return .bool(false)
    case UInt8(ascii: "n"):
      try readWord("null", at: path)
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try readNumber(at: path)
    default: throw syntaxError("expected a value, found \(describeNext())", at: path)
    }
  }

  private mutating func readObject(at path: GridPath, depth: Int) throws(GridError) -> GridJSON {
    offset += 1  // {
    skipWhitespace()
    var members: [(key: String, value: GridJSON)] = []
    var keys = Set<String>()
    if next == UInt8(ascii: "}") {
      offset += 1
      return .object(members)
    }
    while true {
      guard next == UInt8(ascii: "\"") else {
        throw syntaxError("expected a key in double quotes, found \(describeNext())", at: path)
      }
      let key = try readString(at: path)
      let memberPath = path.key(key)
      guard keys.insert(key).inserted else {
        throw memberPath.error("the key appears twice in the same object")
      }
      skipWhitespace()
      guard next == UInt8(ascii: ":") else {
        throw syntaxError("expected ':' after the key, found \(describeNext())", at: memberPath)
      }
      offset += 1
      skipWhitespace()
      members.append((key, try readValue(at: memberPath, depth: depth + 1)))
      skipWhitespace()
      switch next {
      case UInt8(ascii: ","):
        offset += 1
        skipWhitespace()
      case UInt8(ascii: "}"):
        offset += 1
        return .object(members)
      default:
        throw syntaxError("expected ',' or '}' after a value, found \(describeNext())", at: memberPath)
      }
    }
  }

  private mutating func readArray(at path: GridPath, depth: Int) throws(GridError) -> GridJSON {
    offset += 1  // [
    skipWhitespace()
    var elements: [GridJSON] = []
    if next == UInt8(ascii: "]") {
      offset += 1
      return .array(elements)
    }
    while true {
      let elementPath = path.index(elements.count)
      elements.append(try readValue(at: elementPath, depth: depth + 1))
      skipWhitespace()
      switch next {
      case UInt8(ascii: ","):
        offset += 1
        skipWhitespace()
      case UInt8(ascii: "]"):
        offset += 1
        return .array(elements)
      default:
        throw syntaxError("expected ',' or ']' after a value, found \(describeNext())", at: elementPath)
      }
    }
  }

  private mutating func readString(at path: GridPath) throws(GridError) -> String {
    offset += 1  // "
    var utf8: [UInt8] = []
    while true {
      guard let byte = next else { throw syntaxError("a string is not closed", at: path) }
      offset += 1
      switch byte {
      case UInt8(ascii: "\""):
        let text = String(decoding: utf8, as: UTF8.self)
        guard text.utf8.elementsEqual(utf8) else {
          throw syntaxError("a string is not valid UTF-8", at: path)
        }
        return text
      case UInt8(ascii: "\\"):
        guard let escape = next else { throw syntaxError("a string is not closed", at: path) }
        offset += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
          utf8.append(contentsOf: String(Character(try readUnicodeEscape(at: path))).utf8)
        default:
          offset -= 1
          throw syntaxError("unknown escape '\\' followed by \(describeNext()) in a string", at: path)
        }
      case 0..<0x20:
        offset -= 1
        throw syntaxError("a control character in a string must be escaped", at: path)
      default:
        utf8.append(byte)
      }
    }
  }

  /// After `\u`: four hex digits, or a surrogate pair written as two escapes.
  private mutating func readUnicodeEscape(at path: GridPath) throws(GridError) -> Unicode.Scalar {
    let first = try readHexQuad(at: path)
    var value = UInt32(first)
    if (0xD800..<0xDC00).contains(first) {
      guard next == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u")
      else {
        throw syntaxError("a \\u escape starts a surrogate pair that is not completed", at: path)
      }
      offset += 2
      let second = try readHexQuad(at: path)
      guard (0xDC00..<0xE000).contains(second) else {
        throw syntaxError("a \\u escape starts a surrogate pair that is not completed", at: path)
      }
      value = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
    }
    guard let scalar = Unicode.Scalar(value) else {
      throw syntaxError("a \\u escape names a lone surrogate", at: path)
    }
    return scalar
  }

  private mutating func readHexQuad(at path: GridPath) throws(GridError) -> UInt16 {
    guard offset + 4 <= bytes.count,
      let value = UInt16(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16),
      bytes[offset..<offset + 4].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
    else {
      throw syntaxError("\\u must be followed by four hex digits", at: path)
    }
    offset += 4
    return value
  }

  private mutating func readWord(_ word: String, at path: GridPath) throws(GridError) {
    guard bytes[offset...].starts(with: word.utf8) else {
      throw syntaxError("expected a value, found \(describeNext())", at: path)
    }
    offset += word.utf8.count
  }

  private mutating func readNumber(at path: GridPath) throws(GridError) -> GridJSON {
    func isDigit(_ byte: UInt8?) -> Bool { byte.map { (0x30...0x39).contains($0) } ?? false }
    let start = offset
    if next == UInt8(ascii: "-") { offset += 1 }
    guard isDigit(next) else { throw syntaxError("expected a digit, found \(describeNext())", at: path) }
    if next == UInt8(ascii: "0") {
      offset += 1
    } else {
      while isDigit(next) { offset += 1 }
    }
    if next == UInt8(ascii: ".") {
      offset += 1
      guard isDigit(next) else {
        throw syntaxError("expected a digit after '.', found \(describeNext())", at: path)
      }
      while isDigit(next) { offset += 1 }
    }
    if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
      offset += 1
      if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { offset += 1 }
      guard isDigit(next) else {
        throw syntaxError("expected a digit in the exponent, found \(describeNext())", at: path)
      }
      while isDigit(next) { offset += 1 }
    }
    let literal = String(decoding: bytes[start..<offset], as: UTF8.self)
    guard let value = Double(literal), value.isFinite else {
      throw path.error("the number \(literal) is too large")
    }
    return .number(literal: literal, value: value)
  }
}

// MARK: - Decoding helpers

/// A value of the file and where it is.
struct GridValue {
  let json: GridJSON
  let path: GridPath

  func typeError(_ expected: String) -> GridError {
    path.error("must be \(expected), got \(json.kindDescription)")
  }

  func string() throws(GridError) -> String {
    guard case .string(let text) = json else { throw typeError("a string") }
    return text
  }

  /// The case of `Choice` this string names; an unknown one is refused with the cases it could be.
  func choice<Choice: RawRepresentable & CaseIterable>(of _: Choice.Type, named what: String)
    throws(GridError) -> Choice where Choice.RawValue == String
  {
    let text = try string()
    guard let value = Choice(rawValue: text) else {
      let known = Choice.allCases.map(\.rawValue).joined(separator: ", ")
      throw path.error("unknown \(what) \(GridPath.quote(text)); expected one of: \(known)")
    }
    return value
  }

  func nonEmptyString() throws(GridError) -> String {
    let text = try string()
    guard !text.isEmpty else { throw path.error("must not be empty") }
    return text
  }

  /// A finite number (the reader refuses the rest).
  func number() throws(GridError) -> Double {
    guard case .number(_, let value) = json else { throw typeError("a number") }
    return value + 0  // -0 becomes 0, so that it has one canonical form
  }

  /// An integer written as one (`30000`), or as a whole number another way (`3e4`).
  func integer() throws(GridError) -> Int {
    guard case .number(let literal, let value) = json else { throw typeError("an integer") }
    if let exact = Int(literal) { return exact }
    guard value == value.rounded() else { throw path.error("must be a whole number, got \(literal)") }
    guard abs(value) < 9_007_199_254_740_992 else { throw path.error("the number \(literal) is too large") }
    return Int(value)
  }

  func unsignedInteger() throws(GridError) -> UInt64 {
    guard case .number(let literal, let value) = json else { throw typeError("a non-negative integer") }
    if let exact = UInt64(literal) { return exact }
    guard value == value.rounded() else { throw path.error("must be a whole number, got \(literal)") }
    guard value >= 0 else { throw path.error("must not be negative, got \(literal)") }
    guard value < 9_007_199_254_740_992 else { throw path.error("the number \(literal) is too large") }
    return UInt64(value)
  }

  /// The elements of a non-empty list; with `allowingSingle`, a lone value is a list of one.
  func list(of what: String, ifEmpty: String, allowingSingle: Bool = false) throws(GridError) -> [GridValue] {
    switch json {
    case .array(let elements):
      guard !elements.isEmpty else { throw path.error(ifEmpty) }
      return elements.enumerated().map { GridValue(json: $0.element, path: path.index($0.offset)) }
    default:
      if allowingSingle { return [self] }
      throw typeError("a list of \(what)")
    }
  }
}

/// An object of the file whose keys have been checked against the ones allowed there.
struct GridObject {
  /// In the file's order.
  let members: [(key: String, value: GridValue)]
  let path: GridPath

  init(_ value: GridValue, allowedKeys: [String], describing what: String) throws(GridError) {
    guard case .object(let list) = value.json else {
      throw value.path.error("\(what) must be a JSON object, got \(value.json.kindDescription)")
    }
    for member in list where !allowedKeys.contains(member.key) {
      var message = "unknown key"
      if let guess = allowedKeys.min(by: { editDistance($0, member.key) < editDistance($1, member.key) }),
        editDistance(guess, member.key) <= 2
      {
        message += " (did you mean \(GridPath.quote(guess))?)"
      }
      throw value.path.key(member.key).error(
        "\(message); the keys of \(what) are: \(allowedKeys.joined(separator: ", "))")
    }
    members = list.map { ($0.key, GridValue(json: $0.value, path: value.path.key($0.key))) }
    path = value.path
  }

  func optional(_ key: String) -> GridValue? {
    members.first { $0.key == key }?.value
  }

  func required(_ key: String, _ expected: String) throws(GridError) -> GridValue {
    guard let value = optional(key) else {
      throw path.key(key).error("is required: \(expected)")
    }
    return value
  }
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
func editDistance(_ first: String, _ second: String) -> Int {
  let first = Array(first)
  let second = Array(second)
  var previous = Array(0...second.count)
  for (i, firstCharacter) in first.enumerated() {
    var current = [i + 1]
    for (j, secondCharacter) in second.enumerated() {
      current.append(
        min(previous[j + 1] + 1, current[j] + 1, previous[j] + (firstCharacter == secondCharacter ? 0 : 1)))
    }
    previous = current
  }
  return previous[second.count]
}
