import Foundation
import SweepReport
import TracCore
import XCTest

/// What the report tells beyond its tables: the training setup, the base point on every curve, the
/// learning curves, every run with its artifacts; and that writing it again replaces it whole.
final class ReportStoryTests: XCTestCase {
  typealias F = ReportFixtures

  var scratch: URL!

  override func setUpWithError() throws {
    scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
      "report-story-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(at: scratch)
  }

  /// alpha varied over 0.5 and 0.1 (in that order), the base at 0.2 which `vary` does not list.
  static let unsortedGrid = F.grid(
    """
    {"name": "base-test", "task": "OfflineBallCircle-v0", "dataset": "data/ballcircle.hdf5",
     "algorithm": ["trac", "bc_safe"], "base": {"alpha": 0.2, "steps": 100, "bc_steps": 10, "batch_size": 16},
     "vary": {"alpha": [0.5, 0.1]}, "design": "one_at_a_time",
     "cost_thresholds": [20], "seeds": [0, 1], "eval": {"episodes": 3, "seed": 7}}
    """)

  /// Every run of `unsortedGrid`, each with a run id, and a policy path under `scratch` when `folders`.
  func rows(reward: Double = 0.3) -> [[String]] {
    var rows: [[String]] = []
    for alpha in ["0.5", "0.1", "0.2"] {
      for seed: UInt64 in [0, 1] {
        rows.append(
          F.row(
            Self.unsortedGrid, ["alpha": alpha], threshold: 20, seed: seed, reward: reward, cost: 0.5,
            runID: "run-\(alpha)-\(seed)"))
      }
    }
    for seed: UInt64 in [0, 1] {
      rows.append(
        F.row(
          Self.unsortedGrid, algorithm: "bc_safe", threshold: 20, seed: seed, reward: 0.1, cost: 0.2,
          runID: "run-bc-\(seed)"))
    }
    return rows
  }

  func build(_ rows: [[String]], folder: ((RunObservation) -> RunFolder)? = nil) throws -> ReportBuilder.Built
  {
    try ReportBuilder(grid: Self.unsortedGrid).build(
      table: RunTable(columns: F.columns, rows: rows), source: "results.csv",
      generatedAt: Date(timeIntervalSince1970: 0), folder: folder)
  }

  // MARK: one_at_a_time

  func testTheBasePointIsOnTheCurveAndRowsAreSortedByValue() throws {
    let built = try build(rows())
    XCTAssertEqual(
      built.report.settings.map(\.label), ["trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5", "bc_safe"])
    let curve = try XCTUnwrap(built.report.sensitivity.first?.curves.first)
    XCTAssertEqual(curve.values, [.real(0.1), .real(0.2), .real(0.5)])
    XCTAssertEqual(curve.labels, ["trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5"])
    let html = HTMLReport.render(built.report, figures: [], figureDirectory: nil)
    XCTAssertTrue(html.contains("<td data-field=\"values\">0.1, 0.2 (base), 0.5</td>"), html)
    let markdown = MarkdownReport.render(built.report, figures: [])
    XCTAssertTrue(markdown.contains("| alpha | 0.1, 0.2 (base), 0.5 |"), markdown)
  }

  func testSafeShareIsAPercentageAndFewSeedsAreMarked() throws {
    var rows = rows()
    rows[0] = F.row(Self.unsortedGrid, ["alpha": "0.5"], threshold: 20, seed: 0, reward: 0.3, cost: 1.5)
    let built = try build(rows)
    XCTAssertEqual(built.report.settings.map(\.seeds), [2, 2, 2, 2])
    let html = HTMLReport.render(built.report, figures: [], figureDirectory: nil)
    XCTAssertTrue(html.contains("<td data-field=\"safe_share\">50%</td>"), html)
    XCTAssertTrue(html.contains("<td data-field=\"safe_share\">100%</td>"), html)
    XCTAssertTrue(html.contains("trac alpha=0.5 <span class=\"few-seeds\" title=\"2 seeds\">†</span>"), html)
    XCTAssertTrue(html.contains("rests on fewer than 3 seeds"), html)
    // With three seeds nothing is marked.
    let three = F.grid(
      """
      {"name": "three", "task": "OfflineBallCircle-v0", "dataset": "d.hdf5", "algorithm": "trac",
       "base": {"steps": 100, "bc_steps": 10}, "cost_thresholds": [20], "seeds": [0, 1, 2]}
      """)
    let full = try F.build(
      three, (0..<3).map { F.row(three, threshold: 20, seed: UInt64($0), reward: 0.3, cost: 0.5) })
    let page = HTMLReport.render(full.report, figures: [], figureDirectory: nil)
    XCTAssertFalse(page.contains("class=\"few-seeds") || page.contains("rests on fewer"), page)
    let markdown = MarkdownReport.render(full.report, figures: [])
    XCTAssertFalse(
      markdown.split(separator: "\n").contains { $0.hasPrefix("|") && $0.contains("†") }, markdown)
  }

