import Foundation
import TracCore

/// A hand-written JSON reader and writer for the messages sent many times a second (heartbeat, pong,
/// ack, result, the attempt of an assign): Foundation's JSONEncoder and JSONDecoder cost tens of
/// microseconds a message, which a coordinator of thousands of workers cannot afford.
///
/// Both directions are a fast path only. The writer handles the bodies whose strings need no escaping
/// and gives exactly the bytes `JSONCodec.canonicalEncoder` would; the reader handles plain, well-formed
/// bodies with exactly the fields of the type (unknown or missing fields, escapes, non-ASCII text,
/// fractions...) and gives exactly the value `JSONDecoder` would. Anything else returns nil and goes the
/// Codable way, so that odd but valid bodies are read the same and malformed ones get the same errors.
enum FastJSON {
  indirect enum Value: Equatable {
    case string(String)
    /// The number's text, as it appears in the body.
    case number(String)
    case bool(Bool)
    case null
    case array([Value])
    case object([String: Value])

    var string: String? {
      if case .string(let value) = self { return value }
      return nil
    }

    var bool: Bool? {
      if case .bool(let value) = self { return value }
      return nil
    }

    var object: [String: Value]? {
      if case .object(let value) = self { return value }
      return nil
    }

    var array: [Value]? {
      if case .array(let value) = self { return value }
      return nil
    }

    /// An integer written plainly (`-?[0-9]+`, no leading zero, at most 18 digits).
    var int: Int? {
      guard case .number(let text) = self else { return nil }
      var digits = Substring(text)
      let negative = digits.first == "-"
      if negative { digits = digits.dropFirst() }
      guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
        digits.count == 1 || digits.first != "0", let value = Int(digits)
      else { return nil }
      return negative ? -value : value
    }
  }

  // MARK: Reading

  /// The body as an object, or nil if it is not plain JSON this reader handles.
  static func parseObject(_ body: Data) -> [String: Value]? {
    body.withUnsafeBytes { raw -> [String: Value]? in
      var reader = Reader(bytes: raw.bindMemory(to: UInt8.self))
      guard let value = reader.value(depth: 0) else { return nil }
      reader.skipSpace()
      guard reader.index == reader.bytes.count else { return nil }
      return value.object
    }
  }

  private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    mutating func skipSpace() {
      while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
    }

    mutating func expect(_ literal: StaticString) -> Bool {
      let count = literal.utf8CodeUnitCount
      guard index + count <= bytes.count else { return false }
      for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
      index += count
      return true
    }

    mutating func value(depth: Int) -> Value? {
      guard depth < 32 else { return nil }
      skipSpace()
      guard index < bytes.count else { return nil }
      switch bytes[index] {
      case UInt8(ascii: "{"): return object(depth: depth)
      case UInt8(ascii: "["): return array(depth: depth)
      case UInt8(ascii: "\""): return string().map(Value.string)
      case UInt8(ascii: "t"): return expect("true") ? .bool(true) : nil
      case UInt8(ascii: "f"): return expect("false") ? .bool(false) : nil
      case UInt8(ascii: "n"): return expect("null") ? .null : nil
      default: return number()
      }
    }

