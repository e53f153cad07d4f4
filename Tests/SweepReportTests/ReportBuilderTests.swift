import Foundation
import SweepReport
import TracCore
import XCTest

final class ReportBuilderTests: XCTestCase {
  typealias F = ReportFixtures

  /// Every run of the one-at-a-time fixture, reward = 0.1 * alpha-index + seed/100, cost from a table.
  func fullOneAtATime() throws -> ReportBuilder.Built {
    var rows: [[String]] = []
    let costs: [String: Double] = ["0.1": 0.5, "0.2": 0.9, "0.5": 1.4]
    for (index, alpha) in ["0.1", "0.2", "0.5"].enumerated() {
      for threshold in [10.0, 20.0] {
        for seed: UInt64 in [0, 1] {
          rows.append(
            F.row(
              F.oneAtATime, ["alpha": alpha], threshold: threshold, seed: seed,
              reward: 0.1 * Double(index + 1) + Double(seed) / 100, cost: costs[alpha]! + Double(seed) / 10))
        }
      }
    }
    for threshold in [10.0, 20.0] {
      for seed: UInt64 in [0, 1] {
        rows.append(
          F.row(F.oneAtATime, algorithm: "bc_all", threshold: threshold, seed: seed, reward: 0.9, cost: 2.0))
      }
    }
    return try F.build(F.oneAtATime, rows)
  }

  func testMeanAndSampleStdPerSettingOverThresholdsAndSeeds() throws {
    let built = try fullOneAtATime()
    XCTAssertEqual(
      built.report.settings.map(\.label), ["trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5", "bc_all"])
    let low = try XCTUnwrap(F.setting(built, "trac alpha=0.1"))
    // rewards 0.10, 0.11, 0.10, 0.11: mean 0.105, sample std sqrt(4 * 0.005^2 / 3)
    XCTAssertEqual(low.reward.mean!, 0.105, accuracy: 1e-12)
    XCTAssertEqual(low.reward.std!, (4 * 0.000025 / 3).squareRoot(), accuracy: 1e-12)
    XCTAssertEqual(low.runs, 4)
    XCTAssertEqual(low.expected, 4)
    XCTAssertEqual(low.safeShare, 1)
    XCTAssertEqual(low.byThreshold.map(\.runs), [2, 2])
    let middle = try XCTUnwrap(F.setting(built, "trac alpha=0.2"))
    // costs 0.9 and 1.0 per threshold: all safe (<= 1), mean 0.95
    XCTAssertEqual(middle.safeShare, 1)
    XCTAssertEqual(middle.safe, true)
    let high = try XCTUnwrap(F.setting(built, "trac alpha=0.5"))
    XCTAssertEqual(high.safe, false)
    XCTAssertEqual(high.safeShare, 0)
    XCTAssertTrue(built.report.completeness.complete)
    XCTAssertEqual(built.report.completeness.expected, 16)
  }

  func testTheBestSafeSettingIsTheSafeOneWithTheHighestReward() throws {
    let built = try fullOneAtATime()
    // bc_all has the highest reward but is unsafe; alpha=0.5 is unsafe; alpha=0.2 beats alpha=0.1.
    XCTAssertEqual(built.report.settings.filter(\.bestSafe).map(\.label), ["trac alpha=0.2"])
  }

  func testOneAtATimeCurveRangeAndPooledSeedStd() throws {
    let built = try fullOneAtATime()
    let sensitivity = try XCTUnwrap(built.report.sensitivity.first)
    XCTAssertNil(sensitivity.anova)
    XCTAssertEqual(sensitivity.baselines.map(\.label), ["bc_all"])
    let curve = try XCTUnwrap(sensitivity.curves.first)
    XCTAssertEqual(curve.hyperparameter, "alpha")
    XCTAssertEqual(curve.labels, ["trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5"])
    // means 0.105, 0.205, 0.305
    XCTAssertEqual(curve.reward.range!, 0.2, accuracy: 1e-12)
    // every (value, threshold) cell holds seeds 0 and 1, 0.01 apart: sample std 0.01 / sqrt(2)
    XCTAssertEqual(curve.reward.seedStd!, 0.01 / 2.0.squareRoot(), accuracy: 1e-12)
    XCTAssertEqual(curve.cost.seedStd!, 0.1 / 2.0.squareRoot(), accuracy: 1e-12)
    XCTAssertEqual(curve.cost.range!, 0.9, accuracy: 1e-12)
  }

