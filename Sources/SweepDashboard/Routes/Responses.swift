import Foundation
import Hummingbird
import TracCore

/// The dashboard's answers: never cached, typed, and a plain-text 404.
enum Responses {
  static func links(_ request: Request) -> Pages.Links {
    Pages.Links(token: request.uri.queryParameters.get("token"))
  }

  static func html(_ text: String) -> Response {
    self.text(text, type: "text/html; charset=utf-8")
  }

  static func text(_ text: String, type: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = type
    headers[.cacheControl] = "no-store"
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
  }

  static func json(_ value: some Encodable) throws -> Response {
    let data = try JSONCodec.prettyEncoder.encode(value)
    return text(String(decoding: data, as: UTF8.self), type: "application/json; charset=utf-8")
  }

  static func notFound(_ message: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/plain; charset=utf-8"
    return Response(
      status: .notFound, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
  }
}
