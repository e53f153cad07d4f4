import Foundation
import SweepCoordinator
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// The worker link without a socket: who may speak for a worker id, what hello and heartbeat answer,
/// and where the scheduler's commands go.
final class WorkerLinkTests: XCTestCase {
  func testHelloIsWelcomedAndTheWorkerGetsWork() throws {
    let harness = try ServiceHarness()
    try harness.submit()
    let outbox = try harness.hello("w1", slots: 2)
    XCTAssertEqual(outbox.replyTypes, [.welcome])
    XCTAssertEqual(outbox.replies[0].route, ServiceHarness.route("w1"))
    let welcome = try outbox.reply(as: Welcome.self)
    XCTAssertEqual(
      welcome.heartbeatIntervalMilliseconds,
      Int(SchedulerHarness.runsOnly.heartbeatInterval.wholeMilliseconds))
    XCTAssertEqual(welcome.liveness, SchedulerHarness.runsOnly.liveness)
    // The assignments wait for the commit; then they go to the worker's route, with the lease.
    XCTAssertEqual(outbox.commands.assignments.count, 2)
    let assignment = try XCTUnwrap(outbox.commands.assignments.first)
    let (route, message) = try XCTUnwrap(
      harness.link.assign(assignment, dataset: harness.blobs.datasetReference))
    XCTAssertEqual(route, ServiceHarness.route("w1"))
    let assign = try message.decodeBody(Assign.self)
    XCTAssertEqual(assign.attempt, assignment.attempt)
    XCTAssertEqual(
      assign.leaseMilliseconds, Int(SchedulerHarness.runsOnly.leaseDuration.wholeMilliseconds))
    XCTAssertEqual(assign.dataset.sha256.rawValue, Grids.datasetSHA256)
  }

  func testAWorkerSpeaksOnlyForItself() throws {
    let harness = try ServiceHarness()
    var outbox = harness.outbox()
    let hello = Hello(
      workerID: "w1", host: "node", slots: 1, trainerVersion: "test", running: [], spooled: [])
    let refused = refusal {
      try harness.link.hello(hello, route: ServiceHarness.route("w2"), peerKey: nil, into: &outbox)
    }
    XCTAssertEqual(refused?.code, .refused)
    XCTAssertEqual(refused?.subject, "w1")
    XCTAssertTrue(outbox.replies.isEmpty && outbox.commands.isEmpty)
    XCTAssertNil(harness.scheduler.read { $0.worker("w1") })
    // Nothing is sent to a worker id no connection has spoken for.
    XCTAssertNil(harness.link.cancel(try AttemptID(run: "0123456789abcdef", number: 1), on: "w1"))
  }

  func testAWorkerIDBelongsToTheKeyThatRegisteredIt() throws {
    let harness = try ServiceHarness()
    try harness.hello("w1", key: "key-a")
    var outbox = harness.outbox()
    let refused = refusal {
      try harness.link.heartbeat(
        Heartbeat(workerID: "w1", running: []), route: ServiceHarness.route("w1"), peerKey: "key-b",
        into: &outbox)
    }
    XCTAssertEqual(refused?.code, .keyMismatch)
    XCTAssertEqual(refused?.subject, "key-b")
    let goodbye = refusal {
      try harness.link.goodbye(
        Goodbye(workerID: "w1", released: []), route: ServiceHarness.route("w1"), peerKey: "key-b",
        into: &outbox)
    }
    XCTAssertEqual(goodbye?.code, .keyMismatch)
    // The key that registered it still speaks for it.
    try harness.link.heartbeat(
      Heartbeat(workerID: "w1", running: []), route: ServiceHarness.route("w1"), peerKey: "key-a",
      into: &outbox)
    XCTAssertEqual(try outbox.reply(as: Pong.self).known, true)
  }

  func testAnUnknownWorkersHeartbeatAsksForAHello() throws {
    let harness = try ServiceHarness()
    var outbox = harness.outbox()
    try harness.link.heartbeat(
      Heartbeat(workerID: "w9", running: []), route: ServiceHarness.route("w9"), peerKey: nil, into: &outbox)
    XCTAssertEqual(outbox.replyTypes, [.pong])
    XCTAssertEqual(try outbox.reply(as: Pong.self).known, false)
    // The pong is the request: no second one after the commit.
    XCTAssertFalse(outbox.commands.contains { if case .requestHello = $0 { true } else { false } })
    let goodbye = refusal {
      try harness.link.goodbye(
        Goodbye(workerID: "w9", released: []), route: ServiceHarness.route("w9"), peerKey: nil, into: &outbox)
    }
    XCTAssertEqual(goodbye?.code, .unknownWorker)
  }

  func testProgressIsShownWhileItsAttemptRunsAndForgottenWithItsAck() throws {
    let harness = try ServiceHarness()
    try harness.submit()
    let assignment = try XCTUnwrap(try harness.hello("w1").commands.assignments.first)
    let report = AttemptProgress(
      attempt: assignment.attempt, phase: "bc", step: 10, totalSteps: 1000, loss: 0.5)
    let stranger = AttemptProgress(
      attempt: try AttemptID(run: "0123456789abcdef", number: 1), phase: "bc", step: 1, totalSteps: 2,
      loss: nil)
    var outbox = harness.outbox()
    try harness.link.heartbeat(
      Heartbeat(workerID: "w1", running: [assignment.attempt], progress: [report, stranger]),
      route: ServiceHarness.route("w1"), peerKey: nil, into: &outbox)
    try harness.commit()
    let running = harness.link.runningProgress()
    XCTAssertEqual(running.map(\.run), [assignment.attempt.run], "only attempts the worker holds")
    XCTAssertEqual(running.first?.progress, report)
    let status = try harness.views.status(nil)
    XCTAssertEqual(status.progress.map(\.step), [10])
    let ack = harness.link.acknowledge(
      assignment.attempt, of: "w1", disposition: .recorded, rejected: nil)
    XCTAssertEqual(try ack?.message.decodeBody(Ack.self), Ack(attempt: assignment.attempt, duplicate: false))
    XCTAssertTrue(harness.link.runningProgress().isEmpty)
  }
}