  /// A result whose worker an audit convicted is shown as suspect, never aggregated; audits are counted.
  func testASuspectResultIsListedNotAggregatedAndAuditsAreCounted() throws {
    let columns = F.columns + ["audit"]
    func row(seed: UInt64, reward: Double, audit: String) -> [String] {
      F.row(
        F.oneAtATime, ["alpha": "0.1"], threshold: 10, seed: seed, reward: reward, cost: 0.5, state: "done")
        + [audit]
    }
    let built = try ReportBuilder(grid: F.oneAtATime).build(
      table: RunTable(
        columns: columns,
        rows: [row(seed: 0, reward: 0.3, audit: "passed"), row(seed: 1, reward: 9, audit: "suspect")]),
      source: "results.csv", generatedAt: Date(timeIntervalSince1970: 0))
    let completeness = built.report.completeness
    XCTAssertEqual(completeness.recorded, 1, "the suspect result is not counted as recorded")
    XCTAssertEqual(completeness.audits, ["passed": 1, "suspect": 1])
    XCTAssertEqual(completeness.notRecordedByState.keys.filter { $0.hasPrefix("suspect") }.count, 1)
    let setting = try XCTUnwrap(F.setting(built, "trac alpha=0.1"))
    XCTAssertEqual(setting.reward.mean!, 0.3, accuracy: 1e-12, "the suspect reward of 9 is left out")
    let markdown = MarkdownReport.render(built.report, figures: [])
    XCTAssertTrue(
      markdown.contains("audited (trained again by another worker): 1 passed, 1 suspect"), markdown)
  }

  func testAPartialSweepListsWhatIsMissingWithItsState() throws {
    let rows = [
      F.row(F.oneAtATime, ["alpha": "0.1"], threshold: 10, seed: 0, reward: 0.3, cost: 0.5),
      F.row(
        F.oneAtATime, ["alpha": "0.1"], threshold: 10, seed: 1, reward: nil, cost: nil, state: "running",
        runID: "00000000000000aa"),
    ]
    let built = try F.build(F.oneAtATime, rows)
    let completeness = built.report.completeness
    XCTAssertFalse(completeness.complete)
    XCTAssertEqual(completeness.recorded, 1)
    XCTAssertEqual(completeness.expected, 16)
    XCTAssertEqual(completeness.missing.count, 15)
    XCTAssertEqual(completeness.notRecordedByState, ["running": 1, "not recorded": 14])
    let running = try XCTUnwrap(completeness.missing.first { $0.state == "running" })
    XCTAssertEqual(running.runID, "00000000000000aa")
    XCTAssertEqual(running.setting, "trac alpha=0.1")
    XCTAssertEqual(built.results.rows.count, 1, "results.csv holds recorded runs only")
    XCTAssertEqual(built.results.columns.last, "setting")
    XCTAssertFalse(built.results.columns.contains("state"))
    XCTAssertNil(F.setting(built, "bc_all")?.reward.mean)
  }

  func testAdditiveEffectsSplitTheVarianceBetweenMainEffectsWithNoInteraction() throws {
    // y = a(alpha) + b(eta): a in {0, 0.2}, b in {0, 0.1}. Var of main effects: 0.01 and 0.0025.
    var rows: [[String]] = []
    for (alpha, a) in [("0.1", 0.0), ("0.5", 0.2)] {
      for (eta, b) in [("0.25", 0.0), ("1", 0.1)] {
        for seed: UInt64 in [0, 1] {
          rows.append(
            F.row(
              F.product, ["alpha": alpha, "eta": eta], threshold: 20, seed: seed, reward: a + b,
              cost: seed == 0 ? 1 + b : 1 - b + 0.0))
        }
      }
    }
    let built = try F.build(F.product, rows)
    let anova = try XCTUnwrap(built.report.sensitivity.first?.anova)
    XCTAssertTrue(anova.complete)
    XCTAssertEqual(anova.reward.main["alpha"]!, 0.01 / 0.0125, accuracy: 1e-9)
    XCTAssertEqual(anova.reward.main["eta"]!, 0.0025 / 0.0125, accuracy: 1e-9)
    XCTAssertEqual(anova.reward.pairs.first!.share, 0, accuracy: 1e-9)
    // cost: the seeds cancel, every cell mean is 1: no variance, every share 0
    XCTAssertEqual(anova.cost.variance!, 0, accuracy: 1e-12)
    XCTAssertEqual(anova.cost.main["alpha"], 0)
    XCTAssertEqual(anova.heatmaps.count, 1)
    XCTAssertEqual(anova.heatmaps[0].hyperparameters, ["alpha", "eta"])
    XCTAssertEqual(anova.heatmaps[0].reward[1][1]!, 0.3, accuracy: 1e-12)
  }

