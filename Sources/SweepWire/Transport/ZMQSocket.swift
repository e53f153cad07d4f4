import CZMQ
import Foundation
import TracCore

/// How the process's allocator treats the large buffers of queued messages.
public enum MessageMemory {
  /// Blocks from 256 KiB up get their own mapping, returned to the system when freed (glibc's default
  /// would keep them in its heap after the first large free): memory held for a peer is given back
  /// when libzmq drops its messages. Call once at start, before any large allocation.
  public static func returnLargeBlocksToTheSystem() {
    _ = trac_fix_mmap_threshold(256 << 10)
  }
}

/// One libzmq context per process; thread-safe, as libzmq's is.
public final class ZMQContext: @unchecked Sendable {
  let handle: UnsafeMutableRawPointer

  /// `maxSockets`: libzmq's default is 1023 sockets a context; simulated clusters need more.
  public init(maxSockets: Int32? = nil) {
    handle = zmq_ctx_new()
    if let maxSockets { zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, maxSockets) }
  }

  deinit { zmq_ctx_term(handle) }
}

/// A ZeroMQ socket (ROUTER on the coordinator, DEALER on workers and clients). Like libzmq's
/// sockets it belongs to one thread at a time. Every message is a list of frames.
public final class ZMQSocket {
  public enum Kind: Sendable {
    case router
    case dealer
    /// Only for the ZAP handler (inproc://zeromq.zap.01), which answers each request in turn.
    case reply
    /// Only for reading a socket monitor's events.
    case pair

    var value: Int32 {
      switch self {
      case .router: ZMQ_ROUTER
      case .dealer: ZMQ_DEALER
      case .reply: ZMQ_REP
      case .pair: ZMQ_PAIR
      }
    }
  }

  let handle: UnsafeMutableRawPointer
  public let kind: Kind
  /// Keeps the context alive as long as its sockets.
  private let context: ZMQContext

  /// A socket that never blocks on close (linger 0) and refuses messages over `maxMessageSize`
  /// bytes (libzmq drops the peer's connection instead of allocating).
  public init(context: ZMQContext, kind: Kind, maxMessageSize: Int64 = 256 << 20) throws(ZMQError) {
    guard let socket = zmq_socket(context.handle, kind.value) else { throw ZMQError(call: "zmq_socket") }
    self.handle = socket
    self.kind = kind
    self.context = context
    try setOption(ZMQ_LINGER, Int32(0))
    try setOption(ZMQ_MAXMSGSIZE, maxMessageSize)
    if kind == .router {
      // An unroutable reply is an error, not a silent drop; a reconnecting peer takes over its id.
      try setOption(ZMQ_ROUTER_MANDATORY, Int32(1))
      try setOption(ZMQ_ROUTER_HANDOVER, Int32(1))
    }
  }

  deinit { zmq_close(handle) }

  public func setOption(_ option: Int32, _ value: Int32) throws(ZMQError) {
    var value = value
    guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0 else {
      throw ZMQError(call: "zmq_setsockopt(\(option))")
    }
  }

