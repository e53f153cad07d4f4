import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// Whether anything listens at a `tcp://host:port` endpoint, asked with one plain TCP connect: ZeroMQ
/// connects in the background and retries forever, so without this a client learns that nothing is
/// there only when its whole timeout has passed. A refused connection is known at once.
public enum TCPProbe {
  public enum Outcome: Equatable, Sendable {
    /// Something accepted the connection (or the endpoint is not tcp://, or the host did not resolve
    /// here: ZeroMQ will say more).
    case reachable
    /// The host answered that nothing listens on the port.
    case refused
    /// No answer within the time allowed (a firewall dropping packets, a host that is down).
    case silent
  }

  /// Probes `endpoint` (`tcp://host:port`), waiting at most `timeout`.
  public static func probe(_ endpoint: String, timeout: Duration = .seconds(2)) -> Outcome {
    guard endpoint.hasPrefix("tcp://") else { return .reachable }
    let address = endpoint.dropFirst("tcp://".count)
    guard let colon = address.lastIndex(of: ":") else { return .reachable }
    var host = String(address[..<colon])
    let port = String(address[address.index(after: colon)...])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    if host == "*" { host = "127.0.0.1" }
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, port, &hints, &list) == 0, let first = list else { return .reachable }
    defer { freeaddrinfo(list) }
    let descriptor = socket(
      first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard descriptor >= 0 else { return .reachable }
    defer { close(descriptor) }
    if connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 { return .reachable }
    if errno == ECONNREFUSED { return .refused }
    guard errno == EINPROGRESS else { return .reachable }
    var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
    let milliseconds = Int32(timeout.wholeMilliseconds)
    guard poll(&poller, 1, milliseconds) == 1 else { return .silent }
    var error: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
    if error == 0 { return .reachable }
    return error == ECONNREFUSED ? .refused : .silent
  }
}
