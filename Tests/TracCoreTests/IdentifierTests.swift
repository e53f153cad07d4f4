import Foundation
import TracCore
import XCTest

final class IdentifierTests: XCTestCase {
  func testEachIdentifierAcceptsItsRuleAndNothingElse() throws {
    XCTAssertNoThrow(try RunID("0123456789abcdef"))
    XCTAssertNoThrow(try SweepID("89abcdef"))
    XCTAssertNoThrow(try SHA256Digest(String(repeating: "0f", count: 32)))
    XCTAssertNoThrow(try WorkerID("node1.cluster_a-4f2a9c01"))
    XCTAssertNoThrow(try ArtifactName("policy.safetensors"))
    let hostile = [
      "", ".", "..", "../x", "/etc/passwd", "a/b", "a\u{0}b", " a", "a ", "\u{FFFD}", "né",
      String(repeating: "a", count: 10_000),
    ]
    for text in hostile {
      XCTAssertThrowsError(try RunID(text), text)
      XCTAssertThrowsError(try SweepID(text), text)
      XCTAssertThrowsError(try SHA256Digest(text), text)
      XCTAssertThrowsError(try WorkerID(text), text)
      XCTAssertThrowsError(try ArtifactName(text), text)
    }
    XCTAssertThrowsError(try RunID("0123456789ABCDEF"), "uppercase is another spelling of the same id")
    XCTAssertThrowsError(try ArtifactName(".hidden"))
    XCTAssertThrowsError(try WorkerID("-x"))
    XCTAssertThrowsError(try AttemptID(run: RunID("0123456789abcdef"), number: 0))
    XCTAssertThrowsError(try AttemptID(run: RunID("0123456789abcdef"), number: AttemptID.maxNumber + 1))
  }

  func testDecodingRefusesABadIdentifierNamingTheRule() throws {
    let good = Data(#"{"run_id":"0123456789abcdef","attempt":2}"#.utf8)
    XCTAssertEqual(try JSONDecoder().decode(AttemptID.self, from: good).number, 2)
    let bad = Data(#"{"run_id":"../../victim","attempt":2}"#.utf8)
    XCTAssertThrowsError(try JSONDecoder().decode(AttemptID.self, from: bad)) { error in
      guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
      XCTAssertTrue(context.underlyingError is InvalidIdentifier)
      XCTAssertTrue(
        context.debugDescription.contains("16 lowercase hexadecimal digits"), context.debugDescription)
    }
    // The error text is safe for a log line: control characters escaped, length bounded.
    let error = InvalidIdentifier(
      kind: "run id", value: "a\nforged line" + String(repeating: "x", count: 500), rule: "r")
    XCTAssertFalse(error.description.contains("\n"))
    XCTAssertLessThan(error.description.count, 200)
  }

  func testPathsUnderARootNeverLeaveIt() throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("contained-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: base) }
    let root = try ContainedDirectory(base.appendingPathComponent("root"))
    let outside = base.appendingPathComponent("outside")
    try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)

    XCTAssertEqual(try root.path("runs", "0123456789abcdef").path, root.url.path + "/runs/0123456789abcdef")
    for component in ["..", ".", "", "a/../../outside", "/etc", "a\u{0}b"] {
      XCTAssertThrowsError(try root.path(component), component)
    }
    // A link planted inside that points out: refused, whether the target exists or not.
    try FileManager.default.createSymbolicLink(
      at: root.url.appendingPathComponent("escape"), withDestinationURL: outside)
    XCTAssertThrowsError(try root.path("escape", "file"))
    try FileManager.default.createSymbolicLink(
      atPath: root.url.appendingPathComponent("dangling").path, withDestinationPath: "/nonexistent/x")
    XCTAssertThrowsError(try root.path("dangling"))
    // A link that stays inside is fine.
    try FileManager.default.createDirectory(
      at: root.url.appendingPathComponent("real"), withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(
      at: root.url.appendingPathComponent("alias"),
      withDestinationURL: root.url.appendingPathComponent("real"))
    XCTAssertNoThrow(try root.path("alias", "file"))
    XCTAssertFalse(root.contains(outside))
    XCTAssertTrue(root.contains(root.url.appendingPathComponent("not-yet/created")))
  }
}
