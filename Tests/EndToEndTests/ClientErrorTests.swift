import Foundation
import SweepWire
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Client commands against an address where nothing listens: a clear error at once, naming the
/// address used, not a wait for the whole timeout.
final class ClientErrorTests: XCTestCase {
  /// A port on 127.0.0.1 that was free a moment ago.
  func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    XCTAssertEqual(bound, 0)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  func testStatusWhereNothingListensFailsAtOnceNamingTheAddress() throws {
    let endpoint = "tcp://127.0.0.1:\(try freePort())"
    XCTAssertEqual(TCPProbe.probe(endpoint), .refused)
    let started = Date()
    let result = try CLI.run(CLI.binary, ["status", "--coordinator", endpoint])
    let seconds = Date().timeIntervalSince(started)
    XCTAssertNotEqual(result.status, 0)
    XCTAssertTrue(result.stderr.contains("nothing listens at \(endpoint)"), result.stderr)
    XCTAssertLessThan(seconds, 5, "the default timeout is 10 s; a refused connection is known at once")
  }
}
