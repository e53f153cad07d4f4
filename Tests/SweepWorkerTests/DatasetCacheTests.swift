import Foundation
import SweepWorker
import TracCore
import XCTest

final class DatasetCacheTests: XCTestCase {
  func directory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("trac-cache-\(UUID().uuidString)")
  }

  func testChunksAssembleIntoAVerifiedDataset() throws {
    let cache = try DatasetCache(directory: directory())
    let content = Data((0..<2_500_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
    let digest = SHA256Digest(of: content)
    var offset = 0
    var complete = false
    while !complete {
      let piece = content[offset..<min(offset + DatasetCache.chunkSize, content.count)]
      XCTAssertFalse(cache.contains(digest), "not visible before it is complete")
      complete = try cache.append(sha256: digest, offset: offset, total: content.count, data: Data(piece))
      offset += piece.count
    }
    XCTAssertTrue(cache.contains(digest))
    XCTAssertEqual(try Data(contentsOf: cache.url(for: digest)), content)
  }

  func testMismatchingHashIsRefusedAndNothingIsKept() throws {
    let cache = try DatasetCache(directory: directory())
    let claimed = SHA256Digest(of: Data("the real dataset".utf8))
    XCTAssertThrowsError(try cache.append(sha256: claimed, offset: 0, total: 5, data: Data("other".utf8))) {
      XCTAssertTrue("\($0)".contains("refused"), "\($0)")
    }
    XCTAssertFalse(cache.contains(claimed))
    XCTAssertEqual(cache.receivedBytes(claimed), 0)
  }

  func testOutOfOrderChunkIsAnError() throws {
    let cache = try DatasetCache(directory: directory())
    XCTAssertThrowsError(
      try cache.append(
        sha256: SHA256Digest(of: Data()), offset: 10, total: 20, data: Data(count: 10)))
  }
}
