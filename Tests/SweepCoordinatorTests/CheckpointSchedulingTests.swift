import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// A run lost with its worker resumes from the newest checkpoint its attempt shipped, on any worker; the
/// coordinator keeps one checkpoint per run and lets go of it when the run is done. Real SQLite store,
/// restarts included.
final class CheckpointSchedulingTests: XCTestCase {
  let grid = Grids.alphaStudy()

  func checkpoint(_ byte: UInt8, step: Int) -> RunCheckpoint {
    RunCheckpoint(sha256: SHA256Digest(of: Data([byte])), size: 1000 + Int(byte), step: step)
  }

  func testTheNextAttemptOfALostRunGetsTheNewestCheckpointEvenAfterARestart() throws {
    let harness = try SchedulerHarness()  // leases: 1 s x 3
    try harness.submit(grid)
    let first = try XCTUnwrap(try harness.hello("node-a", slots: 1).assignments.first)
    XCTAssertNil(first.checkpoint, "a fresh run starts from step 0")

    let older = checkpoint(1, step: 1000)
    let newer = checkpoint(2, step: 2000)
    XCTAssertTrue(harness.scheduler.acceptsCheckpoint(from: "node-a", attempt: first.attempt, step: 1000))
    XCTAssertTrue(
      try harness.send(.checkpointShipped(worker: "node-a", attempt: first.attempt, checkpoint: older))
        .isEmpty)
    let replaced = try harness.send(
      .checkpointShipped(worker: "node-a", attempt: first.attempt, checkpoint: newer))
    XCTAssertEqual(replaced.deletedCheckpoints, [older.sha256], "the older file is let go")
    // Out of order: an older one arriving late is not kept.
    XCTAssertFalse(harness.scheduler.acceptsCheckpoint(from: "node-a", attempt: first.attempt, step: 1000))
    _ = try harness.send(.checkpointShipped(worker: "node-a", attempt: first.attempt, checkpoint: older))
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.checkpoint, newer)
    XCTAssertEqual(harness.scheduler.checkpointsHeld.runs, 1)
    XCTAssertEqual(harness.scheduler.checkpointsHeld.bytes, newer.size)

    // Another worker cannot ship for the attempt.
    _ = try harness.hello("node-b", slots: 1)
    XCTAssertFalse(harness.scheduler.acceptsCheckpoint(from: "node-b", attempt: first.attempt, step: 5000))

    // node-a goes silent (SIGKILL): the lease lapses; the coordinator restarts in between.
    harness.advance(milliseconds: 3000)
    _ = try harness.tick()
    XCTAssertEqual(harness.scheduler.attempt(first.attempt)?.outcome, .lost)
    try harness.restart()
    XCTAssertEqual(harness.scheduler.run(first.attempt.run)?.checkpoint, newer, "the checkpoint is durable")
    // A late checkpoint of the lost attempt is not kept.
    XCTAssertFalse(harness.scheduler.acceptsCheckpoint(from: "node-a", attempt: first.attempt, step: 3000))

    let second = try XCTUnwrap(try harness.hello("node-c", slots: 1).assignments.first)
    XCTAssertEqual(second.attempt, AttemptID(run: first.attempt.run, counted: 2))
    XCTAssertEqual(second.checkpoint, newer, "the next attempt resumes where the last shipped checkpoint is")

    let done = try harness.succeed(second)
    XCTAssertEqual(done.deletedCheckpoints, [newer.sha256], "a finished run's checkpoint is deleted")
    XCTAssertNil(harness.scheduler.run(first.attempt.run)?.checkpoint)
    XCTAssertEqual(harness.scheduler.checkpointsHeld.runs, 0)
    try harness.restart()
    XCTAssertNil(harness.scheduler.run(first.attempt.run)?.checkpoint)
  }

  func testAFailedAttemptDropsTheCheckpointSoTheRetryStartsFromStepZero() throws {
    let harness = try SchedulerHarness()
    try harness.submit(grid)
    let first = try XCTUnwrap(try harness.hello("node-a", slots: 1).assignments.first)
    let shipped = checkpoint(3, step: 500)
    _ = try harness.send(.checkpointShipped(worker: "node-a", attempt: first.attempt, checkpoint: shipped))
    let failure = try harness.fail(first)
    XCTAssertEqual(failure.deletedCheckpoints, [shipped.sha256])
    let retry = try XCTUnwrap(
      (failure + (try harness.hello("node-a", slots: 1))).assignments.first {
        $0.attempt.run == first.attempt.run
      })
    XCTAssertNil(retry.checkpoint, "resuming may be what failed: the retry starts from step 0")
  }
}

extension Array where Element == SchedulerCommand {
  var deletedCheckpoints: [SHA256Digest] {
    compactMap { if case .deleteCheckpoint(let sha256) = $0 { sha256 } else { nil } }
  }
}
