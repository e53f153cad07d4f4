import Foundation
import SweepWire
import TracCore
import XCTest

/// docs/PROTOCOL.md section 2: a number no field can hold is `malformed`, and the error names its field.
final class NumberRangeTests: XCTestCase {
  func testAHelloWithTooManySlotsNamesTheField() throws {
    let body = #"{"worker_id":"w1","host":"h","slots":1,"trainer_version":"x","running":[],"spooled":[]}"#
    let bodies = [
      (body.replacingOccurrences(of: #""slots":1"#, with: #""slots":1e400"#), "$.slots"),
      (body.replacingOccurrences(of: #""slots":1"#, with: #""slots":99999999999999999999"#), "$.slots"),
      (
        body.replacingOccurrences(
          of: #""running":[]"#, with: #""running":[{"run_id":"0123456789abcdef","attempt":-1e999}]"#),
        "$.running[0].attempt"
      ),
    ]
    for (text, path) in bodies {
      XCTAssertThrowsError(try WireMessage(type: .hello, body: Data(text.utf8)).decodeBody(Hello.self)) {
        error in
        XCTAssertEqual((error as? WireError)?.code, .malformed)
        XCTAssertTrue("\(error)".contains(path), "\(error)")
      }
    }
  }

  func testARequestDecodesOnlyItsCommandsFields() throws {
    let body = #"{"command":"status","sweep":"s","worker":"not a worker id!","total":"many"}"#
    let request = try WireMessage(type: .request, body: Data(body.utf8)).decodeBody(ClientRequest.self)
    XCTAssertEqual(request, ClientRequest(command: .status, sweep: "s"))
  }
}
