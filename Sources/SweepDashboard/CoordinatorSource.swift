import Foundation
import Logging
import SweepWire
import TracCore

/// What the dashboard's feed asks the coordinator. The feed calls one method at a time, never two at
/// once, so an implementation needs no lock of its own; the calls may block (up to their timeout).
public protocol CoordinatorSource: AnyObject, Sendable {
  /// Where the coordinator is, as pages and metrics name it.
  var endpoint: String { get }
  func status() throws -> StatusReply
  /// nil when the coordinator does not answer `metrics` (an older one): the status-based metrics still work.
  func metrics() throws -> MetricsReply?
  func report(sweep: String) throws -> ReportDataReply
  /// The last call failed: a call after this one must not take a late answer to it for its own.
  func reset()
}

/// The coordinator over ZeroMQ (REQ), as `trac-sweep status` asks it.
public final class ZeroMQCoordinatorSource: CoordinatorSource, @unchecked Sendable {
  public let endpoint: String
  let curve: CurveClientKeys?
  let timeout: Duration
  let logger: Logger
  /// Made on first use and again after a failure; used by one call at a time (see `CoordinatorSource`).
  private var client: RequestClient?

  public init(options: CoordinatorFeed.Options, logger: Logger) {
    endpoint = options.endpoint
    curve = options.curve
    timeout = .milliseconds(Int(options.timeout * 1000))
    self.logger = logger
  }

  private func connected() throws -> RequestClient {
    if let client { return client }
    let client = try RequestClient(endpoint: endpoint, curve: curve)
    self.client = client
    return client
  }

  public func status() throws -> StatusReply {
    try connected().call(ClientRequest(command: .status), expecting: StatusReply.self, timeout: timeout)
  }

  public func metrics() throws -> MetricsReply? {
    do {
      return try connected().call(
        ClientRequest(command: .metrics), expecting: MetricsReply.self, timeout: timeout)
    } catch RequestClient.RequestError.refused(let refusal) {
      logger.debug("the coordinator does not answer metrics: \(refusal.message)")
      return nil
    }
  }

  public func report(sweep: String) throws -> ReportDataReply {
    try connected().call(
      ClientRequest(command: .report, sweep: sweep), expecting: ReportDataReply.self, timeout: timeout)
  }

  public func reset() {
    // A timed-out request may still be answered later: start over with a fresh socket.
    client = nil
  }
}
