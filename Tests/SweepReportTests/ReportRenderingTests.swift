import Foundation
import SweepReport
import TracCore
import XCTest

final class ReportRenderingTests: XCTestCase {
  typealias F = ReportFixtures

  func built(partial: Bool = false) throws -> ReportBuilder.Built {
    var rows = [
      F.row(F.oneAtATime, ["alpha": "0.1"], threshold: 10, seed: 0, reward: 0.4, cost: 0.5),
      F.row(F.oneAtATime, ["alpha": "0.1"], threshold: 20, seed: 0, reward: 0.2, cost: 0.7),
      F.row(F.oneAtATime, ["alpha": "0.5"], threshold: 10, seed: 0, reward: 0.9, cost: 3.0),
      F.row(F.oneAtATime, algorithm: "bc_all", threshold: 10, seed: 0, reward: 0.1, cost: 0.2),
    ]
    if partial {
      rows.append(
        F.row(F.oneAtATime, ["alpha": "0.5"], threshold: 20, seed: 1, reward: nil, cost: nil, state: "failed")
      )
    }
    return try F.build(F.oneAtATime, rows)
  }

  func testMarkdownBoldsSafeResultsAndMarksUnsafeOnes() throws {
    let text = MarkdownReport.render(try built().report, figures: [])
    XCTAssertTrue(
      text.contains("| trac alpha=0.1 † ★ | 2/4 | **0.300 ± 0.141** | **0.600 ± 0.141** | 100% |"), text)
    XCTAssertTrue(
      text.contains("| trac alpha=0.5 † *(unsafe)* | 1/4 | 0.900 ± 0.000 | 3.000 ± 0.000 | 0% |"), text)
    XCTAssertTrue(text.contains("| bc_all † | 1/4 | **0.100 ± 0.000** | **0.200 ± 0.000** | 100% |"), text)
    XCTAssertTrue(text.contains("**Partial report: 4 of 16 runs recorded"), text)
  }

  func testMarkdownOfAPartialSweepGivesTheStateOfWhatIsMissing() throws {
    let text = MarkdownReport.render(try built(partial: true).report, figures: [])
    XCTAssertTrue(text.contains("(not recorded: 1 failed, 11 not recorded)"), text)
    XCTAssertTrue(
      text.contains("- OfflineBallCircle-v0 trac alpha=0.5, cost threshold 20, seed 1: failed"), text)
  }

  func testHTMLCarriesEveryNumberInDataFieldsAndFetchesNothing() throws {
    let html = HTMLReport.render(try built().report, figures: [], figureDirectory: nil)
    XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
    XCTAssertTrue(
      html.contains(
        "<tr data-task=\"OfflineBallCircle-v0\" data-label=\"trac alpha=0.1\" data-seeds=\"1\" "
          + "class=\"safe best-safe\">"),
      html)
    XCTAssertTrue(
      html.contains("<td data-field=\"reward_mean\">0.300</td><td data-field=\"reward_std\">0.141</td>"))
    XCTAssertTrue(
      html.contains(
        "class=\"unsafe\"><th scope=\"row\">trac alpha=0.5 <span class=\"few-seeds\" title=\"1 seed\">†</span> "
          + "<span class=\"unsafe-tag\">"))
    XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("<script"))
  }

  func testLabelsAreEscapedInHTML() {
    XCTAssertEqual(HTMLReport.escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;")
  }

  func testFilesAreWrittenWholeWithoutFigures() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "report-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let written = try ReportFiles.write(try built(), to: directory, figures: nil)
    XCTAssertEqual(written.figures.count, 0)
    for name in ["index.html", "report.md", "results.csv", "summary.json"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path), name)
    }
    let summary = try XCTUnwrap(
      JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("summary.json")))
        as? [String: Any])
    XCTAssertEqual(summary["format"] as? String, "trac-sweep-report/1")
    let settings = try XCTUnwrap(summary["settings"] as? [[String: Any]])
    XCTAssertEqual(settings[1]["label"] as? String, "trac alpha=0.2")
    XCTAssertNil(settings[1]["safe_share"] as? Double, "the base point has no run: null")
    XCTAssertTrue(((settings[1]["reward"] as? [String: Any])?["mean"]) is NSNull)
    XCTAssertEqual(
      try XCTUnwrap((settings[0]["reward"] as? [String: Any])?["mean"] as? Double), 0.3, accuracy: 1e-12)
    let csv = try String(contentsOf: directory.appendingPathComponent("results.csv"), encoding: .utf8)
    let table = try CSV.parse(csv, source: "results.csv")
    XCTAssertEqual(table.rows.count, 4)
    XCTAssertEqual(
      table.rows.map { $0.last! }, ["trac alpha=0.1", "trac alpha=0.1", "trac alpha=0.5", "bc_all"])
  }

  func testAFileInTheWayOfTheOutputDirectoryIsAnError() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "report-file-\(UUID().uuidString)")
    try Data("x".utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    XCTAssertThrowsError(try ReportFiles.write(try built(), to: file, figures: nil)) { error in
      XCTAssertEqual("\(error)", "\(file.path) exists and is not a directory")
    }
  }
}
