import Foundation
import SweepWire

/// Flow control on the coordinator's side (docs/PROTOCOL.md, "Flow control"): how many requests and
/// fetches each peer has had answered in the pass of the loop under way, and whether the replies
/// queued for a peer, or for all peers together, leave room for another. Sends never block; a peer
/// over its allowance gets `busy` instead of an answer. Only the loop's thread uses it.
public struct RequestGate {
  public let limits: CoordinatorService.Configuration.FlowControl
  /// Bytes of replies queued and not yet read: for one peer, and for all together.
  private let queued: (Data) -> (own: Int, total: Int)
  /// Requests and fetches taken from each peer in the pass under way.
  private var requestsThisPass: [Data: Int] = [:]

  /// A gate on the replies `outbound` holds (libzmq's, counted as they are sent).
  public init(limits: CoordinatorService.Configuration.FlowControl, outbound: OutboundLedger) {
    self.init(limits: limits) { (outbound.outstanding($0), outbound.total) }
  }

  /// A gate on `queued`'s counts (a test's, without a socket).
  public init(
    limits: CoordinatorService.Configuration.FlowControl, queued: @escaping (Data) -> (own: Int, total: Int)
  ) {
    self.limits = limits
    self.queued = queued
  }

  /// Takes one request or fetch from `route` into this pass: nil if it may be answered, else the `busy`
  /// refusal, naming `subject` (a fetch's sha256).
  public mutating func admit(_ route: Data, subject: String?) -> ErrorMessage? {
    let taken = requestsThisPass[route, default: 0] + 1
    requestsThisPass[route] = taken
    let limit = limits.requestsPerPass
    if taken > limit {
      return ErrorMessage(
        code: .busy,
        message: "flow control: more than \(limit) requests from this connection at once; "
          + "send the next when the previous is answered",
        subject: subject)
    }
    return overAllowance(route, subject: subject)
  }

  /// The `busy` refusal when `route`, or all peers together, have more unread bytes queued than allowed.
  public mutating func overAllowance(_ route: Data, subject: String?) -> ErrorMessage? {
    let (own, total) = queued(route)
    guard own >= limits.peerBytes || total >= limits.totalBytes else { return nil }
    let text =
      own >= limits.peerBytes
      ? "flow control: \(own) bytes of replies to this connection are not read yet (at most \(limits.peerBytes)); "
        + "read them, then ask again"
      : "flow control: the coordinator holds \(total) bytes of replies its peers have not read (at most "
        + "\(limits.totalBytes)); ask again shortly"
    return ErrorMessage(code: .busy, message: text, subject: subject)
  }

  /// The pass is over (committed or not): every peer may send `requestsPerPass` again.
  public mutating func endPass() { requestsThisPass.removeAll(keepingCapacity: true) }
}
