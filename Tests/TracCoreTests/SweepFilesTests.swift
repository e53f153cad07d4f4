import Foundation
import TracCore
import XCTest

/// The grid files shipped under `sweeps/` parse, and their run counts are the ones `sweeps/README.md`
/// tells a user to expect (and budget CPU-hours for).
final class SweepFilesTests: XCTestCase {
  static let sweepsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("sweeps")

  /// `file -> runs` from the README's table rows: `| `name.json` | paper | runs | ... |`.
  static func documentedRunCounts() throws -> [String: Int] {
    let readme = try String(
      contentsOf: sweepsDirectory.appendingPathComponent("README.md"), encoding: .utf8)
    var counts: [String: Int] = [:]
    for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
      let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      guard cells.count > 3, cells[1].hasSuffix(".json`") else { continue }
      let name = String(cells[1].dropFirst().dropLast())
      guard let runs = Int(cells[3]) else {
        XCTFail("sweeps/README.md: the runs cell of \(name) is not a number: \(cells[3])")
        continue
      }
      XCTAssertNil(counts[name], "sweeps/README.md lists \(name) twice")
      counts[name] = runs
    }
    return counts
  }

  func testEveryGridFileParsesAndHasTheDocumentedRunCount() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: Self.sweepsDirectory.path)
      .filter { $0.hasSuffix(".json") }.sorted()
    XCTAssertTrue(files.contains("paper-fig6-segments.json"), "found \(files)")
    let documented = try Self.documentedRunCounts()
    XCTAssertEqual(Set(documented.keys), Set(files), "sweeps/README.md's table and the files differ")
    for file in files {
      let data = try Data(contentsOf: Self.sweepsDirectory.appendingPathComponent(file))
      let grid: GridFile
      do {
        grid = try GridFile(parsing: data)
      } catch {
        XCTFail("\(file): \(error)")
        continue
      }
      XCTAssertEqual(grid.runCount, grid.runs.count, file)
      XCTAssertEqual(grid.runCount, documented[file], "\(file): runs in sweeps/README.md")
    }
  }

  /// The paper's studies use its protocol (docs/ALGORITHM.md) on DSRL's files: six on BulletGym
  /// tasks, two on the Safety-Gymnasium task CarPush1, each with its family's defaults and thresholds.
  func testPaperStudiesAreFullSize() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: Self.sweepsDirectory.path)
      .filter { $0.hasPrefix("paper-") && $0.hasSuffix(".json") }
    XCTAssertEqual(files.count, 8)
    var baselines = 0
    var families: [TaskFamily: Int] = [:]
    for file in files {
      let grid = try GridFile(parsing: Data(contentsOf: Self.sweepsDirectory.appendingPathComponent(file)))
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
    XCTAssertEqual(families, [.bulletGym: 6, .safetyGymnasium: 2])
  }
}
