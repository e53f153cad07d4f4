import Foundation
import SweepCoordinator
import TracCore
import XCTest

final class DatasetStoreTests: XCTestCase {
  func testImportIsByContentAndChunksReadBack() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-store-\(UUID().uuidString)")
    let store = try DatasetStore(directory: root.appendingPathComponent("datasets"))
    let source = root.appendingPathComponent("SafetyBallCircle-v0-demo.hdf5")
    let content = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0) })
    try content.write(to: source)
    let stored = try store.importFile(at: source.path)
    XCTAssertEqual(stored.sha256, SHA256Digest(of: content))
    XCTAssertEqual(stored.size, content.count)
    XCTAssertEqual(try store.importFile(at: source.path), stored, "importing twice keeps one copy")
    let first = try XCTUnwrap(try store.chunk(sha256: stored.sha256, offset: 0, length: 100_000))
    let rest = try XCTUnwrap(try store.chunk(sha256: stored.sha256, offset: 100_000, length: 1 << 20))
    XCTAssertEqual(first.data + rest.data, content)
    XCTAssertEqual(first.total, content.count)
    XCTAssertNil(try store.chunk(sha256: SHA256Digest(of: Data("absent".utf8)), offset: 0, length: 10))
    XCTAssertThrowsError(try SHA256Digest(String("../../etc/passwd")), "only hashes name datasets")
    XCTAssertThrowsError(
      try store.chunk(sha256: stored.sha256, offset: content.count + 1, length: 10), "an offset past the end")
    XCTAssertThrowsError(try store.importFile(at: root.appendingPathComponent("missing.hdf5").path))
  }
}
