import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

final class DatasetUploadsTests: XCTestCase {
  var directory: URL!

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("uploads-\(UUID().uuidString)")
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

  func testPiecesInOrderMakeTheDatasetStoredUnderItsHash() throws {
    let uploads = DatasetUploads(store: try DatasetStore(directory: directory))
    let bytes = Data((0..<10_000).map { UInt8($0 % 251) })
    let sha = SHA256Digest(of: bytes)
    XCTAssertEqual(try uploads.status(sha256: sha, total: bytes.count).received, 0)
    var held = try uploads.receive(sha256: sha, total: bytes.count, offset: 0, data: bytes.prefix(4000))
    XCTAssertEqual(held.received, 4000)
    XCTAssertFalse(held.complete)
    XCTAssertEqual(
      try uploads.status(sha256: sha, total: bytes.count).received, 4000, "a client resumes from here")
    held = try uploads.receive(sha256: sha, total: bytes.count, offset: 4000, data: bytes.suffix(from: 4000))
    XCTAssertTrue(held.complete)
    XCTAssertEqual(try Data(contentsOf: uploads.store.url(for: sha)), bytes)
    XCTAssertEqual(try uploads.status(sha256: sha, total: bytes.count).complete, true)
  }

  func testAPieceAboveFourMiBIsRefusedAndNothingOfItKept() throws {
    let uploads = DatasetUploads(store: try DatasetStore(directory: directory))
    let bytes = Data(repeating: 7, count: DatasetUploads.maximumPiece + 1)
    let sha = SHA256Digest(of: bytes)
    XCTAssertEqual(DatasetUploads.maximumPiece, 4 << 20, "docs/PROTOCOL.md: pieces of at most 4 MiB")
    XCTAssertThrowsError(try uploads.receive(sha256: sha, total: bytes.count, offset: 0, data: bytes)) {
      error in
      XCTAssertTrue("\(error)".contains("pieces are at most \(4 << 20)"), "\(error)")
    }
    XCTAssertEqual(try uploads.status(sha256: sha, total: bytes.count).received, 0)
    // The same bytes in two pieces of at most 4 MiB are taken.
    let first = try uploads.receive(
      sha256: sha, total: bytes.count, offset: 0, data: bytes.prefix(DatasetUploads.maximumPiece))
    XCTAssertEqual(first.received, DatasetUploads.maximumPiece)
    let last = try uploads.receive(
      sha256: sha, total: bytes.count, offset: first.received, data: bytes.suffix(from: first.received))
    XCTAssertTrue(last.complete)
  }

  func testBytesThatDoNotHashToTheGivenSha256AreRefusedAndDropped() throws {
    let uploads = DatasetUploads(store: try DatasetStore(directory: directory))
    let claimed = SHA256Digest(of: Data("the real dataset".utf8))
    let sent = Data("something else!!".utf8)
    XCTAssertThrowsError(try uploads.receive(sha256: claimed, total: sent.count, offset: 0, data: sent)) {
      error in
      XCTAssertTrue("\(error)".contains("refused: its bytes hash to"), "\(error)")
    }
    XCTAssertFalse(uploads.store.contains(claimed))
    XCTAssertEqual(try uploads.status(sha256: claimed, total: sent.count).received, 0)
  }

  func testAPieceOutOfOrderOrTooLongOrABadHashIsAnError() throws {
    let uploads = DatasetUploads(store: try DatasetStore(directory: directory))
    let sha = SHA256Digest(stringLiteral: String(repeating: "a", count: 64))
    XCTAssertThrowsError(try uploads.receive(sha256: sha, total: 10, offset: 5, data: Data(count: 5))) {
      error in
      XCTAssertTrue("\(error)".contains("a piece at byte 5, but 0 bytes are held"), "\(error)")
    }
    XCTAssertThrowsError(try uploads.receive(sha256: sha, total: 10, offset: 0, data: Data(count: 11))) {
      error in
      XCTAssertTrue("\(error)".contains("more than its 10 bytes"), "\(error)")
    }
    XCTAssertThrowsError(try SHA256Digest(String("../../etc/passwd"))) { error in
      XCTAssertTrue("\(error)".contains("64 lowercase hexadecimal digits"), "\(error)")
    }
    XCTAssertThrowsError(
      try uploads.receive(sha256: sha, total: 10 << 20, offset: 0, data: Data(count: (4 << 20) + 1))
    ) { error in
      XCTAssertTrue("\(error)".contains("pieces are at most"), "\(error)")
    }
    XCTAssertThrowsError(try uploads.status(sha256: sha, total: 0))
  }
}