    mutating func object(depth: Int) -> Value? {
      index += 1
      var fields: [String: Value] = [:]
      skipSpace()
      if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
        index += 1
        return .object(fields)
      }
      while true {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        // A key given twice: leave it to JSONDecoder.
        guard let value = value(depth: depth + 1), fields.updateValue(value, forKey: key) == nil else {
          return nil
        }
        skipSpace()
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: ",") {
          index += 1
          continue
        }
        guard bytes[index] == UInt8(ascii: "}") else { return nil }
        index += 1
        return .object(fields)
      }
    }

    mutating func array(depth: Int) -> Value? {
      index += 1
      var items: [Value] = []
      skipSpace()
      if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
        index += 1
        return .array(items)
      }
      while true {
        guard let item = value(depth: depth + 1) else { return nil }
        items.append(item)
        skipSpace()
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: ",") {
          index += 1
          continue
        }
        guard bytes[index] == UInt8(ascii: "]") else { return nil }
        index += 1
        return .array(items)
      }
    }

    /// A string of printable ASCII without escapes; anything else is left to JSONDecoder.
    mutating func string() -> String? {
      index += 1
      let start = index
      while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "\"") {
          let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
          index += 1
          return text
        }
        guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
        index += 1
      }
      return nil
    }

    mutating func number() -> Value? {
      let start = index
      while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
      guard index > start else { return nil }
      return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
    }

    static func isNumberByte(_ byte: UInt8) -> Bool {
      (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
        || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
        || byte == UInt8(ascii: "E")
    }
  }

  /// The fields of `object` when it has exactly `keys`, in the order given; nil otherwise.
  static func fields(_ object: [String: Value], _ keys: [String]) -> [Value]? {
    guard object.count == keys.count else { return nil }
    var values: [Value] = []
    values.reserveCapacity(keys.count)
    for key in keys {
      guard let value = object[key] else { return nil }
      values.append(value)
    }
    return values
  }

  // MARK: Writing

  /// Appends JSON text with sorted keys and no whitespace, as the canonical encoder writes it.
  struct Writer {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(128) }

    mutating func raw(_ text: StaticString) {
      bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Writes `value` quoted; false (and nothing sensible written) if it needs escaping.
    mutating func string(_ value: String) -> Bool {
      bytes.append(UInt8(ascii: "\""))
      for byte in value.utf8 {
        guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") else {
          return false
        }
        bytes.append(byte)
      }
      bytes.append(UInt8(ascii: "\""))
      return true
    }

    mutating func int(_ value: Int) { bytes.append(contentsOf: String(value).utf8) }

    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    /// `{"attempt":N,"run_id":"..."}`
    mutating func attempt(_ attempt: AttemptID) -> Bool {
      raw(#"{"attempt":"#)
      int(attempt.number)
      raw(#","run_id":"#)
      guard string(attempt.run.rawValue) else { return false }
      raw("}")
      return true
    }

    mutating func attempts(_ list: [AttemptID]) -> Bool {
      raw("[")
      for (index, attempt) in list.enumerated() {
        if index > 0 { raw(",") }
        guard self.attempt(attempt) else { return false }
      }
      raw("]")
      return true
    }

    var data: Data { Data(bytes) }
  }

  /// An attempt whose run id and number follow their rules; nil otherwise (the Codable path then
  /// names the bad field).
  static func attempt(_ value: Value) -> AttemptID? {
    guard let object = value.object, let fields = fields(object, ["attempt", "run_id"]),
      let number = fields[0].int, let runText = fields[1].string, let run = RunID(rawValue: runText)
    else { return nil }
    return try? AttemptID(run: run, number: number)
  }

  static func attempts(_ value: Value) -> [AttemptID]? {
    guard let items = value.array else { return nil }
    var list: [AttemptID] = []
    list.reserveCapacity(items.count)
    for item in items {
      guard let attempt = attempt(item) else { return nil }
      list.append(attempt)
    }
    return list
  }
}

/// A body with a fast path to JSON: nil means "use the Codable encoder".
protocol FastEncodable {
  func fastJSON() -> Data?
}

/// A body with a fast path from JSON: nil means "use the Codable decoder".
protocol FastDecodable {
  static func fastDecode(_ object: [String: FastJSON.Value]) -> Self?
}

