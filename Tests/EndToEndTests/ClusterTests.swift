import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// The coordinator's guarantees (README, Running a sweep) with real processes on tcp://127.0.0.1: a
/// coordinator, workers, and a fake trainer (a shell script) so that each scenario takes seconds.
final class ClusterTests: XCTestCase {
  /// Every run of the sweep recorded exactly once: `results` has one row per run, no run twice.
  func assertRecordedOnce(
    _ cluster: ClusterHarness, sweep: String, runs: Int, file: StaticString = #filePath, line: UInt = #line
  )
    throws
  {
    let results = try cluster.client(["results", sweep, "--format", "csv"])
    XCTAssertEqual(results.status, 0, results.stderr, file: file, line: line)
    let rows = results.stdout.split(separator: "\n").dropFirst()
    let runIDs = rows.map { $0.split(separator: ",")[1] }
    XCTAssertEqual(runIDs.count, runs, results.stdout, file: file, line: line)
    XCTAssertEqual(Set(runIDs).count, runs, "a run recorded twice", file: file, line: line)
  }

  func testTwoWorkersFinishASweepWithEveryRunRecordedOnce() throws {
    let cluster = ClusterHarness("two-workers")
    try cluster.startCoordinator()
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .milliseconds(200)))
    try cluster.startWorker("a", trainer: trainer)
    try cluster.startWorker("b", trainer: trainer)
    let grid = try cluster.writeGrid(
      name: "two", alphas: [0.1, 0.2, 0.5], seeds: [0, 1], dataset: try CLI.datasetFile())
    let submitted = try cluster.client(["submit", grid.path, "--wait"])
    XCTAssertEqual(submitted.status, 0, submitted.stderr + cluster.logs())
    let sweep = String(submitted.stdout.split(separator: "\n").first ?? "")
    let status = try cluster.status()
    XCTAssertEqual(status.sweeps.first?.done, 6)
    XCTAssertEqual(Set(status.workers.map(\.id)).count, 2)
    try assertRecordedOnce(cluster, sweep: sweep, runs: 6)
    XCTAssertEqual(FakeTrainer.invocations(of: trainer).count, 6, "each run trained once")
    // The artifacts of every run are in the coordinator's state directory.
    let runs = cluster.stateDirectory.appendingPathComponent("artifacts/runs")
    let stored = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { !$0.hasPrefix(".") }
    XCTAssertEqual(stored.count, 6)
    for run in stored {
      for name in ["policy.safetensors", "run.json", "train.jsonl"] {
        XCTAssertTrue(
          FileManager.default.fileExists(atPath: runs.appendingPathComponent("\(run)/\(name)").path))
      }
    }
  }

  func testKilledWorkersRunIsRequeuedAfterTheLeaseAndRecordedOnce() throws {
    let cluster = ClusterHarness("sigkill")
    try cluster.startCoordinator()
    let slow = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .seconds(2)))
    try cluster.startWorker("doomed", trainer: slow)
    let grid = try cluster.writeGrid(name: "kill", alphas: [0.2], seeds: [0], dataset: try CLI.datasetFile())
    let sweep = try cluster.client(["submit", grid.path]).stdout.trimmingCharacters(
      in: .whitespacesAndNewlines)
    _ = try cluster.waitFor("the run to start") { $0.sweeps.first?.running == 1 }
    cluster.signal(worker: "doomed", SIGKILL)
    let fast = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .milliseconds(100)))
    try cluster.startWorker("rescuer", trainer: fast)
    let status = try cluster.waitFor("the run to be done") { $0.sweeps.first?.done == 1 }
    XCTAssertGreaterThanOrEqual(status.sweeps.first?.lostAttempts ?? 0, 1)
    try assertRecordedOnce(cluster, sweep: sweep, runs: 1)
  }

  func testStoppedWorkersLateResultIsADuplicateNotRecorded() throws {
    let cluster = ClusterHarness("sigstop")
    try cluster.startCoordinator()
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .milliseconds(800)))
    try cluster.startWorker("sleepy", trainer: trainer)
    let grid = try cluster.writeGrid(name: "stop", alphas: [0.2], seeds: [0], dataset: try CLI.datasetFile())
    let sweep = try cluster.client(["submit", grid.path]).stdout.trimmingCharacters(
      in: .whitespacesAndNewlines)
    _ = try cluster.waitFor("the run to start") { $0.sweeps.first?.running == 1 }
    cluster.signal(worker: "sleepy", SIGSTOP)
    try cluster.startWorker("awake", trainer: trainer)
    _ = try cluster.waitFor("the run to be done by the other worker") { $0.sweeps.first?.done == 1 }
    cluster.signal(worker: "sleepy", SIGCONT)
    let status = try cluster.waitFor("the late result to be counted") {
      ($0.sweeps.first?.duplicates ?? 0) >= 1
    }
    XCTAssertEqual(status.sweeps.first?.done, 1)
    try assertRecordedOnce(cluster, sweep: sweep, runs: 1)
  }

  func testCoordinatorRestartMidSweepLosesAndRepeatsNothing() throws {
    let cluster = ClusterHarness("restart")
    let heartbeat = ["--heartbeat-interval", "0.2", "--liveness", "10"]
    try cluster.startCoordinator(heartbeat)
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .milliseconds(1500)))
    try cluster.startWorker("a", trainer: trainer, slots: 2)
    try cluster.startWorker("b", trainer: trainer, slots: 2)
    let grid = try cluster.writeGrid(
      name: "restart", alphas: [0.1, 0.2, 0.5], seeds: [0, 1], dataset: try CLI.datasetFile())
    let sweep = try cluster.client(["submit", grid.path]).stdout.trimmingCharacters(
      in: .whitespacesAndNewlines)
    _ = try cluster.waitFor("runs in flight") { $0.sweeps.first?.running == 4 }
    cluster.stopCoordinator(SIGKILL)
    try cluster.startCoordinator(heartbeat)
    let status = try cluster.waitFor("the sweep to finish after the restart", timeout: 90) {
      $0.sweeps.first?.done == 6
    }
    XCTAssertEqual(status.sweeps.first?.failed, 0)
    try assertRecordedOnce(cluster, sweep: sweep, runs: 6)
    XCTAssertEqual(
      FakeTrainer.invocations(of: trainer).count, 6, "runs in flight were re-adopted, not started again")
  }

  func testFailingTrainerIsRetriedThenFailsAndItsWorkerIsQuarantined() throws {
    let cluster = ClusterHarness("failing")
    try cluster.startCoordinator()
    let broken = try FakeTrainer.make(
      in: cluster.root,
      behaviour: .fails(status: 1, stderr: "Traceback: CUDA is not a BLAS\nerror: it broke\n"))
    try cluster.startWorker("broken", trainer: broken)
    let grid = try cluster.writeGrid(
      name: "fail", alphas: [0.2], seeds: [0, 1], dataset: try CLI.datasetFile())
    XCTAssertEqual(try cluster.client(["submit", grid.path]).status, 0)
    let status = try cluster.waitFor("quarantine") { $0.workers.first?.quarantined == true }
    XCTAssertEqual(status.sweeps.first?.failed, 1, "three failed attempts fail the run")
    XCTAssertEqual(status.workers.first?.consecutiveFailures, 3)
    XCTAssertTrue(status.recentFailures.contains { $0.stderrTail.contains("error: it broke") })
    let table = try cluster.client(["status"]).stdout
    XCTAssertTrue(table.contains("QUARANTINED"), table)
    XCTAssertTrue(table.contains("error: it broke"), table)
  }

  /// Slurm's `scancel` and preemption signal every process of a job: a trainer SIGTERMed by someone
  /// else than its worker is handed back (the run requeued), not counted as a trainer failure.
  func testTrainerTerminatedFromOutsideIsHandedBackNotFailed() throws {
    let cluster = ClusterHarness("outside-sigterm")
    try cluster.startCoordinator()
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .seconds(2)))
    try cluster.startWorker("a", trainer: trainer)
    let grid = try cluster.writeGrid(
      name: "outside", alphas: [0.2], seeds: [0], dataset: try CLI.datasetFile())
    XCTAssertEqual(try cluster.client(["submit", grid.path]).status, 0)
    _ = try cluster.waitFor("the trainer to start") { _ in FakeTrainer.invocations(of: trainer).count == 1 }
    let pkill = Process()
    pkill.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
    // The worker's children only: its own command line names the trainer too.
    pkill.arguments = ["-TERM", "-P", "\(cluster.workers["a"]!.processIdentifier)"]
    try pkill.run()
    pkill.waitUntilExit()
    XCTAssertEqual(pkill.terminationStatus, 0, "no trainer process to signal")
    let status = try cluster.waitFor("the run to finish after the hand-back") { $0.sweeps.first?.done == 1 }
    XCTAssertEqual(status.sweeps.first?.failed, 0)
    XCTAssertTrue(status.recentFailures.isEmpty, "\(status.recentFailures)")
    XCTAssertEqual(status.workers.first?.consecutiveFailures, 0)
    XCTAssertEqual(FakeTrainer.invocations(of: trainer).count, 2, "started again after the hand-back")
  }
}
