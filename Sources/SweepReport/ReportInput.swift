import Foundation
import TracCore

/// One run of a sweep as the report sees it: what it is (task, algorithm, hyperparameters, cost
/// threshold, seed), its state, and, once recorded, its evaluation. Read from the coordinator's table
/// of a sweep's runs or from a `results` CSV.
public struct RunObservation: Sendable, Equatable {
  public var task: String
  public var algorithm: Algorithm
  public var hyperparameters: Hyperparameters
  public var costThreshold: Double
  public var seed: UInt64
  public var runID: String?
  /// `done` when recorded; otherwise the coordinator's state of the run (`pending`, `failed`, ...).
  public var state: String
  public var normalizedReward: Double?
  public var normalizedCost: Double?
  /// The table row it was read from, by column, for the report's `results.csv`.
  public var fields: [String: String]

  public var isRecorded: Bool { normalizedReward != nil && normalizedCost != nil }
}

/// A table of runs: `columns` and `rows` of text, as `trac-sweep results` prints them.
public struct RunTable: Sendable, Equatable {
  public var columns: [String]
  public var rows: [[String]]

  public init(columns: [String], rows: [[String]]) {
    self.columns = columns
    self.rows = rows
  }

  /// Hyperparameters added after results tables existed: a table without the column holds runs made
  /// before, at the value that column would have (`segments`: `both`, `warmup_steps`: 10000,
  /// `trac_lr_scale`: 0.1, as in run.json).
  static let laterHyperparameters: Set<HyperparameterName> = [.segments, .warmupSteps, .tracLRScale]
  /// The state of a row whose result an audit withdrew: its worker was convicted, the run is trained again.
  static let suspectState = "suspect (its worker was convicted by an audit; trained again)"

  /// The columns a report needs. `state`, `run_id`, the later hyperparameters and everything else
  /// are optional.
  public static let requiredColumns =
    ["task", "algorithm"]
    + HyperparameterName.allCases.filter { !laterHyperparameters.contains($0) }.map(\.rawValue)
    + ["cost_threshold", "seed", "normalized_reward", "normalized_cost"]

  /// Reads every row; the first problem is an error naming `source`, the row (1-based, after the
  /// header) and the column. A row without a normalized reward and cost is a run not recorded.
  public func observations(source: String) throws(ReportError) -> [RunObservation] {
    let missing = Self.requiredColumns.filter { !columns.contains($0) }
    guard missing.isEmpty else {
      throw .badInput(
        "\(source) lacks the column\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))")
    }
    var index: [String: Int] = [:]
    for (position, column) in columns.enumerated() where index[column] == nil { index[column] = position }
    var result: [RunObservation] = []
    result.reserveCapacity(rows.count)
    for (number, row) in zip(1..., rows) {
      guard row.count == columns.count else {
        throw .badInput("\(source), row \(number): \(row.count) fields, the header has \(columns.count)")
      }
      func field(_ column: String) -> String { index[column].map { row[$0] } ?? "" }
      func problem(_ column: String, _ expected: String) -> ReportError {
        .badInput(
          "\(source), row \(number), column \(column): \(ReportError.quote(field(column))) is not \(expected)"
        )
      }
      guard let algorithm = Algorithm(rawValue: field("algorithm")) else {
        throw problem("algorithm", "one of trac, bc_all, bc_safe")
      }
      var hyperparameters = Hyperparameters()
      for name in HyperparameterName.allCases {
        if index[name.rawValue] == nil, Self.laterHyperparameters.contains(name) { continue }
        guard let value = name.parse(field(name.rawValue)) else {
          throw problem(name.rawValue, "a value of \(name.rawValue)")
        }
        name.assign(value, to: &hyperparameters)
      }
      guard let threshold = Double(field("cost_threshold")), threshold.isFinite, threshold >= 0 else {
        throw problem("cost_threshold", "a cost threshold")
      }
      guard let seed = UInt64(field("seed")) else { throw problem("seed", "a seed") }
      func metric(_ column: String) throws(ReportError) -> Double? {
        let text = field(column).trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return nil }
        guard let value = Double(text), value.isFinite else { throw problem(column, "a finite number") }
        return value
      }
      let reward = try metric("normalized_reward")
      let cost = try metric("normalized_cost")
      guard (reward == nil) == (cost == nil) else {
        throw .badInput(
          "\(source), row \(number): normalized_reward and normalized_cost must be both given or both empty")
      }
      let runID = field("run_id")
      let state = field("state")
      // A result whose worker an audit convicted is shown, never aggregated (docs/SECURITY.md).
      let suspect = field("audit") == "suspect"
      var fields: [String: String] = [:]
      for (column, value) in zip(columns, row) { fields[column] = value }
      result.append(
        RunObservation(
          task: field("task"), algorithm: algorithm, hyperparameters: hyperparameters,
          costThreshold: threshold,
          seed: seed, runID: runID.isEmpty ? nil : runID,
          state: suspect
            ? Self.suspectState
            : reward != nil
              ? "done" : state.isEmpty ? "not recorded" : state == "done" ? "done, not evaluated" : state,
          normalizedReward: suspect ? nil : reward, normalizedCost: suspect ? nil : cost, fields: fields))
    }
    return result
  }
}

/// What stops a report: its input is wrong, or a file cannot be written.
public enum ReportError: Error, Equatable, Sendable, CustomStringConvertible {
  case badInput(String)
  case output(String)

  public var description: String {
    switch self {
    case .badInput(let message): return message
    case .output(let message): return message
    }
  }

  static func quote(_ text: String) -> String { "\"\(text.count > 60 ? text.prefix(57) + "..." : text)\"" }
}
