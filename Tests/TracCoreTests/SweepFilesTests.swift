import Foundation
import TracCore
import XCTest

/// The grid files shipped under `sweeps/` parse, and their run counts are the ones `sweeps/README.md`
/// tells a user to expect (and budget CPU-hours for).
final class SweepFilesTests: XCTestCase {
  static let sweepsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("sweeps")

  /// A row of the README's table: `| `name.json` | paper | runs | CPU-hours | ... |`.
  struct DocumentedFile {
    var runs: Int
    var cpuHours: Int
  }

  static func readme() throws -> String {
    try String(contentsOf: sweepsDirectory.appendingPathComponent("README.md"), encoding: .utf8)
  }

  /// `file -> (runs, CPU-hours)` from the README's table rows.
  static func documentedFiles() throws -> [String: DocumentedFile] {
    var rows: [String: DocumentedFile] = [:]
    for line in try readme().split(separator: "\n") where line.hasPrefix("| `") {
      let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      guard cells.count > 4, cells[1].hasSuffix(".json`") else { continue }
      let name = String(cells[1].dropFirst().dropLast())
      // "< 1": less than half an hour, which rounds to 0.
      guard let runs = Int(cells[3]), let hours = cells[4] == "< 1" ? 0 : Int(cells[4]) else {
        XCTFail(
          "sweeps/README.md: the runs or CPU-hours cell of \(name) is not a number: \(cells[3]), \(cells[4])")
        continue
      }
      XCTAssertNil(rows[name], "sweeps/README.md lists \(name) twice")
      rows[name] = DocumentedFile(runs: runs, cpuHours: hours)
    }
    return rows
  }

  static func grid(_ file: String) throws -> GridFile {
    try GridFile(parsing: Data(contentsOf: sweepsDirectory.appendingPathComponent(file)))
  }

  func testEveryGridFileParsesAndHasTheDocumentedRunsAndHours() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: Self.sweepsDirectory.path)
      .filter { $0.hasSuffix(".json") }.sorted()
    XCTAssertTrue(files.contains("paper-fig6-segments.json"), "found \(files)")
    let documented = try Self.documentedFiles()
    XCTAssertEqual(Set(documented.keys), Set(files), "sweeps/README.md's table and the files differ")
    for file in files {
      let grid: GridFile
      do {
        grid = try Self.grid(file)
      } catch {
        XCTFail("\(file): \(error)")
        continue
      }
      XCTAssertEqual(grid.runCount, grid.runs.count, file)
      XCTAssertEqual(grid.runCount, documented[file]?.runs, "\(file): runs in sweeps/README.md")
      // The hours are `trac-sweep plan FILE`'s, the file alone, rounded.
      let hours = Int(StudyPlan(grids: [grid]).total.cpuHours.rounded())
      XCTAssertEqual(hours, documented[file]?.cpuHours, "\(file): CPU-hours in sweeps/README.md")
    }
  }

  /// The totals the README states are `trac-sweep plan`'s for the files in the table's order.
  func testTheStatedTotalsAreThePlansOfTheTablesFiles() throws {
    let readme = try Self.readme()
    let order = readme.split(separator: "\n").filter { $0.hasPrefix("| `paper-") }.map {
      String($0.split(separator: "`")[1])
    }
    func total(_ family: TaskFamily?) throws -> StudyPlan.Line {
      let grids = try order.map(Self.grid).filter { grid in
        family.map { family in grid.tasks.allSatisfy { $0.task.family == family } } ?? true
      }
      return StudyPlan(grids: grids).total
    }
    for (label, family) in [
      ("all", nil), ("BulletGym", .bulletGym), ("CarPush1", .safetyGymnasium),
      ("MetaDrive", TaskFamily.metadrive) as (String, TaskFamily?),
    ] {
      let plan = try total(family)
      let sentence =
        "\(label): \(plan.runs) runs, \(plan.newRuns) distinct, \(plan.stageUnits) shared BC stages, "
        + "\(Int(plan.cpuHours.rounded())) CPU-hours"
      XCTAssertTrue(readme.contains(sentence), "sweeps/README.md should say: \(sentence)")
    }
  }

  /// The paper's studies use its protocol (docs/ALGORITHM.md) on DSRL's files: seven on BulletGym
  /// tasks, five on the Safety-Gymnasium task CarPush1 and five on MetaDrive-mediummean, each with its
  /// family's defaults and thresholds.
  func testPaperStudiesAreFullSize() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: Self.sweepsDirectory.path)
      .filter { $0.hasPrefix("paper-") && $0.hasSuffix(".json") }
    XCTAssertEqual(files.count, 17)
    var baselines = 0
    var families: [TaskFamily: Int] = [:]
    for file in files {
      let grid = try Self.grid(file)
      let family = try XCTUnwrap(Set(grid.tasks.map(\.task.family)).first)
      XCTAssertEqual(Set(grid.tasks.map(\.task.family)).count, 1, file)
      families[family, default: 0] += 1
      XCTAssertEqual(grid.base, family.defaultHyperparameters, "\(file): the base point is TraC's defaults")
      XCTAssertEqual(grid.costThresholds, family.paperCostThresholds, file)
      XCTAssertEqual(grid.seeds, [0, 10, 20], file)
      XCTAssertEqual([grid.evalEpisodes, Int(grid.evalSeed)], [20, 0], file)
      XCTAssertTrue(
        grid.tasks.allSatisfy { $0.datasetPath == nil }, "\(file): datasets from $DSRL_DATASET_DIR")
      XCTAssertEqual(grid.design, .oneAtATime, file)
      XCTAssertEqual(grid.name + ".json", file, "a paper study's sweep name is its file name")
      if grid.algorithms.contains(.bcAll) { baselines += 1 }
    }
    XCTAssertEqual(baselines, 1, "the BC baselines are in one file only")
    XCTAssertEqual(families, [.bulletGym: 7, .safetyGymnasium: 5, .metadrive: 5])
  }
}
