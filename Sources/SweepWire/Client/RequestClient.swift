import CZMQ
import Foundation
import TracCore

/// A short-lived client of the coordinator (`submit`, `status`, ...): one DEALER, one request at a
/// time, each answered by `reply` or `error` within a timeout.
public final class RequestClient {
  private let socket: ZMQSocket
  public let endpoint: String

  /// Whether the socket uses CURVE (the unreachable error then names the likely key problems).
  public let secured: Bool
  /// Whether the address was checked for a listener (once, before the first request).
  private var probed = false

  /// `curve`: this client's key pair and the coordinator's public key, for a secured coordinator.
  public init(endpoint: String, curve: CurveClientKeys? = nil, context: ZMQContext = ZMQContext())
    throws(ZMQError)
  {
    self.endpoint = endpoint
    socket = try ZMQSocket(context: context, kind: .dealer)
    secured = curve != nil
    if let curve { try socket.makeCurveClient(curve.pair, server: curve.serverKey) }
    try socket.connect(endpoint)
  }

  /// Sends within `timeout`; false when the message could not be queued in that time.
  private func send(_ message: WireMessage, timeout: Duration) throws(ZMQError) -> Bool {
    try socket.setOption(ZMQ_SNDTIMEO, Int32(clamping: timeout.wholeMilliseconds + 1))
    do {
      try socket.send(message.frames)
      return true
    } catch {
      if error.isTimeout { return false }
      throw error
    }
  }

  public enum RequestError: Error, CustomStringConvertible {
    case unreachable(endpoint: String, timeout: Duration, secured: Bool)
    /// Nothing listens at the address: the connection was refused at once.
    case nothingListens(endpoint: String)
    /// The coordinator answered `error`: its code says why, its message says it in words.
    case refused(ErrorMessage)
    case transport(ZMQError)
    case protocolError(WireError)

    public var description: String {
      switch self {
      case .unreachable(let endpoint, let timeout, let secured):
        if secured {
          return "no answer from the coordinator at \(endpoint) within \(timeout): it is not running, or"
            + " the CURVE handshake failed (is --server-key the coordinator's public key, and is this"
            + " client's .pub file in its --authorized-keys directory?)"
        }
        return "no answer from the coordinator at \(endpoint) within \(timeout); is it running?"
          + " (start it with: trac-sweep coordinator --bind tcp://*:5555 --state DIR; a coordinator"
          + " started with --curve-secret needs --curve-secret and --server-key here)"
      case .nothingListens(let endpoint):
        return "nothing listens at \(endpoint) (connection refused): is the coordinator running there? "
          + "Start it with: trac-sweep coordinator --bind tcp://*:\(endpoint.split(separator: ":").last ?? "5555") "
          + "--state DIR, or give its address with --coordinator or $TRAC_SWEEP_COORDINATOR"
      case .refused(let error): return error.message
      case .transport(let error): return "\(error)"
      case .protocolError(let error): return "\(error)"
      }
    }
  }

  /// How long to wait before asking again after the `n`th `busy` answer (from 0): 100 ms doubling to 2 s.
  static func busyPause(_ n: Int) -> Duration { .milliseconds(min(100 << min(n, 5), 2000)) }

  /// Sends `request` and returns the reply's body, decoded. A `busy` answer (flow control) is not an
  /// error: the request is sent again after a pause, within `timeout`.
  public func call<Request: Encodable, Reply: Decodable>(
    _ request: Request, attachments: [Data] = [], expecting: Reply.Type, timeout: Duration = .seconds(10)
  ) throws(RequestError) -> Reply {
    if !probed {
      probed = true
      if TCPProbe.probe(endpoint, timeout: min(timeout, .seconds(2))) == .refused {
        throw RequestError.nothingListens(endpoint: endpoint)
      }
    }
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var busyAnswers = 0
    do {
      let outgoing = WireMessage(.request, request, attachments: attachments)
      while true {
        // A DEALER whose handshake was refused (CURVE) has nowhere to queue the request, and a plain send
        // would wait for a peer forever: the send gets the request's timeout too.
        let left = max(deadline - clock.now, .milliseconds(1))
        guard try send(outgoing, timeout: left) else {
          throw RequestError.unreachable(endpoint: endpoint, timeout: timeout, secured: secured)
        }
        guard let frames = try socket.receive(timeout: max(deadline - clock.now, .milliseconds(1))) else {
          throw RequestError.unreachable(endpoint: endpoint, timeout: timeout, secured: secured)
        }
        let message = try WireMessage.decode(frames)
        switch message.type {
        case .reply: return try message.decodeBody(Reply.self)
        case .error:
          let refusal = try message.decodeBody(ErrorMessage.self)
          // Flow control (docs/PROTOCOL.md): nothing was done; the same request again, a little later.
          if refusal.code == .busy && clock.now + Self.busyPause(busyAnswers) < deadline {
            Thread.sleep(forTimeInterval: Self.busyPause(busyAnswers).seconds)
            busyAnswers += 1
            continue
          }
          throw RequestError.refused(refusal)
        default:
          throw RequestError.protocolError(.malformed("expected a reply, got \(message.type.rawValue)"))
        }
      }
    } catch let error as RequestError {
      throw error
    } catch let error as ZMQError {
      throw .transport(error)
    } catch let error as WireError {
      throw .protocolError(error)
    } catch {
      throw .refused(ErrorMessage(code: .malformed, message: "\(error)"))
    }
  }
}