  func testAPureInteractionIsAllPairShare() throws {
    var rows: [[String]] = []
    for (alpha, a) in [("0.1", 1.0), ("0.5", -1.0)] {
      for (eta, b) in [("0.25", 1.0), ("1", -1.0)] {
        rows.append(
          F.row(F.product, ["alpha": alpha, "eta": eta], threshold: 20, seed: 0, reward: a * b, cost: 0.5))
      }
    }
    let built = try F.build(F.product, rows)
    let anova = try XCTUnwrap(built.report.sensitivity.first?.anova)
    XCTAssertEqual(anova.reward.main["alpha"]!, 0, accuracy: 1e-12)
    XCTAssertEqual(anova.reward.main["eta"]!, 0, accuracy: 1e-12)
    XCTAssertEqual(anova.reward.pairs.first!.share, 1, accuracy: 1e-12)
  }

  func testAnIncompleteProductGridIsNotDecomposedAndSaysWhichCells() throws {
    let rows = [
      F.row(F.product, ["alpha": "0.1", "eta": "0.25"], threshold: 20, seed: 0, reward: 0.3, cost: 0.5)
    ]
    let built = try F.build(F.product, rows)
    let anova = try XCTUnwrap(built.report.sensitivity.first?.anova)
    XCTAssertFalse(anova.complete)
    XCTAssertNil(anova.reward.variance)
    XCTAssertEqual(anova.missingCells.count, 3)
    XCTAssertNotNil(anova.heatmaps.first?.reward[0][0] ?? nil)
    XCTAssertNil(anova.heatmaps.first?.reward[1][1] ?? nil)
  }

  func testARowThatIsNotARunOfTheGridIsAnErrorNamingTheRow() throws {
    let rows = [
      F.row(F.oneAtATime, ["alpha": "0.1"], threshold: 10, seed: 0, reward: 0.3, cost: 0.5),
      F.row(F.oneAtATime, ["alpha": "0.3"], threshold: 10, seed: 0, reward: 0.3, cost: 0.5),
    ]
    XCTAssertThrowsError(try F.build(F.oneAtATime, rows)) { error in
      XCTAssertTrue("\(error)".contains("results.csv, row 2"), "\(error)")
      XCTAssertTrue("\(error)".contains("not a run of the grid"), "\(error)")
    }
  }

  func testARunRecordedTwiceIsAnError() throws {
    let row = F.row(F.oneAtATime, ["alpha": "0.1"], threshold: 10, seed: 0, reward: 0.3, cost: 0.5)
    XCTAssertThrowsError(try F.build(F.oneAtATime, [row, row])) { error in
      XCTAssertTrue("\(error)".contains("row 2 repeats the run of trac alpha=0.1"), "\(error)")
    }
  }

  func testBadFieldsAndMissingColumnsAreNamed() throws {
    var row = F.row(F.oneAtATime, ["alpha": "0.1"], threshold: 10, seed: 0, reward: 0.3, cost: 0.5)
    row[F.columns.firstIndex(of: "normalized_cost")!] = "lots"
    XCTAssertThrowsError(try F.build(F.oneAtATime, [row])) { error in
      XCTAssertEqual(
        "\(error)", "results.csv, row 1, column normalized_cost: \"lots\" is not a finite number")
    }
    let table = RunTable(columns: ["task", "algorithm"], rows: [])
    XCTAssertThrowsError(try ReportBuilder(grid: F.oneAtATime).build(table: table, source: "r.csv")) {
      error in
      XCTAssertTrue("\(error)".hasPrefix("r.csv lacks the columns x, y, alpha"), "\(error)")
    }
  }

