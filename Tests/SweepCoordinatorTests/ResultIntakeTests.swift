import Foundation
import SweepCoordinator
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// Results and checkpoints without a socket: what is checked, what is written before the commit, and
/// what the worker's ack will say.
final class ResultIntakeTests: XCTestCase {
  /// A harness with one worker holding one attempt.
  func running() throws -> (ServiceHarness, RunAssignment) {
    let harness = try ServiceHarness()
    try harness.submit()
    let assignment = try XCTUnwrap(try harness.hello("w1").commands.assignments.first)
    return (harness, assignment)
  }

  func hand(_ harness: ServiceHarness, _ result: (ResultMessage, [Data])) throws -> ServiceOutbox {
    var outbox = harness.outbox()
    try harness.intake.result(
      result.0, attachments: result.1, route: ServiceHarness.route(result.0.workerID), peerKey: nil,
      into: &outbox)
    try harness.commit()
    return outbox
  }

  func testARecordedResultHasItsFilesWrittenAndCountedBeforeItsAck() throws {
    let (harness, assignment) = try running()
    XCTAssertEqual(harness.intake.artifactBytes(), 0)
    let result = ServiceHarness.result(of: assignment)
    let outbox = try hand(harness, result)
    XCTAssertTrue(outbox.replies.isEmpty, "a result is answered by its ack, after the commit")
    XCTAssertEqual(outbox.commands.acknowledgements.map(\.disposition), [.recorded])
    XCTAssertNil(harness.intake.takeRejection(assignment.attempt))
    let folder = try harness.artifacts.folder(of: assignment.attempt.run)
    for (name, data) in zip(["run.json", "policy.safetensors"], result.1) {
      XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent(name)), data)
    }
    let bytes = result.1.reduce(0) { $0 + $1.count }
    XCTAssertEqual(harness.intake.artifactBytes(), bytes)
    XCTAssertEqual(harness.scheduler.read { $0.run(assignment.attempt.run)?.state }?.name, "done")
    let sweep = try XCTUnwrap(assignment.sweep)
    let rows = try harness.rows.results(sweep).rows
    XCTAssertEqual(rows.count, 1)
    XCTAssertEqual(rows.first?[1], assignment.attempt.run.rawValue)

    // The same result again is a duplicate: no file is touched, nothing more is counted.
    let again = try hand(harness, result)
    XCTAssertEqual(again.commands.acknowledgements.map(\.disposition), [.duplicate])
    XCTAssertEqual(harness.intake.artifactBytes(), bytes)
  }

  func testAnUnrecordedCopyThatIsReplacedIsNoLongerCounted() throws {
    let (harness, assignment) = try running()
    // Files a coordinator moved in place and died before committing.
    _ = try harness.artifacts.store(
      run: assignment.attempt.run, files: [("run.json", Data(repeating: 1, count: 5000))])
    XCTAssertEqual(harness.intake.artifactBytes(), 5000)
    let result = ServiceHarness.result(of: assignment)
    _ = try hand(harness, result)
    let walked = try FileManager.default.contentsOfDirectory(
      at: harness.artifacts.folder(of: assignment.attempt.run), includingPropertiesForKeys: nil
    ).reduce(0) { $0 + ((try? Data(contentsOf: $1).count) ?? 0) }
    XCTAssertEqual(walked, result.1.reduce(0) { $0 + $1.count })
    XCTAssertEqual(harness.intake.artifactBytes(), walked)
  }

  func testAResultOfAnotherRunIsAFailedAttemptWhoseAckSaysWhy() throws {
    let (harness, assignment) = try running()
    let result = ServiceHarness.result(of: assignment, runJSON: #"{"run_id": "0123456789abcdef"}"#)
    let outbox = try hand(harness, result)
    XCTAssertEqual(outbox.commands.acknowledgements.map(\.disposition), [.recorded])
    let reason = try XCTUnwrap(harness.intake.takeRejection(assignment.attempt))
    XCTAssertTrue(reason.hasPrefix("the coordinator refused the result: its run.json is of run"), reason)
    XCTAssertNil(harness.intake.takeRejection(assignment.attempt), "asked once")
    XCTAssertFalse(
      FileManager.default.fileExists(atPath: try harness.artifacts.folder(of: assignment.attempt.run).path))
    XCTAssertNotEqual(harness.scheduler.read { $0.run(assignment.attempt.run)?.state }?.name, "done")
  }

  func testFilesThatDoNotMatchTheirListAreRefusedBeforeTheScheduler() throws {
    let (harness, assignment) = try running()
    let (message, attachments) = ServiceHarness.result(of: assignment)
    var outbox = harness.outbox()
    let route = ServiceHarness.route("w1")
    var changed = attachments
    changed[0].append(0)
    let cases: [(ResultMessage, [Data], String)] = [
      (message, changed, "does not match its size or sha256"),
      (message, [attachments[0]], "lists 2 files but carries 1"),
    ]
    for (message, attachments, expected) in cases {
      let refused = refusal {
        try harness.intake.result(
          message, attachments: attachments, route: route, peerKey: nil, into: &outbox)
      }
      XCTAssertEqual(refused?.code, .malformed)
      XCTAssertTrue(refused?.message.contains(expected) == true, refused?.message ?? "")
    }
    // Another worker's connection may not report it.
    let stolen = refusal {
      try harness.intake.result(
        message, attachments: attachments, route: ServiceHarness.route("w2"), peerKey: nil, into: &outbox)
    }
    XCTAssertEqual(stolen?.code, .refused)
    XCTAssertTrue(outbox.commands.isEmpty)
  }

  func testACheckpointMustBeOneFileOfItsRun() throws {
    let (harness, assignment) = try running()
    var outbox = harness.outbox()
    let bytes = Data("not a checkpoint".utf8)
    let message = CheckpointMessage(
      workerID: "w1", attempt: assignment.attempt,
      checkpoint: CheckpointRef(sha256: SHA256Digest(of: bytes), size: bytes.count, step: 100))
    let twice = refusal {
      try harness.intake.checkpoint(
        message, attachments: [bytes, bytes], route: ServiceHarness.route("w1"), peerKey: nil, into: &outbox)
    }
    XCTAssertEqual(twice?.code, .malformed)
    let unreadable = refusal {
      try harness.intake.checkpoint(
        message, attachments: [bytes], route: ServiceHarness.route("w1"), peerKey: nil, into: &outbox)
    }
    XCTAssertEqual(unreadable?.code, .invalidInput)
    XCTAssertEqual(unreadable?.subject, assignment.attempt.run.rawValue)
    XCTAssertTrue(outbox.commands.isEmpty)
  }
}
