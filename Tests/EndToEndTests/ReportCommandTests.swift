import Foundation
import SweepReport
import TracCore
import TracSweepTesting
import XCTest

/// `trac-sweep report` against a real coordinator (fake trainer) and offline from a CSV.
final class ReportCommandTests: XCTestCase {
  /// A run.json whose evaluation gives every run normalized reward 0.4 and cost 0.5.
  static let evaluatedRunJSON = """
    {"evaluation": {"by_threshold": [{"cost_threshold": 5, "normalized_reward": {"mean": 0.4, "std": 0.01},
      "normalized_cost": {"mean": 0.5, "std": 0.1}, "safe": true}],
      "reward_return": {"mean": 100}, "cost_return": {"mean": 2}}}
    """

  func summary(_ directory: URL) throws -> [String: Any] {
    let data = try Data(contentsOf: directory.appendingPathComponent("summary.json"))
    return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  func testAReportOfARunningSweepIsPartialThenCompleteWithFigures() throws {
    let cluster = ClusterHarness("report")
    try cluster.startCoordinator()
    let trainer = try FakeTrainer.make(
      in: cluster.root, behaviour: .init(delay: .milliseconds(100), runJSON: Self.evaluatedRunJSON))
    // alpha 0.1 and 0.5, and the base point (alpha 0.2): 3 settings x 2 seeds.
    let grid = try cluster.writeGrid(
      name: "report", alphas: [0.1, 0.5], seeds: [0, 1], dataset: try CLI.datasetFile())
    let sweep = try cluster.client(["submit", grid.path]).stdout.trimmingCharacters(
      in: .whitespacesAndNewlines)

    // No worker yet: every run is pending, the report says so and still writes every file.
    let partialDirectory = cluster.root.appendingPathComponent("partial")
    let partial = try cluster.client(["report", sweep, "--out", partialDirectory.path, "--no-figures"])
    XCTAssertEqual(partial.status, 0, partial.stderr)
    XCTAssertTrue(partial.stderr.contains("PARTIAL: 0 of 6 runs recorded"), partial.stderr)
    let completeness = try XCTUnwrap(try summary(partialDirectory)["completeness"] as? [String: Any])
    XCTAssertEqual(completeness["complete"] as? Bool, false)
    XCTAssertEqual(completeness["not_recorded_by_state"] as? [String: Int], ["pending": 6])
    let markdown = try String(
      contentsOf: partialDirectory.appendingPathComponent("report.md"), encoding: .utf8)
    XCTAssertTrue(
      markdown.contains("**Partial report: 0 of 6 runs recorded (not recorded: 6 pending).**"), markdown)

    try cluster.startWorker("a", trainer: trainer)
    _ = try cluster.waitFor("the sweep to finish") { $0.sweeps.first?.done == 6 }
    let directory = cluster.root.appendingPathComponent("complete")
    let complete = try cluster.client(["report", sweep, "--out", directory.path])
    XCTAssertEqual(complete.status, 0, complete.stderr)
    XCTAssertEqual(
      complete.stdout.trimmingCharacters(in: .whitespacesAndNewlines), directory.path + "/index.html")
    let report = try summary(directory)
    XCTAssertEqual((report["completeness"] as? [String: Any])?["complete"] as? Bool, true)
    let settings = try XCTUnwrap(report["settings"] as? [[String: Any]])
    XCTAssertEqual(
      settings.map { $0["label"] as? String }, ["trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5"],
      "by value, the base point (alpha 0.2) among them")
    XCTAssertEqual(settings.map { $0["runs"] as? Int }, [2, 2, 2])
    XCTAssertEqual(settings.first.flatMap { ($0["reward"] as? [String: Any])?["mean"] as? Double }, 0.4)
    let csv = try String(contentsOf: directory.appendingPathComponent("results.csv"), encoding: .utf8)
    XCTAssertEqual(csv.split(separator: "\n").count, 7, "a header and one row per run")
    // The figures came from the project's matplotlib and are inlined in index.html.
    let manifest = try XCTUnwrap(
      JSONSerialization.jsonObject(
        with: Data(contentsOf: directory.appendingPathComponent("figures/manifest.json"))) as? [String: Any])
    let figures = try XCTUnwrap(manifest["figures"] as? [[String: Any]])
    XCTAssertFalse(figures.isEmpty)
    let html = try String(contentsOf: directory.appendingPathComponent("index.html"), encoding: .utf8)
    XCTAssertEqual(html.components(separatedBy: "data:image/svg+xml;base64,").count - 1, figures.count)
    // On the coordinator's machine the runs' train.jsonl are read: a learning-curve figure, and every
    // run's artifacts folder in the table of runs.
    XCTAssertTrue(figures.contains { $0["kind"] as? String == "learning" }, "\(figures)")
    let artifacts = cluster.stateDirectory.appendingPathComponent("artifacts/runs").path
    XCTAssertEqual(html.components(separatedBy: "class=\"path\">\(artifacts)/").count - 1, 6, html)

    // A second report into the same directory replaces the first whole and leaves nothing beside it.
    let before = try FileManager.default.contentsOfDirectory(atPath: cluster.root.path).sorted()
    let again = try cluster.client(["report", sweep, "--out", directory.path])
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cluster.root.path).sorted(), before)
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
      ["figures", "index.html", "report.md", "results.csv", "summary.json"])
    let second = try String(contentsOf: directory.appendingPathComponent("index.html"), encoding: .utf8)
    XCTAssertEqual(second.components(separatedBy: "data:image/svg+xml;base64,").count - 1, figures.count)
  }

  func testAnUnknownSweepAndABadResultsFileAreClearErrors() throws {
    let cluster = ClusterHarness("report-errors")
    try cluster.startCoordinator()
    let unknown = try cluster.client(["report", "no-such-sweep", "--out", cluster.root.path + "/r"])
    XCTAssertNotEqual(unknown.status, 0)
    XCTAssertTrue(unknown.stderr.contains("no-such-sweep"), unknown.stderr)

    let grid = try cluster.writeGrid(name: "offline", alphas: [0.1], seeds: [0], dataset: "d.hdf5")
    let results = cluster.root.appendingPathComponent("results.csv")
    let columns =
      ["task", "algorithm"] + HyperparameterName.allCases.map(\.rawValue) + [
        "cost_threshold", "seed", "normalized_reward", "normalized_cost", "state",
      ]
    var values = HyperparameterName.allCases.map { "\($0.value(in: Hyperparameters()))" }
    values[HyperparameterName.allCases.firstIndex(of: .alpha)!] = "0.7"
    let row = ["OfflineBallCircle-v0", "trac"] + values + ["5", "0", "0.3", "0.2", "done"]
    try (columns.joined(separator: ",") + "\n" + row.joined(separator: ",") + "\n").write(
      to: results, atomically: true, encoding: .utf8)
    let out = cluster.root.appendingPathComponent("offline-report")
    let bad = try CLI.run(
      CLI.binary,
      ["report", "--grid", grid.path, "--results", results.path, "--out", out.path, "--no-figures"])
    XCTAssertEqual(bad.status, TracError.inputErrorExitStatus, bad.stderr)
    XCTAssertTrue(bad.stderr.contains("\(results.path), row 1"), bad.stderr)
    XCTAssertTrue(bad.stderr.contains("is not a run of the grid \"offline\""), bad.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written for bad input")
  }
}

