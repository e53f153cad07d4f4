import Foundation
import TracSweepTesting
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The worker binary under `ProcessLifecycle`: SIGTERM stops it gracefully (docs/PROTOCOL.md section
/// 7): no new work, the running attempt gets `--grace` (1 s here), then it is handed back in
/// `goodbye` and the process exits 0. The run goes back to pending, not failed.
final class WorkerSignalTests: XCTestCase {
  func testSIGTERMHandsTheRunningAttemptBackAndTheWorkerExitsCleanly() throws {
    let cluster = ClusterHarness("worker-sigterm")
    try cluster.startCoordinator()
    let hangs = try FakeTrainer.make(in: cluster.root, behaviour: .hangs)
    try cluster.startWorker("leaving", trainer: hangs)
    let grid = try cluster.writeGrid(name: "leave", alphas: [0.2], seeds: [0], dataset: try CLI.datasetFile())
    XCTAssertEqual(try cluster.client(["submit", grid.path]).status, 0)
    _ = try cluster.waitFor("the trainer to start") { _ in FakeTrainer.invocations(of: hangs).count == 1 }

    let worker = try XCTUnwrap(cluster.workers["leaving"])
    cluster.signal(worker: "leaving", SIGTERM)
    let handedBack = try cluster.waitFor("the worker to leave and its run to be pending") {
      !worker.isRunning && $0.sweeps.first?.pending == 1
    }
    XCTAssertEqual(worker.terminationReason, .exit, cluster.logs())
    XCTAssertEqual(worker.terminationStatus, 0, cluster.logs())
    XCTAssertEqual(handedBack.sweeps.first?.failed, 0)
    XCTAssertTrue(handedBack.recentFailures.isEmpty, "\(handedBack.recentFailures)")

    // Another worker finishes it: handed back, not lost or failed.
    let fast = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .milliseconds(100)))
    try cluster.startWorker("rescuer", trainer: fast)
    let status = try cluster.waitFor("the run to be done") { $0.sweeps.first?.done == 1 }
    XCTAssertEqual(status.sweeps.first?.failed, 0)
  }
}