  // MARK: Setup

  func testTheSetupListsEveryHyperparameterAndWhatTheRunsRecorded() throws {
    let runJSON = """
      {"run_id": "x", "dataset_path": "/data/ballcircle.hdf5", "trainer_version": "0.1.0",
       "spec": {"dataset_sha256": "ab12cd", "trainer_format_version": 2, "eval_episodes": 3, "eval_seed": 7},
       "data": {"episodes": 120, "transitions": 24000}}
      """
    let folder = RunFolder(
      directory: "/artifacts/runs/x", record: RunFileRecord(json: Data(runJSON.utf8)), trac: [])
    let built = try build(rows(), folder: { _ in folder })
    let setup = built.report.setup
    XCTAssertEqual(setup.hyperparameters.map(\.name), HyperparameterName.allCases.map(\.rawValue))
    XCTAssertEqual(setup.tasks.first?.datasetSHA256, ["ab12cd"])
    XCTAssertEqual(setup.tasks.first?.episodes, [120])
    XCTAssertEqual(setup.runFilesRead, 8)
    let html = HTMLReport.render(built.report, figures: [], figureDirectory: nil)
    for needle in [
      "<tr data-setup=\"Dataset of OfflineBallCircle-v0\"><th scope=\"row\">Dataset of OfflineBallCircle-v0</th>"
        + "<td>ballcircle.hdf5; grid path data/ballcircle.hdf5; sha256 ab12cd; 120 episodes (24000 transitions)</td>",
      "<td>100 updates in all; TraC&#39;s first 10 (bc_steps) are BC</td>",
      "<tr data-setup=\"Warm-up\">",
      "<tr data-setup=\"Batch size\"><th scope=\"row\">Batch size</th><td>16</td>",
      "<td>3 episodes per run, evaluation seed 7</td>",
      "<td>2 (the runs&#39; run.json); trainer 0.1.0</td>",
      "<tr data-hyperparameter=\"alpha\"><th scope=\"row\">alpha</th><td data-field=\"base\">0.2</td>"
        + "<td data-field=\"varied\">0.5, 0.1</td>",
    ] {
      XCTAssertTrue(html.contains(needle), needle)
    }
    for name in HyperparameterName.allCases {
      XCTAssertTrue(html.contains("<tr data-hyperparameter=\"\(name.rawValue)\">"), name.rawValue)
    }
    // Without the runs' folders the page says what it lacks, and gives the grid's values.
    let bare = try build(rows())
    let text = MarkdownReport.render(bare.report, figures: [])
    XCTAssertTrue(text.contains("sha256 not in the report's input (no run.json was read"), text)
    XCTAssertTrue(text.contains("| Evaluation | 3 episodes per run, evaluation seed 7 |"), text)
    XCTAssertTrue(
      text.contains(
        "| Trainer format | \(RunSpec.trainerFormatVersion) (this build (no run.json was read)) |"),
      text)
  }

  // MARK: Learning curves and runs

