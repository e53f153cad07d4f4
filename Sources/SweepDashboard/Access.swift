import Foundation
import Hummingbird

/// Where the dashboard listens: `HOST:PORT` (`[::1]:8080` for IPv6). Default 127.0.0.1:8080.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public static let `default` = ListenAddress(host: "127.0.0.1", port: 8080)

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public init(parsing text: String) throws(DashboardError) {
    var host: Substring
    var port: Substring
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
      host = text[text.index(after: text.startIndex)..<close]
      let rest = text[text.index(after: close)...]
      guard rest.hasPrefix(":") else { throw DashboardError("--listen: '\(text)' is not HOST:PORT") }
      port = rest.dropFirst()
    } else {
      guard let colon = text.lastIndex(of: ":"), text.filter({ $0 == ":" }).count == 1 else {
        throw DashboardError("--listen: '\(text)' is not HOST:PORT (like 127.0.0.1:8080)")
      }
      host = text[..<colon]
      port = text[text.index(after: colon)...]
    }
    guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else {
      throw DashboardError("--listen: '\(text)' is not HOST:PORT with a port from 0 to 65535")
    }
    self.init(host: String(host), port: number)
  }

  /// 127.0.0.0/8, ::1 or localhost: only this machine can connect.
  public var isLoopback: Bool { Self.isLoopback(host) }

  static func isLoopback(_ host: String) -> Bool {
    let host = host.lowercased()
    if host == "localhost" || host == "::1" { return true }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Checks every request before any route sees it. With a token: `Authorization: Bearer TOKEN` or
/// `?token=TOKEN`, else 401 with an empty body. Without one (loopback only): the `Host` must be a
/// loopback name, so a web page elsewhere cannot reach the dashboard by rebinding its DNS name to
/// 127.0.0.1. Only GET and HEAD: the dashboard changes nothing. Every answer forbids loading anything
/// from elsewhere and being framed.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
  let token: String?

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    if let token {
      guard Self.presented(request).contains(where: { Self.equal($0, token) }) else {
        return Self.bare(.unauthorized)
      }
    } else if !Self.loopbackAuthority(request.head.authority) {
      return Self.bare(.forbidden)
    }
    guard request.method == .get || request.method == .head else { return Self.bare(.methodNotAllowed) }
    var response = try await next(request, context)
    response.headers[.contentSecurityPolicy] =
      "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; "
      + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    response.headers[.init("Referrer-Policy")!] = "no-referrer"
    response.headers[.xContentTypeOptions] = "nosniff"
    return response
  }

  static func bare(_ status: HTTPResponse.Status) -> Response {
    var headers = HTTPFields()
    headers[.contentLength] = "0"
    return Response(status: status, headers: headers)
  }

  /// The tokens a request presents: its bearer token and its `token` query parameter.
  static func presented(_ request: Request) -> [String] {
    var tokens: [String] = []
    if let value = request.headers[.authorization], value.lowercased().hasPrefix("bearer ") {
      tokens.append(String(value.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces))
    }
    if let query = request.uri.queryParameters.get("token") { tokens.append(query) }
    return tokens
  }

  /// Compares in time that depends on the lengths only.
  static func equal(_ given: String, _ expected: String) -> Bool {
    let a = Array(given.utf8)
    let b = Array(expected.utf8)
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
  }

  static func loopbackAuthority(_ authority: String?) -> Bool {
    guard let authority else { return false }
    var host = Substring(authority)
    if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
      host = host[host.index(after: host.startIndex)..<close]
    } else if let colon = host.lastIndex(of: ":") {
      host = host[..<colon]
    }
    return ListenAddress.isLoopback(String(host))
  }
}
