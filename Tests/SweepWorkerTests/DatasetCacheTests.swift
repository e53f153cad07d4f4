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

  func testAFileFetchedAgainAfterARestartIsTakenAsCompleteAndLeavesNothingBehind() throws {
    let folder = directory()
    let cache = try DatasetCache(directory: folder)
    let content = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0) })
    let digest = SHA256Digest(of: content)
    XCTAssertTrue(try cache.append(sha256: digest, offset: 0, total: content.count, data: content))
    XCTAssertEqual(cache.held(digest), .complete)
    // A worker stopped mid-fetch of the same file earlier left a partial copy beside it.
    let partial = folder.appendingPathComponent(".\(digest).partial")
    try content.prefix(1000).write(to: partial)
    // Restarted on the same folder: the leftover goes, the complete file stays.
    let restarted = try DatasetCache(directory: folder)
    XCTAssertEqual(restarted.removeLeftovers(), [".\(digest).partial"])
    XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
    XCTAssertEqual(restarted.held(digest), .complete)
    // A fetch of a file already published completes at once (it used to fail: "file exists").
    try content.prefix(1000).write(to: partial)
    XCTAssertTrue(try restarted.append(sha256: digest, offset: 1000, total: content.count, data: Data()))
    XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
    XCTAssertEqual(try Data(contentsOf: restarted.url(for: digest)), content)
    // A partial copy of a file not complete stays, to be resumed.
    let other = SHA256Digest(of: Data("another file".utf8))
    try Data("anot".utf8).write(to: folder.appendingPathComponent(".\(other).partial"))
    XCTAssertEqual(restarted.removeLeftovers(), [])
    XCTAssertEqual(restarted.held(other), .partial(bytes: 4))
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
