import CZMQ
import Foundation
import Logging
import TracCore

/// The ZeroMQ authentication handler (ZAP, RFC 27) for a CURVE server: a REP socket bound to
/// `inproc://zeromq.zap.01` in the server socket's context, answered on a thread of its own. A peer
/// is accepted only if its public key is one of the authorized keys (the `*.pub` files of a
/// directory); a refused peer is logged with its address and key.
///
/// Bind it (create it) before the server socket binds, so no handshake goes unchecked.
public final class ZAPAuthenticator: @unchecked Sendable {
  public static let endpoint = "inproc://zeromq.zap.01"

  private let lock = NSLock()
  private var authorized: [CurveKey: String]
  public let directory: URL?
  private let domain: String
  private let logger: Logger
  private let stopFlag = NSLock()
  private var stopping = false
  private let finished = DispatchSemaphore(value: 0)
  private var running = false
  /// Refusals per peer key (or mechanism) since its last log line: a refused peer retries its
  /// handshake every 100 ms, so each is logged once, then at most every `refusalLogInterval`.
  private var refusals: [String: (lastLogged: ContinuousClock.Instant, since: Int)] = [:]
  private let refusalLogInterval = Duration.seconds(60)

  /// Binds the handler and starts answering. `directory`, when given, is what `reload()` reads.
  /// `server`, when given, is the CURVE server socket: its failed handshakes (a plaintext peer, or
  /// one with the wrong server key, which never reach ZAP) are logged too. Call before it binds.
  public init(
    context: ZMQContext, authorized: [CurveKey: String], directory: URL? = nil, domain: String,
    logger: Logger, server: ZMQSocket? = nil
  ) throws {
    self.authorized = authorized
    self.directory = directory
    self.domain = domain
    self.logger = logger
    let socket = try ZMQSocket(context: context, kind: .reply, maxMessageSize: 64 << 10)
    try socket.bind(Self.endpoint)
    var monitor: ZMQSocket?
    if let server {
      let endpoint = "inproc://trac-sweep.handshakes.\(UUID().uuidString)"
      try server.monitor(
        endpoint, events: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
      let pair = try ZMQSocket(context: context, kind: .pair, maxMessageSize: 64 << 10)
      try pair.connect(endpoint)
      monitor = pair
    }
    let box = SocketBox(socket, monitor)
    running = true
    let thread = Thread { [self] in
      serve(box.socket, monitor: box.monitor)
      box.socket = nil
      box.monitor = nil
      finished.signal()
    }
    thread.name = "zap"
    thread.start()
  }

  deinit { stop() }

  /// The authorized keys now, by key; the value names the key's file.
  public var authorizedKeys: [CurveKey: String] {
    lock.lock()
    defer { lock.unlock() }
    return authorized
  }

  /// Whether `key` is authorized now: the coordinator asks for every message, so the open connections of
  /// a key that a reload took out are no longer served.
  public func authorizes(_ key: CurveKey) -> Bool {
    lock.lock()
    defer { lock.unlock() }
    return authorized[key] != nil
  }

  /// Reads the directory again (on SIGHUP): the new set applies to every later handshake. A file
  /// that does not parse keeps the old set and is reported.
  @discardableResult
  public func reload() throws(CurveKeyError) -> Int {
    guard let directory else { return authorizedKeys.count }
    let keys = try CurveKeyFile.readAuthorized(directory)
    lock.lock()
    authorized = keys
    lock.unlock()
    return keys.count
  }

  /// Stops the thread and closes its socket; waits for it. Idempotent.
  public func stop() {
    stopFlag.lock()
    let wasRunning = running && !stopping
    stopping = true
    stopFlag.unlock()
    if wasRunning { finished.wait() }
  }

  private var isStopping: Bool {
    stopFlag.lock()
    defer { stopFlag.unlock() }
    return stopping
  }

  private func serve(_ socket: ZMQSocket?, monitor: ZMQSocket?) {
    guard let socket else { return }
    var poller = ZMQPoller([socket] + (monitor.map { [$0] } ?? []))
    while !isStopping {
      do {
        let ready = try poller.ready(timeout: .milliseconds(50))
        if ready.contains(0) { try socket.send(answer(try socket.receiveNow())) }
        if ready.contains(1), let monitor { handshakeFailed(try monitor.receiveNow()) }
      } catch  where error.isTerminated {
        return
      } catch {
        logger.error("ZAP handler: \(error)")
      }
    }
  }

  /// The reply to one ZAP request: `1.0`, request id, status code, status text, user id, metadata.
  func answer(_ frames: [Data]) -> [Data] {
    func reply(_ requestID: Data, _ code: String, _ text: String, user: String = "") -> [Data] {
      [Data("1.0".utf8), requestID, Data(code.utf8), Data(text.utf8), Data(user.utf8), Data()]
    }
    guard frames.count >= 6, String(decoding: frames[0], as: UTF8.self) == "1.0" else {
      logger.error("ZAP handler: a malformed request of \(frames.count) frames")
      return reply(frames.count > 1 ? frames[1] : Data(), "500", "malformed ZAP request")
    }
    let requestID = frames[1]
    let requestDomain = String(decoding: frames[2], as: UTF8.self)
    let address = String(decoding: frames[3], as: UTF8.self)
    let mechanism = String(decoding: frames[5], as: UTF8.self)
    guard mechanism == "CURVE", frames.count >= 7, let key = CurveKey(bytes: frames[6]) else {
      if let repeated = shouldLogRefusal(of: "mechanism:\(mechanism.prefix(16))") {
        logger.warning(
          "refused a connection: not CURVE",
          metadata: [
            "address": "\(address)", "mechanism": "\(mechanism.prefix(16))", "repeats": "\(repeated)",
          ])
      }
      return reply(requestID, "400", "CURVE required")
    }
    guard requestDomain == domain, let name = authorizedKeys[key] else {
      if let repeated = shouldLogRefusal(of: key.z85) {
        logger.warning(
          "refused a connection: key not authorized",
          metadata: ["address": "\(address)", "key": "\(key.z85)", "repeats": "\(repeated)"])
      }
      return reply(requestID, "400", "key not authorized")
    }
    logger.debug("accepted a connection", metadata: ["address": "\(address)", "key": "\(name)"])
    // The user id is the key itself (Z85): every message of the connection carries it as `User-Id`,
    // and the coordinator binds worker ids to it. A key file may be renamed; the key stays the key.
    return reply(requestID, "200", "OK", user: key.z85)
  }

  /// A monitor event of the server socket: a handshake that failed before ZAP could see a key.
  func handshakeFailed(_ frames: [Data]) {
    guard let first = frames.first, first.count >= 6 else { return }
    let event = first.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
    let value = first.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self) }
    guard Int32(event) == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL else {
      // The connection broke mid-handshake (often a refused peer hanging up): errno only.
      logger.debug("a handshake ended early", metadata: ["errno": "\(value)"])
      return
    }
    let reason =
      switch Int32(bitPattern: value) {
      case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: "the peer does not use CURVE (plaintext)"
      case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: "the peer's --server-key is not this coordinator's key"
      default: "protocol error 0x\(String(value, radix: 16))"
      }
    guard let repeated = shouldLogRefusal(of: "handshake:\(value)") else { return }
    logger.warning(
      "refused a connection: \(reason)",
      metadata: [
        "endpoint": "\(loggable(String(decoding: frames.count > 1 ? frames[1] : Data(), as: UTF8.self)))",
        "repeats": "\(repeated)",
      ])
  }

  /// Whether to log this refusal: the first of a key, then one a `refusalLogInterval`. Returns the
  /// refusals not logged since the last line.
  private func shouldLogRefusal(of key: String) -> Int? {
    let now = ContinuousClock.now
    if refusals.count > 10_000 { refusals = [:] }
    if let last = refusals[key], now - last.lastLogged < refusalLogInterval {
      refusals[key]?.since += 1
      return nil
    }
    let since = refusals[key]?.since ?? 0
    refusals[key] = (now, 0)
    return since
  }

  private final class SocketBox: @unchecked Sendable {
    var socket: ZMQSocket?
    var monitor: ZMQSocket?
    init(_ socket: ZMQSocket, _ monitor: ZMQSocket?) {
      self.socket = socket
      self.monitor = monitor
    }
  }
}
