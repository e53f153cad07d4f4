import Foundation
import SweepReport
import TracCore

/// Grids and result tables for the report's tests.
enum ReportFixtures {
  static func grid(_ json: String) -> GridFile {
    try! GridFile(parsing: Data(json.utf8))
  }

  /// One-at-a-time over alpha (0.1, 0.2 = base, 0.5) with BC-All, thresholds 10 and 20, seeds 0 and 1.
  static let oneAtATime = grid(
    """
    {"name": "alpha-test", "task": "OfflineBallCircle-v0", "dataset": "d.hdf5",
     "algorithm": ["trac", "bc_all"], "base": {"alpha": 0.2, "steps": 100, "bc_steps": 10},
     "vary": {"alpha": [0.1, 0.2, 0.5]}, "design": "one_at_a_time",
     "cost_thresholds": [10, 20], "seeds": [0, 1]}
    """)

  /// Product over alpha (0.1, 0.5) x eta (0.25, 1.0), TraC only, one threshold, seeds 0 and 1.
  static let product = grid(
    """
    {"name": "product-test", "task": "OfflineBallCircle-v0", "dataset": "d.hdf5", "algorithm": "trac",
     "base": {"steps": 100, "bc_steps": 10}, "vary": {"alpha": [0.1, 0.5], "eta": [0.25, 1.0]},
     "design": "product", "cost_thresholds": [20], "seeds": [0, 1]}
    """)

  static let columns = RunTable.requiredColumns + ["run_id", "state"]

  /// A row for `hyperparameters` (the grid's base with `changes`), in `columns`' order.
  static func row(
    _ grid: GridFile, algorithm: String = "trac", _ changes: [String: String] = [:], threshold: Double,
    seed: UInt64, reward: Double?, cost: Double?, state: String = "", runID: String = ""
  ) -> [String] {
    var values: [String: String] = [
      "task": "OfflineBallCircle-v0", "algorithm": algorithm, "cost_threshold": "\(threshold)",
      "seed": "\(seed)",
      "normalized_reward": reward.map { "\($0)" } ?? "", "normalized_cost": cost.map { "\($0)" } ?? "",
      "run_id": runID, "state": state,
    ]
    for name in HyperparameterName.allCases {
      values[name.rawValue] = "\(name.value(in: grid.base))"
    }
    for (key, value) in changes { values[key] = value }
    return columns.map { values[$0] ?? "" }
  }

  static func build(_ grid: GridFile, _ rows: [[String]]) throws -> ReportBuilder.Built {
    try ReportBuilder(grid: grid).build(
      table: RunTable(columns: columns, rows: rows), source: "results.csv",
      generatedAt: Date(timeIntervalSince1970: 0))
  }

  static func setting(_ built: ReportBuilder.Built, _ label: String) -> SensitivityReport.Setting? {
    built.report.settings.first { $0.label == label }
  }
}
