import Foundation
import TracCore

/// One protocol message: `[protocol][type][JSON body][attachment...]` (docs/PROTOCOL.md). On the
/// coordinator's ROUTER socket a routing-id frame comes first; it is not part of the message.
public struct WireMessage: Equatable, Sendable {
  /// The first frame of every message. A peer of another version is refused by name.
  public static let protocolTag = "trac-sweep/3"
  static let protocolFamily = "trac-sweep/"

  public var type: MessageType
  public var body: Data
  /// Binary frames after the body: artifact files, dataset chunks.
  public var attachments: [Data]

  public init(type: MessageType, body: Data, attachments: [Data] = []) {
    self.type = type
    self.body = body
    self.attachments = attachments
  }

  /// A message whose body is `value` in the project's canonical JSON.
  public init<Body: Encodable>(_ type: MessageType, _ value: Body, attachments: [Data] = []) {
    self.type = type
    if let fast = value as? any FastEncodable, let body = fast.fastJSON() {
      self.body = body
    } else {
      self.body = try! Self.encoder.encode(value)
    }
    self.attachments = attachments
  }

  /// The canonical encoder and the decoder, made once: making one costs more than a small message.
  static let encoder = JSONCodec.canonicalEncoder
  static let decoder = JSONCodec.decoder
  static let tagFrame = Data(protocolTag.utf8)

  public var frames: [Data] {
    [Self.tagFrame, Data(type.rawValue.utf8), body] + attachments
  }

  /// Parses frames; anything that is not a well-formed message of this version is a `WireError`.
  public static func decode(_ frames: [Data]) throws(WireError) -> WireMessage {
    guard let first = frames.first else { throw .malformed("an empty message") }
    let tag = String(decoding: first, as: UTF8.self)
    guard tag == protocolTag else {
      if tag.hasPrefix(protocolFamily) { throw .versionMismatch(peer: String(tag.prefix(32))) }
      throw .malformed("the first frame is not the protocol tag \(protocolTag)")
    }
    guard frames.count >= 3 else { throw .malformed("\(frames.count) frames; a message has at least 3") }
    let name = String(decoding: frames[1], as: UTF8.self)
    guard let type = MessageType(rawValue: name) else { throw .unknownType(String(name.prefix(64))) }
    return WireMessage(type: type, body: frames[2], attachments: Array(frames.dropFirst(3)))
  }

  /// The body as `Body`; a body that does not parse is a `WireError` naming the message type.
  public func decodeBody<Body: Decodable>(_: Body.Type) throws(WireError) -> Body {
    if let fastType = Body.self as? any FastDecodable.Type, let object = FastJSON.parseObject(body),
      let value = fastType.fastDecode(object) as? Body
    {
      return value
    }
    do {
      return try Self.decoder.decode(Body.self, from: body)
    } catch {
      if case DecodingError.dataCorrupted(let context) = error, context.underlyingError is InvalidIdentifier {
        throw .invalidIdentifier(type: type, detail: Self.describe(error, body: body))
      }
      throw .badBody(type: type, detail: Self.describe(error, body: body))
    }
  }

  private static func describe(_ error: Error, body: Data) -> String {
    switch error {
    case DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty:
      // JSONDecoder refuses a number it cannot hold for the whole body: name the number's field.
      guard let path = JSONNumberRange.firstOutOfRange(in: body) else {
        return "\(context.debugDescription) at $"
      }
      return "the number at \(path) is out of range: an integer field holds a 64-bit signed integer, "
        + "a number field a finite double"

    case DecodingError.keyNotFound(let key, let context):
      return "missing field \(path(context.codingPath + [key]))"
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
      return "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
    case DecodingError.dataCorrupted(let context):
      return "\(context.debugDescription) at \(path(context.codingPath))"
    default:
      return "\(error)"
    }
  }

  private static func path(_ keys: [CodingKey]) -> String {
    "$" + keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
  }
}

/// `text` fit for one log line: control characters and invalid UTF-8 escaped, at most `limit`
/// characters, so a hostile peer cannot forge or flood log lines.
public func loggable(_ text: String, limit: Int = 300) -> String {
  var result = ""
  for scalar in text.unicodeScalars {
    if result.count >= limit {
      result += "..."
      break
    }
    switch scalar {
    case "\u{FFFD}": result += "\\ufffd"
    case _
    where scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format:
      result += scalar.escaped(asASCII: true)
    default: result.unicodeScalars.append(scalar)
    }
  }
  return result
}

