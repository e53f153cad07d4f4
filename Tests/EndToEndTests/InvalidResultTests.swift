import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// Nothing recorded on trust, with real processes: a worker whose trainer "succeeds" without what the
/// run asked for gets its result refused; nothing is recorded or cached, the failure and its reason are
/// in `status`, and the worker is quarantined like one whose trainer fails.
final class InvalidResultTests: XCTestCase {
  func testAResultWithoutTheAskedEvaluationIsRefusedVisiblyAndNotCached() throws {
    let cluster = ClusterHarness("invalid-result")
    try cluster.startCoordinator(["--heartbeat-interval", "0.1", "--max-attempts", "2"])
    // A run.json of the run (the fake adds its run_id) without the evaluation the grid asks for.
    let careless = try FakeTrainer.make(
      in: cluster.root, behaviour: .init(runJSON: #"{"format": "trac-run/stub"}"# + "\n"))
    try cluster.startWorker("careless", trainer: careless)
    let grid = try cluster.writeGrid(
      name: "refused", alphas: [0.2], seeds: [0], dataset: try CLI.datasetFile())
    let sweep = try cluster.client(["submit", grid.path]).stdout.trimmingCharacters(
      in: .whitespacesAndNewlines)
    let status = try cluster.waitFor("the run to fail") { $0.sweeps.first?.failed == 1 }
    XCTAssertEqual(status.sweeps.first?.done, 0)
    let failure = try XCTUnwrap(status.recentFailures.first)
    XCTAssertTrue(failure.stderrTail.contains("refused the result"), failure.stderrTail)
    XCTAssertTrue(failure.stderrTail.contains("no evaluation"), failure.stderrTail)
    let results = try cluster.client(["results", sweep, "--format", "csv"])
    XCTAssertEqual(results.stdout.split(separator: "\n").count, 1, "a header and no row: \(results.stdout)")
    let artifacts = cluster.stateDirectory.appendingPathComponent("artifacts/runs")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: artifacts.path), [], "no file kept")
    let log = try String(
      contentsOf: cluster.root.appendingPathComponent("worker-careless.log"), encoding: .utf8)
    XCTAssertTrue(log.contains("not recorded: the coordinator refused the result"), "the worker is told why")

    // Retried with an honest trainer, the same run is recorded: the refused result was not cached.
    cluster.signal(worker: "careless", SIGTERM)
    let honest = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds())
    try cluster.startWorker("honest", trainer: honest)
    XCTAssertEqual(try cluster.client(["retry", sweep, "--failed"]).status, 0)
    _ = try cluster.waitFor("the run to be recorded") { $0.sweeps.first?.done == 1 }
  }
}
