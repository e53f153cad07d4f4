import Foundation
import SweepWire

/// The worker's connection to the coordinator as `WorkerAgent` uses it: whole messages (their frames),
/// sent without blocking. `ZMQWorkerTransport` is the DEALER socket; tests use an in-memory one.
public protocol WorkerTransport: AnyObject {
  /// Opens a new connection (closing the current one, if any).
  func connect() throws
  /// Closes the current connection.
  func disconnect()
  var isConnected: Bool { get }
  /// The next message, waiting at most `timeout`; nil when none came. Throws when the connection failed.
  func receive(timeout: Duration) throws -> [Data]?
  /// Queues a message without blocking; throws when it cannot be queued.
  func send(_ frames: [Data]) throws
  /// The worker is done: messages already queued may still leave (for a while) once it closes.
  func finish()
  /// Closes everything (the end of `run()`).
  func close()
}

/// A DEALER socket to the coordinator with the worker id as its routing id (CURVE when keys are given).
public final class ZMQWorkerTransport: WorkerTransport {
  let endpoint: String
  let routingID: String
  let curve: CurveClientKeys?
  let maxMessageSize: Int64
  private var context: ZMQContext?
  private var socket: ZMQSocket?

  public init(endpoint: String, routingID: String, curve: CurveClientKeys?, maxMessageSize: Int64) {
    self.endpoint = endpoint
    self.routingID = routingID
    self.curve = curve
    self.maxMessageSize = maxMessageSize
  }

  public var isConnected: Bool { socket != nil }

  public func connect() throws {
    socket = nil
    if context == nil { context = ZMQContext() }
    guard let context else { return }
    let socket = try ZMQSocket(context: context, kind: .dealer, maxMessageSize: maxMessageSize)
    try socket.setRoutingID(routingID)
    if let curve { try socket.makeCurveClient(curve.pair, server: curve.serverKey) }
    try socket.connect(endpoint)
    self.socket = socket
  }

  public func disconnect() { socket = nil }

  public func receive(timeout: Duration) throws -> [Data]? { try socket?.receive(timeout: timeout) }

  public func send(_ frames: [Data]) throws {
    guard let socket else { throw WorkerTransportClosed() }
    try socket.send(frames, dontWait: true)
  }

  public func finish() {
    // Let the goodbye leave before the socket closes.
    try? socket?.setOption(zmqLingerOption, Int32(1000))
  }

  public func close() {
    socket = nil
    context = nil  // waits for the goodbye to leave (linger)
  }
}

/// A send without a connection.
public struct WorkerTransportClosed: Error, CustomStringConvertible {
  public init() {}
  public var description: String { "not connected" }
}

/// `ZMQ_LINGER` from zmq.h (SweepWorker does not import the C module itself).
let zmqLingerOption: Int32 = 17
