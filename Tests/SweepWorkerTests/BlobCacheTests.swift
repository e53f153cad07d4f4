import Foundation
import SweepWire
import SweepWorker
import TracCore
import XCTest

final class BlobCacheTests: XCTestCase {
  func directory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("trac-cache-\(UUID().uuidString)")
  }

  func blob(_ kind: BlobKind, _ content: Data) -> BlobRef {
    BlobRef(
      kind: kind, sha256: SHA256Digest(of: content), size: content.count, description: "\(kind.rawValue) x")
  }

  func testChunksAssembleIntoAVerifiedDataset() throws {
    let cache = try BlobCache(workDirectory: directory())
    let content = Data((0..<2_500_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
    let dataset = blob(.dataset, content)
    var offset = 0
    var complete = false
    while !complete {
      let piece = content[offset..<min(offset + BlobCache.chunkSize, content.count)]
      XCTAssertFalse(cache.contains(.dataset, dataset.sha256), "not visible before it is complete")
      complete = try cache.append(dataset, offset: offset, total: content.count, data: Data(piece))
      offset += piece.count
    }
    XCTAssertTrue(cache.contains(.dataset, dataset.sha256))
    XCTAssertEqual(try Data(contentsOf: cache.url(for: dataset)), content)
    XCTAssertEqual(try cache.url(for: dataset).deletingLastPathComponent().lastPathComponent, "datasets")
  }

  func testEachKindHasItsFolder() throws {
    let folder = directory()
    let cache = try BlobCache(workDirectory: folder)
    for (kind, name) in [(BlobKind.dataset, "datasets"), (.checkpoint, "checkpoints"), (.stage, "stages")] {
      let file = blob(kind, Data("a \(kind.rawValue)".utf8))
      XCTAssertTrue(
        try cache.append(file, offset: 0, total: file.size, data: Data("a \(kind.rawValue)".utf8)))
      XCTAssertEqual(cache.held(file), .complete)
      XCTAssertEqual(try cache.url(for: file).deletingLastPathComponent().lastPathComponent, name)
    }
  }

  func testAFileFetchedAgainAfterARestartIsTakenAsCompleteAndLeavesNothingBehind() throws {
    let folder = directory()
    let cache = try BlobCache(workDirectory: folder)
    let content = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0) })
    let dataset = blob(.dataset, content)
    let digest = dataset.sha256
    XCTAssertTrue(try cache.append(dataset, offset: 0, total: content.count, data: content))
    XCTAssertEqual(cache.held(dataset), .complete)
    // A worker stopped mid-fetch of the same file earlier left a partial copy beside it.
    let partial = folder.appendingPathComponent("datasets/.\(digest).partial")
    try content.prefix(1000).write(to: partial)
    // Restarted on the same folder: the leftover goes, the complete file stays.
    let restarted = try BlobCache(workDirectory: folder)
    XCTAssertEqual(restarted.removeLeftovers(), ["datasets/.\(digest).partial"])
    XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
    XCTAssertEqual(restarted.held(dataset), .complete)
    // A fetch of a file already published completes at once (it used to fail: "file exists").
    try content.prefix(1000).write(to: partial)
    XCTAssertTrue(try restarted.append(dataset, offset: 1000, total: content.count, data: Data()))
    XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
    XCTAssertEqual(try Data(contentsOf: restarted.url(for: dataset)), content)
    // A partial copy of a file not complete stays, to be resumed.
    let other = blob(.dataset, Data("another file".utf8))
    try Data("anot".utf8).write(to: folder.appendingPathComponent("datasets/.\(other.sha256).partial"))
    XCTAssertEqual(restarted.removeLeftovers(), [])
    XCTAssertEqual(restarted.held(other), .partial(bytes: 4))
  }

  /// Workers before the per-kind folders kept checkpoints and stages as `datasets/<sha256>.hdf5`.
  func testAWorkFolderOfTheOldLayoutKeepsItsStagesAndCheckpointsWithoutFetchingThemAgain() throws {
    let folder = directory()
    let datasets = folder.appendingPathComponent("datasets")
    try FileManager.default.createDirectory(at: datasets, withIntermediateDirectories: true)
    let stageBytes = Data("a whole stage".utf8)
    let stage = blob(.stage, stageBytes)
    try stageBytes.write(to: datasets.appendingPathComponent("\(stage.sha256).hdf5"))
    let checkpointBytes = Data("a checkpoint, half fetched".utf8)
    let checkpoint = blob(.checkpoint, checkpointBytes)
    try checkpointBytes.prefix(10).write(to: datasets.appendingPathComponent(".\(checkpoint.sha256).partial"))
    let cache = try BlobCache(workDirectory: folder)
    XCTAssertEqual(cache.held(stage), .complete, "the stage is used where the old worker left it")
    XCTAssertEqual(try Data(contentsOf: cache.url(for: stage)), stageBytes)
    XCTAssertEqual(cache.held(checkpoint), .partial(bytes: 10), "the partial checkpoint is resumed")
    XCTAssertTrue(
      try cache.append(
        checkpoint, offset: 10, total: checkpointBytes.count, data: Data(checkpointBytes.dropFirst(10))))
    XCTAssertEqual(try Data(contentsOf: cache.url(for: checkpoint)), checkpointBytes)
  }

  func testMismatchingHashIsRefusedNamingTheKindAndNothingIsKept() throws {
    let cache = try BlobCache(workDirectory: directory())
    let claimed = blob(.checkpoint, Data("the real checkpoint".utf8))
    XCTAssertThrowsError(try cache.append(claimed, offset: 0, total: 5, data: Data("other".utf8))) {
      XCTAssertTrue("\($0)".hasPrefix("checkpoint refused"), "\($0)")
    }
    XCTAssertFalse(cache.contains(.checkpoint, claimed.sha256))
    XCTAssertEqual(cache.receivedBytes(.checkpoint, claimed.sha256), 0)
  }

  func testOutOfOrderChunkIsAnError() throws {
    let cache = try BlobCache(workDirectory: directory())
    XCTAssertThrowsError(
      try cache.append(blob(.stage, Data()), offset: 10, total: 20, data: Data(count: 10))
    ) { XCTAssertTrue("\($0)".hasPrefix("stage chunk"), "\($0)") }
  }
}