  func writeRunFolder(_ runID: String, losses: [(Int, Double, Double?)]) throws -> String {
    let directory = scratch.appendingPathComponent("artifacts/runs/\(runID)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let lines =
      [#"{"phase":"bc","step":5,"loss":9.0}"#]
      + losses.map { step, loss, accuracy in
        "{\"phase\":\"trac\",\"step\":\(step),\"loss\":\(loss)"
          + (accuracy.map { ",\"accuracy\":\($0)" } ?? "") + "}"
      }
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(
      to: directory.appendingPathComponent("train.jsonl"))
    try Data(#"{"spec": {"dataset_sha256": "ff00"}}"#.utf8).write(
      to: directory.appendingPathComponent("run.json"))
    return directory.appendingPathComponent("policy.safetensors").path
  }

  func testLearningCurvesAreMeansOverEachSettingsRunsFromTrainJSONL() throws {
    var rows = rows()
    let policy = F.columns.count
    var columns = F.columns
    columns.append("policy")
    for index in rows.indices {
      let runID = rows[index][F.columns.firstIndex(of: "run_id")!]
      let seed = Double(rows[index][F.columns.firstIndex(of: "seed")!])!
      rows[index].append(
        try writeRunFolder(runID, losses: [(20, 1.0 + seed, 0.5), (30, 0.5 + seed, 0.7 + seed / 10)]))
    }
    XCTAssertEqual(policy, columns.count - 1)
    let built = try ReportBuilder(grid: Self.unsortedGrid).build(
      table: RunTable(columns: columns, rows: rows), source: "results.csv",
      folder: { RunFolders.read(policyPath: $0.fields["policy"], runID: $0.runID, roots: []) })
    let curves = try XCTUnwrap(built.report.learningCurves.first)
    XCTAssertEqual(curves.runs, 6, "TraC runs only")
    XCTAssertEqual(curves.runsRead, 6)
    XCTAssertNil(curves.problem)
    XCTAssertEqual(curves.settings.map(\.label), ["trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5"])
    let first = curves.settings[0]
    XCTAssertEqual(first.steps, [20, 30], "the BC line is left out")
    // seeds 0 and 1: losses 1 and 2 at step 20, 0.5 and 1.5 at step 30
    XCTAssertEqual(first.loss.means, [1.5, 1.0])
    XCTAssertEqual(first.loss.stds[0]!, 0.5.squareRoot(), accuracy: 1e-12)
    XCTAssertEqual(first.accuracy.means[1]!, 0.75, accuracy: 1e-12)
    XCTAssertEqual(built.report.setup.tasks.first?.datasetSHA256, ["ff00"])
    // Every run with its folder, in the HTML and report.md.
    let html = HTMLReport.render(built.report, figures: [], figureDirectory: nil)
    let folder = scratch.appendingPathComponent("artifacts/runs/run-0.1-1").path
    XCTAssertTrue(
      html.contains(
        "<tr class=\"safe\" data-run=\"run-0.1-1\"><td data-field=\"run_id\"><code>run-0.1-1</code></td>"
          + "<td data-field=\"setting\">trac alpha=0.1</td><td data-field=\"cost_threshold\">20</td>"
          + "<td data-field=\"seed\">1</td><td data-field=\"reward\">0.300</td><td data-field=\"cost\">0.500</td>"
          + "<td data-field=\"state\">done</td><td data-field=\"artifacts\" class=\"path\">\(folder)</td></tr>"
      ),
      html)
    XCTAssertFalse(html.contains("Learning curves not shown"), html)
    let markdown = MarkdownReport.render(built.report, figures: [])
    XCTAssertTrue(
      markdown.contains("| run-0.1-1 | trac alpha=0.1 | 20 | 1 | 0.300 | 0.500 | done | \(folder) |"))
  }

  func testUnreadableTrainingLogsAreNamedOnThePageAndMissingRunsListed() throws {
    var rows = rows()
    rows[0] = F.row(
      Self.unsortedGrid, ["alpha": "0.5"], threshold: 20, seed: 0, reward: nil, cost: nil, state: "failed",
      runID: "run-failed")
    let built = try build(
      rows,
      folder: {
        RunFolders.read(policyPath: "/nowhere/\($0.runID!)/policy.safetensors", runID: $0.runID, roots: [])
      })
    let curves = try XCTUnwrap(built.report.learningCurves.first)
    XCTAssertEqual(curves.runsRead, 0)
    XCTAssertEqual(curves.problem, "no run.json or train.jsonl in /nowhere/run-0.1-0")
    let html = HTMLReport.render(built.report, figures: [], figureDirectory: nil)
    XCTAssertTrue(
      html.contains("Learning curves not shown: the TraC runs&#39; train.jsonl files are not readable here"),
      html)
    XCTAssertTrue(
      html.contains(
        "<tr class=\"not-recorded\" data-run=\"run-failed\"><td data-field=\"run_id\"><code>run-failed</code></td>"
          + "<td data-field=\"setting\">trac alpha=0.5</td>"),
      html)
    XCTAssertTrue(
      html.contains("<td data-field=\"state\">failed</td><td data-field=\"artifacts\" class=\"path\">-</td>"))
  }

  func testAMalformedTrainingLogLineIsNamed() throws {
    _ = try writeRunFolder("bad", losses: [])
    let directory = scratch.appendingPathComponent("artifacts/runs/bad")
    try Data("{\"phase\":\"trac\",\"step\":1,\"loss\":0.5}\nnot json\n".utf8).write(
      to: directory.appendingPathComponent("train.jsonl"))
    let folder = RunFolders.read(
      policyPath: nil, runID: "bad", roots: [scratch.appendingPathComponent("artifacts")])
    XCTAssertEqual(folder.directory, directory.path)
    XCTAssertEqual(
      folder.tracProblem,
      "\(directory.appendingPathComponent("train.jsonl").path), line 2: not a training log line (step, phase, loss)"
    )
    XCTAssertEqual(folder.record?.datasetSHA256, "ff00")
  }

  // MARK: Tables and numbers

  func testTheHTMLHasThePerThresholdTableEvenForOneThreshold() throws {
    let html = HTMLReport.render(try build(rows()).report, figures: [], figureDirectory: nil)
    XCTAssertTrue(html.contains("<h3>Per cost threshold</h3>"), html)
    XCTAssertTrue(
      html.contains(
        "<td class=\"safe\" data-threshold=\"20\" data-field=\"reward\">0.300 ± 0.000 †</td>"), html)
  }

  func testResultsCSVPrintsTheShortestDecimals() throws {
    var rows = rows()
    rows[0][F.columns.firstIndex(of: "normalized_cost")!] = "0.30000000000000004"
    rows[0][F.columns.firstIndex(of: "normalized_reward")!] = "1.4200000000000006"
    rows[0][F.columns.firstIndex(of: "alpha")!] = "0.50"
    let built = try build(rows)
    let row = try XCTUnwrap(built.results.rows.first { $0.contains("run-0.5-0") })
    XCTAssertEqual(row[built.results.columns.firstIndex(of: "normalized_reward")!], "1.42")
    XCTAssertEqual(row[built.results.columns.firstIndex(of: "normalized_cost")!], "0.3")
    // The grid's own values are copied as they came.
    XCTAssertEqual(row[built.results.columns.firstIndex(of: "alpha")!], "0.50")
    XCTAssertEqual(row[built.results.columns.firstIndex(of: "cost_threshold")!], "20.0")
    XCTAssertEqual(row[built.results.columns.firstIndex(of: "seed")!], "0")
    XCTAssertEqual(row[built.results.columns.firstIndex(of: "steps")!], "100")
  }

  // MARK: Writing

  /// A figure script: `/bin/sh` running a script that writes one figure, or fails.
  func figureScript(fails: Bool) throws -> ProjectScript {
    let script = scratch.appendingPathComponent(fails ? "fail.sh" : "draw.sh")
    let body =
      fails
      ? "echo 'report_figures: the summary is broken' >&2\nexit 3\n"
      : """
      mkdir -p "$3" || exit 1
      printf '<svg xmlns="http://www.w3.org/2000/svg"/>' > "$3/one.svg"
      printf 'png' > "$3/one.png"
      printf '{"figures": [{"name": "one", "task": "OfflineBallCircle-v0", "kind": "scatter", "title": "One", \
      "caption": "A figure.", "png": "one.png", "svg": "one.svg"}]}' > "$3/manifest.json"

      """
    try Data(body.utf8).write(to: script)
    return ProjectScript(python: URL(fileURLWithPath: "/bin/sh"), script: script)
  }

  func entries(_ directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
  }

  func testWritingTwiceReplacesTheReportWholeAndLeavesNoFolderBehind() throws {
    let parent = scratch.appendingPathComponent("reports")
    let out = parent.appendingPathComponent("demo")
    let first = try ReportFiles.write(
      try build(rows(reward: 0.3)), to: out, figures: try figureScript(fails: false))
    XCTAssertEqual(first.figures.map(\.name), ["one"])
    XCTAssertNil(first.figureProblem)
    // What an earlier version left behind when its second run failed.
    try FileManager.default.createDirectory(
      at: out.appendingPathComponent(".figures-4242"), withIntermediateDirectories: false)
    let second = try ReportFiles.write(
      try build(rows(reward: 0.4)), to: out, figures: try figureScript(fails: false))
    XCTAssertEqual(second.figures.map(\.name), ["one"])
    XCTAssertEqual(try entries(parent), ["demo"], "no staging folder beside the report")
    XCTAssertEqual(
      try entries(out), ["figures", "index.html", "report.md", "results.csv", "summary.json"])
    let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
    XCTAssertTrue(html.contains("<td data-field=\"reward_mean\">0.400</td>"), "the new numbers")
    XCTAssertTrue(html.contains("data:image/svg+xml;base64,"), "the new figures inlined")
    XCTAssertTrue(html.contains("figures/ (PNG and SVG)"))
    XCTAssertFalse(html.contains("No figures"))
  }

  func testAFailedFigureStepGivesAReportThatSaysSo() throws {
    let out = scratch.appendingPathComponent("demo")
    _ = try ReportFiles.write(try build(rows(reward: 0.3)), to: out, figures: try figureScript(fails: false))
    let written = try ReportFiles.write(
      try build(rows(reward: 0.4)), to: out, figures: try figureScript(fails: true))
    XCTAssertEqual(written.figures.count, 0)
    XCTAssertEqual(
      written.figureProblem, "fail.sh exited with status 3: report_figures: the summary is broken")
    XCTAssertEqual(try entries(scratch).filter { $0.hasPrefix(".") }, [])
    XCTAssertEqual(try entries(out), ["index.html", "report.md", "results.csv", "summary.json"])
    let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
    XCTAssertTrue(
      html.contains(
        "<b>No figures:</b> the figures could not be made: fail.sh exited with status 3: report_figures: the summary "
          + "is broken"), html)
    XCTAssertTrue(html.contains("; no figures."), "the footer lists no figures/")
    XCTAssertFalse(html.contains("figures/ (PNG and SVG)"))
    let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    XCTAssertTrue(markdown.contains("**No figures:** the figures could not be made"), markdown)
    // Without --no-figures' script, the page says the figures were not asked for.
    _ = try ReportFiles.write(try build(rows()), to: out, figures: nil)
    XCTAssertTrue(
      try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8).contains(
        "the report was made without figures (--no-figures)."))
  }

  func testADirectoryWithOtherFilesIsNotReplacedAndAbandonedStagingIsCleared() throws {
    let out = scratch.appendingPathComponent("mine")
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    try Data("keep".utf8).write(to: out.appendingPathComponent("notes.txt"))
    XCTAssertThrowsError(try ReportFiles.write(try build(rows()), to: out, figures: nil)) { error in
      XCTAssertTrue(
        "\(error)".contains("\(out.path) holds files a report does not write (notes.txt)"), "\(error)")
    }
    XCTAssertEqual(try entries(out), ["notes.txt"])
    XCTAssertEqual(try entries(scratch), ["mine"])
    // A staging folder of a report that was killed (no such process) goes with the next report.
    let report = scratch.appendingPathComponent("report")
    let abandoned = scratch.appendingPathComponent(".report.report-999999999-0badc0de")
    try FileManager.default.createDirectory(at: abandoned, withIntermediateDirectories: false)
    _ = try ReportFiles.write(try build(rows()), to: report, figures: nil)
    XCTAssertEqual(try entries(scratch), ["mine", "report"])
  }
}
