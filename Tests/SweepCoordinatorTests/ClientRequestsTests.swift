import Foundation
import SweepCoordinator
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// Clients' requests, blobs and flow control without a socket.
final class ClientRequestsTests: XCTestCase {
  static let grid = """
    {"name": "small", "task": "OfflineBallCircle-v0", "dataset": "DATASET", "algorithm": "trac",
     "base": {"bc_steps": 1, "steps": 2}, "cost_thresholds": [10], "seeds": [0, 1], "eval": {"episodes": 1, "seed": 0}}
    """

  func request(_ harness: ServiceHarness, _ request: ClientRequest, attachments: [Data] = []) throws
    -> ServiceOutbox
  {
    var outbox = harness.outbox()
    try harness.clients.request(request, attachments: attachments, route: Data("client".utf8), into: &outbox)
    return outbox
  }

  func testASubmitIsAnsweredAfterItsCommitAndReadsSeeTheCommittedState() throws {
    let harness = try ServiceHarness()
    let dataset = harness.sources.appendingPathComponent("small.hdf5")
    try Data(repeating: 3, count: 3000).write(to: dataset)
    let grid = Self.grid.replacingOccurrences(of: "DATASET", with: dataset.path)
    let submitted = try request(harness, ClientRequest(command: .submit, grid: grid))
    XCTAssertTrue(submitted.replies.isEmpty)
    XCTAssertEqual(submitted.repliesAfterCommit.count, 1)
    let reply = try submitted.repliesAfterCommit[0].message.decodeBody(SubmitReply.self)
    XCTAssertEqual(reply.runs, 2)
    XCTAssertTrue(reply.created)
    // The dataset was copied into the store, by hash.
    XCTAssertTrue(harness.blobs.datasets.contains(try SHA256Digest(ofFileAt: dataset.path)))

    let status = try request(harness, ClientRequest(command: .status, sweep: "small"))
    XCTAssertTrue(status.replies.isEmpty)
    try harness.commit()
    let answer = try XCTUnwrap(try status.reads.first?.answer() as? StatusReply)
    XCTAssertEqual(answer.sweeps.map(\.total), [2])
    XCTAssertEqual(answer.sweeps.map(\.pending), [2])

    let results = try request(harness, ClientRequest(command: .results, sweep: reply.sweepID))
    let rows = try XCTUnwrap(try results.reads.first?.answer() as? ResultsReply)
    XCTAssertEqual(rows.columns, ResultRows.resultColumns)
    XCTAssertTrue(rows.rows.isEmpty)
    let report = try request(harness, ClientRequest(command: .report, sweep: reply.sweepID))
    let all = try XCTUnwrap(try report.reads.first?.answer() as? ReportDataReply)
    XCTAssertEqual(all.rows.map { $0.last }, ["pending", "pending"])

    let metrics = try request(harness, ClientRequest(command: .metrics))
    let counted = try XCTUnwrap(try metrics.reads.first?.answer() as? MetricsReply)
    XCTAssertEqual(counted.queueDepth, 2)
    XCTAssertEqual(counted.datasetBytes, 3000)

    let cancelled = try request(harness, ClientRequest(command: .cancel, sweep: "small"))
    try harness.commit()
    XCTAssertEqual(try cancelled.repliesAfterCommit[0].message.decodeBody(ChangeReply.self).affected, 2)
  }

  func testADatasetOutsideTheNamedDirectoriesIsNotRead() throws {
    let harness = try ServiceHarness()
    let outside = harness.directory.appendingPathComponent("elsewhere.hdf5")
    try Data(repeating: 3, count: 10).write(to: outside)
    let grid = Self.grid.replacingOccurrences(of: "DATASET", with: outside.path)
    let refused = refusal { _ = try self.request(harness, ClientRequest(command: .submit, grid: grid)) }
    XCTAssertEqual(refused?.code, .datasetNotAllowed)
    XCTAssertTrue(harness.scheduler.read { $0.sweeps.isEmpty })
  }