  func testBCRowsMatchWhateverTheirTracOnlyHyperparametersSay() throws {
    // A BC run ignores alpha: a row written with the grid's alpha still is the bc_all run.
    let row = F.row(
      F.oneAtATime, algorithm: "bc_all", ["alpha": "0.5"], threshold: 10, seed: 0, reward: 0.3, cost: 0.5)
    let built = try F.build(F.oneAtATime, [row])
    XCTAssertEqual(F.setting(built, "bc_all")?.runs, 1)
  }

  func testASegmentsColumnIsReadAndItsAbsenceMeansBoth() throws {
    let grid = F.grid(
      """
      {"name": "segments-test", "task": "OfflineBallCircle-v0", "dataset": "d.hdf5", "algorithm": "trac",
       "base": {"steps": 100, "bc_steps": 10}, "vary": {"segments": ["both", "desirable"]},
       "design": "one_at_a_time", "cost_thresholds": [20], "seeds": [0]}
      """)
    let columns = F.columns + ["segments"]
    func row(_ segments: String, reward: Double) -> [String] {
      F.row(grid, threshold: 20, seed: 0, reward: reward, cost: 0.5) + [segments]
    }
    let built = try ReportBuilder(grid: grid).build(
      table: RunTable(columns: columns, rows: [row("both", reward: 0.3), row("desirable", reward: 0.6)]),
      source: "results.csv")
    XCTAssertEqual(built.report.settings.map(\.label), ["trac segments=both", "trac segments=desirable"])
    XCTAssertEqual(built.report.settings.map(\.reward.mean), [0.3, 0.6])
    // Without the column (a table from before the option existed), every row is `both`.
    let old = try F.build(grid, [F.row(grid, threshold: 20, seed: 0, reward: 0.3, cost: 0.5)])
    XCTAssertEqual(F.setting(old, "trac segments=both")?.runs, 1)
  }

  /// Runs that started from a shared BC stage (steps_trained = steps - bc_steps) are counted per
  /// stage; the report says how many BC steps they did not train again.
  func testTheSetupSaysWhatSharedBCStagesSaved() throws {
    let grid = F.product  // 2 alpha x 2 eta x 2 seeds, 100 steps, 10 BC
    let columns = F.columns + ["bc_stage", "steps_trained"]
    var rows: [[String]] = []
    for (alpha, eta) in [("0.1", "0.25"), ("0.1", "1.0"), ("0.5", "0.25"), ("0.5", "1.0")] {
      for seed: UInt64 in [0, 1] {
        // Seed 1's alpha 0.5 runs trained their own BC phase (a fetch refused, say): not shared.
        let shared = !(seed == 1 && alpha == "0.5")
        rows.append(
          F.row(grid, ["alpha": alpha, "eta": eta], threshold: 20, seed: seed, reward: 0.5, cost: 0.5)
            + ["stage\(seed)", shared ? "90" : "100"])
      }
    }
    let built = try ReportBuilder(grid: grid).build(
      table: RunTable(columns: columns, rows: rows), source: "results.csv")
    let sharing = try XCTUnwrap(built.report.setup.stageSharing)
    XCTAssertEqual(sharing.stages, 2)
    XCTAssertEqual(sharing.runs, 6)
    XCTAssertEqual(sharing.bcStepsNotRepeated, 3 * 10 + 1 * 10, "stage 0: 4 runs, stage 1: 2 runs")
    XCTAssertEqual(sharing.stepsAlone, 600)
    let markdown = MarkdownReport.render(built.report, figures: [])
    XCTAssertTrue(
      markdown.contains(
        "6 runs started their TraC phase from 2 shared BC stages: 40 BC steps not trained again, 6.7 % of"),
      markdown)
    // Without the columns (results from before sharing), nothing is said.
    let old = F.row(grid, ["alpha": "0.1", "eta": "0.25"], threshold: 20, seed: 0, reward: 0.5, cost: 0.5)
    XCTAssertNil(try F.build(grid, [old]).report.setup.stageSharing)
  }
}