  public func setOption(_ option: Int32, _ value: Int64) throws(ZMQError) {
    var value = value
    guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) == 0 else {
      throw ZMQError(call: "zmq_setsockopt(\(option))")
    }
  }

  public func setOption(_ option: Int32, _ value: Data) throws(ZMQError) {
    let status = value.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, value.count) }
    guard status == 0 else { throw ZMQError(call: "zmq_setsockopt(\(option))") }
  }

  /// CURVE server (the coordinator's ROUTER): every peer must complete a CURVE handshake with this
  /// key pair, and ZAP (`zapDomain`) decides whom to accept. A plaintext peer cannot connect. Set
  /// before `bind`.
  public func makeCurveServer(_ pair: CurveKeyPair, zapDomain: String) throws(ZMQError) {
    try setOption(ZMQ_CURVE_SERVER, Int32(1))
    try setOption(ZMQ_CURVE_SECRETKEY, Data(pair.secretKey.z85.utf8))
    try setOption(ZMQ_ZAP_DOMAIN, Data(zapDomain.utf8))
  }

  /// CURVE client (a worker's or client's DEALER): encrypts to the server whose public key is
  /// `server` and proves this side's key pair. Set before `connect`.
  public func makeCurveClient(_ pair: CurveKeyPair, server: CurveKey) throws(ZMQError) {
    try setOption(ZMQ_CURVE_SERVERKEY, Data(server.z85.utf8))
    try setOption(ZMQ_CURVE_PUBLICKEY, Data(pair.publicKey.z85.utf8))
    try setOption(ZMQ_CURVE_SECRETKEY, Data(pair.secretKey.z85.utf8))
  }

  /// Publishes this socket's `events` (ZMQ_EVENT_* bits) on a PAIR socket at `endpoint` (inproc).
  public func monitor(_ endpoint: String, events: Int32) throws(ZMQError) {
    guard zmq_socket_monitor(handle, endpoint, events) == 0 else {
      throw ZMQError(call: "zmq_socket_monitor")
    }
  }

  /// How many messages libzmq queues per connection, each way (ZMQ_SNDHWM, ZMQ_RCVHWM): past it a
  /// send to that peer fails (or blocks) and reading from it waits. Set before `bind` or `connect`.
  public func setHighWaterMarks(messages: Int32) throws(ZMQError) {
    try setOption(ZMQ_SNDHWM, messages)
    try setOption(ZMQ_RCVHWM, messages)
  }

  /// The routing id a DEALER presents to the ROUTER (set before connecting).
  public func setRoutingID(_ id: String) throws(ZMQError) {
    try setOption(ZMQ_ROUTING_ID, Data(id.utf8))
  }

  public func bind(_ endpoint: String) throws(ZMQError) {
    guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_bind(\(endpoint))") }
  }

  public func connect(_ endpoint: String) throws(ZMQError) {
    guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_connect(\(endpoint))") }
  }

  /// The endpoint actually bound (e.g. the port chosen for `tcp://127.0.0.1:*`).
  public var lastEndpoint: String {
    var buffer = [UInt8](repeating: 0, count: 256)
    var size = buffer.count
    zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
    return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
  }

  /// Sends all frames as one message.
  public func send(_ frames: [Data], dontWait: Bool = false) throws(ZMQError) {
    for (index, frame) in frames.enumerated() {
      var flags: Int32 = index < frames.count - 1 ? ZMQ_SNDMORE : 0
      if dontWait { flags |= ZMQ_DONTWAIT }
      let sent = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, frame.count, flags) }
      guard sent >= 0 else { throw ZMQError(call: "zmq_send") }
    }
  }

  /// What became of a message sent without blocking.
  public enum SendOutcome: Sendable, Equatable {
    case sent
    /// The peer's queue is at its high-water mark (it does not read): nothing was queued.
    case queueFull
    /// No connection has that routing id (the peer is gone): nothing was queued.
    case unroutable
  }

  /// Frames from this size up are handed to libzmq in a buffer it frees itself, counted in the ledger.
  public static let ledgerThreshold = 1024

  /// Sends all frames as one message without ever blocking: a peer whose queue is full, or that is
  /// gone, loses the message (`queueFull`, `unroutable`) and the caller goes on. On a ROUTER the
  /// first frame is the routing id, and `peer` names whose account in `ledger` the message's larger
  /// frames are charged to until libzmq is done with them.
  public func sendWithoutBlocking(
    _ frames: [Data], ledger: OutboundLedger? = nil, peer: Data = Data()
  ) throws(ZMQError) -> SendOutcome {
    for (index, frame) in frames.enumerated() {
      let flags: Int32 = ZMQ_DONTWAIT | (index < frames.count - 1 ? ZMQ_SNDMORE : 0)
      var message = zmq_msg_t()
      if let ledger, frame.count >= Self.ledgerThreshold {
        guard let buffer = malloc(frame.count) else { throw ZMQError(call: "malloc") }
        frame.copyBytes(to: buffer.assumingMemoryBound(to: UInt8.self), count: frame.count)
        let ticket = Unmanaged.passRetained(LedgerTicket(ledger: ledger, peer: peer, bytes: frame.count))
        guard zmq_msg_init_data(&message, buffer, frame.count, releaseLedgerFrame, ticket.toOpaque()) == 0
        else {
          free(buffer)
          ticket.release()
          throw ZMQError(call: "zmq_msg_init_data")
        }
      } else {
        guard zmq_msg_init_size(&message, frame.count) == 0 else { throw ZMQError(call: "zmq_msg_init_size") }
        if !frame.isEmpty {
          frame.copyBytes(to: zmq_msg_data(&message).assumingMemoryBound(to: UInt8.self), count: frame.count)
        }
      }
      if zmq_msg_send(&message, handle, flags) < 0 {
        let error = zmq_errno()
        zmq_msg_close(&message)  // gives a ledger frame's bytes back
        // Only the first frame of a ROUTER's message can fail this way: the routing id is checked there.
        if error == EAGAIN { return .queueFull }
        if error == EHOSTUNREACH { return .unroutable }
        throw ZMQError(call: "zmq_msg_send")
      }
    }
    return .sent
  }

  /// Waits up to `timeout` for a message; nil when none arrived.
  public func receive(timeout: Duration) throws(ZMQError) -> [Data]? {
    guard try poll(timeout: timeout) else { return nil }
    return try receiveNow()
  }

  /// Whether a message is ready within `timeout`.
  public func poll(timeout: Duration) throws(ZMQError) -> Bool {
    var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
    let milliseconds = Int(timeout.wholeMilliseconds)
    let ready = zmq_poll(&item, 1, milliseconds)
    if ready < 0 {
      if zmq_errno() == EINTR { return false }
      throw ZMQError(call: "zmq_poll")
    }
    return ready > 0
  }

  /// Receives every frame of the next message, which must be ready.
  public func receiveNow() throws(ZMQError) -> [Data] {
    var userID: String?
    return try receiveFrames(userID: &userID, capture: false)
  }

  /// A message and who sent it, as authentication established it.
  public struct Received {
    public var frames: [Data]
    /// The user id the ZAP handler gave the sender's connection (the message's `User-Id` property);
    /// nil when the connection was not authenticated (no CURVE).
    public var userID: String?
  }

  /// Like `receive(timeout:)`, with the sender's ZAP user id.
  public func receiveWithUserID(timeout: Duration) throws(ZMQError) -> Received? {
    guard try poll(timeout: timeout) else { return nil }
    var userID: String?
    let frames = try receiveFrames(userID: &userID, capture: true)
    return Received(frames: frames, userID: userID)
  }

  private func receiveFrames(userID: inout String?, capture: Bool) throws(ZMQError) -> [Data] {
    var frames: [Data] = []
    while true {
      var message = zmq_msg_t()
      zmq_msg_init(&message)
      defer { zmq_msg_close(&message) }
      guard zmq_msg_recv(&message, handle, 0) >= 0 else { throw ZMQError(call: "zmq_msg_recv") }
      let size = zmq_msg_size(&message)
      frames.append(size == 0 ? Data() : Data(bytes: zmq_msg_data(&message), count: size))
      // Every frame of a message carries its connection's metadata; the last one is enough.
      let more = zmq_msg_more(&message) != 0
      if capture && !more, let value = zmq_msg_gets(&message, "User-Id") {
        let text = String(cString: value)
        userID = text.isEmpty ? nil : text
      }
      if !more { return frames }
    }
  }
}

/// libzmq's free function for frames charged to a ledger: frees the buffer and gives the bytes back.
/// Called on libzmq's I/O thread, or on the sender's when a send fails.
private let releaseLedgerFrame: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void =
  {
    data, hint in
    free(data)
    if let hint { Unmanaged<LedgerTicket>.fromOpaque(hint).release() }
  }

/// Waits on many sockets at once (one thread driving many simulated peers).
public struct ZMQPoller {
  private var items: [zmq_pollitem_t]

  public init(_ sockets: [ZMQSocket]) {
    items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
  }

  /// Indices of the sockets with a message ready within `timeout`.
  public mutating func ready(timeout: Duration) throws(ZMQError) -> [Int] {
    let milliseconds = Int(timeout.wholeMilliseconds)
    let count = zmq_poll(&items, Int32(items.count), milliseconds)
    if count < 0 {
      if zmq_errno() == EINTR { return [] }
      throw ZMQError(call: "zmq_poll")
    }
    return count == 0 ? [] : items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
  }
}