/// Why a message was refused. The coordinator answers with an `error` message and keeps serving.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
  case versionMismatch(peer: String)
  case malformed(String)
  case unknownType(String)
  case badBody(type: MessageType, detail: String)
  /// A field that names something (a run, an attempt, a worker, a file, a dataset) breaks its rule.
  case invalidIdentifier(type: MessageType, detail: String)
  /// A well-formed message the receiver will not act on; `code` says why, `subject` what about.
  case refused(code: ErrorCode, message: String, subject: String?)

  public var description: String {
    switch self {
    case .versionMismatch(let peer):
      return
        "protocol version mismatch: the peer speaks \(peer), this side speaks \(WireMessage.protocolTag);"
        + " run the same trac-sweep version on every machine"
    case .malformed(let detail): return "malformed message: \(detail)"
    case .unknownType(let name): return "unknown message type '\(name)'"
    case .badBody(let type, let detail), .invalidIdentifier(let type, let detail):
      return "bad \(type.rawValue) message: \(detail)"
    case .refused(_, let message, _): return message
    }
  }

  /// The code an `error` reply carries for this error.
  public var code: ErrorCode {
    switch self {
    case .versionMismatch: return .versionMismatch
    case .malformed, .badBody: return .malformed
    case .unknownType: return .unknownType
    case .invalidIdentifier: return .invalidIdentifier
    case .refused(let code, _, _): return code
    }
  }

  /// The identifier the error is about, if any.
  public var subject: String? {
    if case .refused(_, _, let subject) = self { return subject }
    return nil
  }
}

/// The machine-readable reason of an `error` reply (docs/PROTOCOL.md lists them). A code this
/// version does not know decodes as itself, so a newer peer's codes pass through.
public struct ErrorCode: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: String
  public init(rawValue: String) { self.rawValue = rawValue }
  public var description: String { rawValue }

  public init(from decoder: any Decoder) throws {
    rawValue = try decoder.singleValueContainer().decode(String.self)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }

  /// Frames or a body that do not parse, a missing or mistyped field, a value out of its range.
  public static let malformed = ErrorCode(rawValue: "malformed")
  /// The peer speaks another protocol version: the worker stops, the client gives up.
  public static let versionMismatch = ErrorCode(rawValue: "version_mismatch")
  /// A message type the receiver does not handle.
  public static let unknownType = ErrorCode(rawValue: "unknown_type")
  /// A run id, attempt number, sweep id, worker id, sha256 or file name that breaks its rule.
  public static let invalidIdentifier = ErrorCode(rawValue: "invalid_identifier")
  /// No sweep has the id or name given.
  public static let unknownSweep = ErrorCode(rawValue: "unknown_sweep")
  /// No worker has the id given (`release`, or a `goodbye` from a worker that never said hello).
  public static let unknownWorker = ErrorCode(rawValue: "unknown_worker")
  /// No dataset with that sha256 is held (a `fetch`, or a `submit` naming an upload that is not complete).
  public static let unknownDataset = ErrorCode(rawValue: "unknown_dataset")
  /// A grid names a dataset file outside the directories the coordinator reads datasets from.
  public static let datasetNotAllowed = ErrorCode(rawValue: "dataset_not_allowed")
  /// The request's content is wrong: a grid that does not parse or expand, a dataset that does not
  /// read, an upload that does not fit. The message names what.
  public static let invalidInput = ErrorCode(rawValue: "invalid_input")
  /// Well-formed, but not possible now: a sweep name taken by another grid, a result that does not match
  /// its attempt, a worker id held by another connection.
  public static let refused = ErrorCode(rawValue: "refused")
  /// With CURVE: the worker id is bound to another public key (the one that first registered it), so
  /// this connection may not speak for it. A worker stops: it needs its own key or another work directory.
  public static let keyMismatch = ErrorCode(rawValue: "key_mismatch")
  /// The coordinator could not commit (its disk): nothing was changed, try again.
  public static let unavailable = ErrorCode(rawValue: "unavailable")
  /// Flow control: this connection has too many replies it has not read, or too many requests at once
  /// (docs/PROTOCOL.md, "Flow control"). Nothing was done: read what was sent, then ask again.
  public static let busy = ErrorCode(rawValue: "busy")
}