/// `submit` from a client that does not share the coordinator's files: the dataset travels with it.
final class DatasetUploadTests: XCTestCase {
  func testSubmitUploadsTheDatasetSoTheSweepRunsWithoutTheClientsFile() throws {
    let cluster = ClusterHarness("upload")
    try cluster.startCoordinator()
    // The client's own copy of the dataset, beside its grid file.
    let clientDirectory = cluster.root.appendingPathComponent("client")
    try FileManager.default.createDirectory(at: clientDirectory, withIntermediateDirectories: true)
    let dataset = clientDirectory.appendingPathComponent("mine.hdf5")
    try FileManager.default.copyItem(at: URL(fileURLWithPath: try CLI.datasetFile()), to: dataset)
    let sha = try sha256Hex(ofFileAt: dataset.path)
    let grid = try cluster.writeGrid(name: "upload", alphas: [0.2], seeds: [0], dataset: "client/mine.hdf5")
    let submitted = try cluster.client(["submit", grid.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr)
    XCTAssertTrue(submitted.stderr.contains("uploaded mine.hdf5"), submitted.stderr)
    let stored = cluster.stateDirectory.appendingPathComponent("artifacts/datasets/\(sha).hdf5")
    XCTAssertTrue(FileManager.default.fileExists(atPath: stored.path))
    // The client's file is gone; the worker gets the coordinator's copy by hash.
    try FileManager.default.removeItem(at: dataset)
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds())
    try cluster.startWorker("a", trainer: trainer)
    _ = try cluster.waitFor("the run to finish") { $0.sweeps.first?.done == 1 }
    // Submitting again finds the dataset held and the sweep the same.
    try FileManager.default.copyItem(at: stored, to: dataset)
    let again = try cluster.client(["submit", grid.path])
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertFalse(again.stderr.contains("uploaded"), again.stderr)
    XCTAssertTrue(again.stderr.contains("already submitted"), again.stderr)
  }
}