extension Heartbeat: FastEncodable, FastDecodable {
  func fastJSON() -> Data? {
    // The rare heartbeat with progress goes the Codable way (and so is read back that way too).
    guard progress == nil else { return nil }
    var writer = FastJSON.Writer()
    writer.raw(#"{"running":"#)
    guard writer.attempts(running) else { return nil }
    writer.raw(#","worker_id":"#)
    guard writer.string(workerID.rawValue) else { return nil }
    writer.raw("}")
    return writer.data
  }

  static func fastDecode(_ object: [String: FastJSON.Value]) -> Heartbeat? {
    guard let fields = FastJSON.fields(object, ["worker_id", "running"]), let workerText = fields[0].string,
      let workerID = WorkerID(rawValue: workerText),
      let running = FastJSON.attempts(fields[1])
    else { return nil }
    return Heartbeat(workerID: workerID, running: running)
  }
}

extension Pong: FastEncodable, FastDecodable {
  func fastJSON() -> Data? { Data((known ? #"{"known":true}"# : #"{"known":false}"#).utf8) }

  static func fastDecode(_ object: [String: FastJSON.Value]) -> Pong? {
    guard let fields = FastJSON.fields(object, ["known"]), let known = fields[0].bool else { return nil }
    return Pong(known: known)
  }
}

extension Ack: FastEncodable, FastDecodable {
  /// The common ack; one that carries a rejection goes through the Codable encoder.
  func fastJSON() -> Data? {
    guard rejected == nil else { return nil }
    var writer = FastJSON.Writer()
    writer.raw(#"{"attempt":"#)
    guard writer.attempt(attempt) else { return nil }
    writer.raw(#","duplicate":"#)
    writer.bool(duplicate)
    writer.raw("}")
    return writer.data
  }

  static func fastDecode(_ object: [String: FastJSON.Value]) -> Ack? {
    guard let fields = FastJSON.fields(object, ["attempt", "duplicate"]),
      let attempt = FastJSON.attempt(fields[0]), let duplicate = fields[1].bool
    else { return nil }
    return Ack(attempt: attempt, duplicate: duplicate)
  }
}

extension Cancel: FastEncodable {
  func fastJSON() -> Data? {
    var writer = FastJSON.Writer()
    writer.raw(#"{"attempt":"#)
    guard writer.attempt(attempt) else { return nil }
    writer.raw("}")
    return writer.data
  }
}

extension ResultMessage: FastEncodable, FastDecodable {
  func fastJSON() -> Data? {
    var writer = FastJSON.Writer()
    writer.raw(#"{"attempt":"#)
    guard writer.attempt(attempt) else { return nil }
    if let exitStatus {
      writer.raw(#","exit_status":"#)
      writer.int(Int(exitStatus))
    }
    writer.raw(#","files":["#)
    for (index, file) in files.enumerated() {
      writer.raw(index == 0 ? #"{"name":"# : #",{"name":"#)
      guard writer.string(file.name.rawValue) else { return nil }
      writer.raw(#","sha256":"#)
      guard writer.string(file.sha256.rawValue) else { return nil }
      writer.raw(#","size":"#)
      writer.int(file.size)
      writer.raw("}")
    }
    writer.raw(#"],"outcome":"#)
    guard writer.string(outcome.rawValue) else { return nil }
    writer.raw(#","stderr_tail":"#)
    guard writer.string(stderrTail) else { return nil }
    writer.raw(#","worker_id":"#)
    guard writer.string(workerID.rawValue) else { return nil }
    writer.raw("}")
    return writer.data
  }

  static func fastDecode(_ object: [String: FastJSON.Value]) -> ResultMessage? {
    // `exit_status` is optional: absent, or null, is nil.
    let keys =
      object["exit_status"] == nil
      ? ["worker_id", "attempt", "outcome", "stderr_tail", "files"]
      : ["worker_id", "attempt", "outcome", "stderr_tail", "files", "exit_status"]
    guard let fields = FastJSON.fields(object, keys), let workerText = fields[0].string,
      let workerID = WorkerID(rawValue: workerText),
      let attempt = FastJSON.attempt(fields[1]),
      let outcome = fields[2].string.flatMap({ TrainerOutcome(rawValue: $0) }),
      let stderrTail = fields[3].string, let fileItems = fields[4].array
    else { return nil }
    var exitStatus: Int32?
    if fields.count == 6, fields[5] != .null {
      guard let value = fields[5].int, let narrow = Int32(exactly: value) else { return nil }
      exitStatus = narrow
    }
    var files: [FileInfo] = []
    for item in fileItems {
      guard let file = item.object, let values = FastJSON.fields(file, ["name", "size", "sha256"]),
        let nameText = values[0].string, let name = ArtifactName(rawValue: nameText),
        let size = values[1].int,
        let shaText = values[2].string, let sha256 = SHA256Digest(rawValue: shaText)
      else { return nil }
      files.append(FileInfo(name: name, size: size, sha256: sha256))
    }
    return ResultMessage(
      workerID: workerID, attempt: attempt, outcome: outcome, exitStatus: exitStatus, stderrTail: stderrTail,
      files: files)
  }
}

extension WireMessage {
  /// The `attempt` an `assign`, `ack` or `cancel` refers to, without decoding the rest of the body (a
  /// whole run spec, for `assign`): what a peer that only routes the message needs.
  public func attemptReference() throws(WireError) -> AttemptID {
    if let object = FastJSON.parseObject(body), let value = object["attempt"],
      let attempt = FastJSON.attempt(value)
    {
      return attempt
    }
    return try decodeBody(AttemptOnly.self).attempt
  }

  private struct AttemptOnly: Decodable {
    var attempt: AttemptID
  }
}