  func testAnUnknownSweepIsNamedWithTheKnownOnes() throws {
    let harness = try ServiceHarness()
    try harness.submit()
    for command in [ClientRequest.Command.cancel, .retry, .results, .report] {
      let refused = refusal { _ = try self.request(harness, ClientRequest(command: command, sweep: "nope")) }
      XCTAssertEqual(refused?.code, .unknownSweep)
      XCTAssertEqual(refused?.subject, "nope")
      XCTAssertTrue(refused?.message.contains("ballcircle-alpha") == true, refused?.message ?? "")
    }
  }

  func testAnUploadArrivesInPiecesAndIsServedInChunks() throws {
    let harness = try ServiceHarness()
    let bytes = Data((0..<5000).map { UInt8($0 % 251) })
    let sha256 = SHA256Digest(of: bytes)
    let asked = try request(harness, ClientRequest(command: .dataset, sha256: sha256, total: bytes.count))
    XCTAssertEqual(try asked.reply(as: UploadReply.self).received, 0)
    let first = try request(
      harness, ClientRequest(command: .upload, sha256: sha256, total: bytes.count, offset: 0),
      attachments: [bytes.prefix(3000)])
    XCTAssertEqual(try first.reply(as: UploadReply.self).received, 3000)
    let last = try request(
      harness, ClientRequest(command: .upload, sha256: sha256, total: bytes.count, offset: 3000),
      attachments: [bytes.suffix(2000)])
    XCTAssertEqual(try last.reply(as: UploadReply.self).complete, true)

    var outbox = harness.outbox()
    try harness.blobs.fetch(
      Fetch(sha256: sha256, offset: 4000, length: 4096), route: Data("w1".utf8), into: &outbox)
    XCTAssertEqual(outbox.replyTypes, [.chunk])
    XCTAssertEqual(try outbox.reply(as: Chunk.self), Chunk(sha256: sha256, offset: 4000, total: 5000))
    XCTAssertEqual(outbox.replies[0].message.attachments, [bytes.suffix(1000)])
    let unknown = refusal {
      try harness.blobs.fetch(
        Fetch(sha256: SHA256Digest(of: Data()), offset: 0, length: 1), route: Data("w1".utf8), into: &outbox)
    }
    XCTAssertEqual(unknown?.code, .unknownDataset)
    let outside = refusal {
      try harness.blobs.fetch(
        Fetch(sha256: sha256, offset: 6000, length: 1), route: Data("w1".utf8), into: &outbox)
    }
    XCTAssertEqual(outside?.code, .invalidInput)
    XCTAssertEqual(outside?.subject, sha256.rawValue)
  }
}

/// Flow control (docs/PROTOCOL.md, "Flow control"): requests per pass, and unread bytes per peer and
/// in all.
final class RequestGateTests: XCTestCase {
  let limits = CoordinatorService.Configuration.FlowControl(
    peerBytes: 100, totalBytes: 1000, requestsPerPass: 3, queuedMessages: 10)

  func testAPeerGetsItsRequestsPerPassThenBusyUntilTheNextPass() {
    var gate = RequestGate(limits: limits) { _ in (0, 0) }
    let (peer, other) = (Data("a".utf8), Data("b".utf8))
    for _ in 0..<3 { XCTAssertNil(gate.admit(peer, subject: nil)) }
    let busy = gate.admit(peer, subject: "abc")
    XCTAssertEqual(busy?.code, .busy)
    XCTAssertEqual(busy?.subject, "abc")
    XCTAssertNil(gate.admit(other, subject: nil), "counted per peer")
    gate.endPass()
    XCTAssertNil(gate.admit(peer, subject: nil))
  }

  func testUnreadRepliesMakeAPeerOrEveryPeerBusy() {
    var queued: [Data: Int] = [:]
    var gate = RequestGate(limits: limits) { peer in (queued[peer] ?? 0, queued.values.reduce(0, +)) }
    let (peer, other) = (Data("a".utf8), Data("b".utf8))
    queued[peer] = 100
    XCTAssertEqual(gate.admit(peer, subject: nil)?.code, .busy)
    XCTAssertTrue(
      gate.overAllowance(peer, subject: nil)?.message.contains("100 bytes of replies to this") == true)
    XCTAssertNil(gate.admit(other, subject: nil))
    queued[other] = 50
    queued[Data("c".utf8)] = 900
    XCTAssertTrue(
      gate.overAllowance(other, subject: nil)?.message.contains("1050 bytes of replies its peers") == true)
  }
}
