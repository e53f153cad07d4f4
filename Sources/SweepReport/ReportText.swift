import TracCore

/// How numbers read in the report's Markdown and HTML: three decimals, `-` for unknown.
enum ReportText {
  static func number(_ value: Double?) -> String {
    guard let value else { return "-" }
    let text = String(format: "%.3f", value)
    return text == "-0.000" ? "0.000" : text
  }

  static func meanStd(_ value: MeanStd) -> String {
    value.mean == nil ? "-" : "\(number(value.mean)) ± \(number(value.std))"
  }

  static func share(_ value: Double?) -> String {
    guard let value else { return "-" }
    return String(format: "%.0f%%", value * 100)
  }

  static func threshold(_ value: Double) -> String { formatNumber(value) }

  /// The sweep in one line: design, tasks, algorithms, thresholds, seeds.
  static func scope(_ report: SensitivityReport) -> String {
    let sweep = report.sweep
    return
      "design \(sweep.design); tasks \(sweep.tasks.joined(separator: ", ")); algorithms "
      + "\(sweep.algorithms.joined(separator: ", ")); cost thresholds "
      + "\(sweep.costThresholds.map(threshold).joined(separator: ", ")); seeds "
      + "\(sweep.seeds.map(String.init).joined(separator: ", "))"
  }

  /// `9 of 10 runs recorded (1 running)`.
  static func completeness(_ report: SensitivityReport) -> String {
    let completeness = report.completeness
    var text = "\(completeness.recorded) of \(completeness.expected) runs recorded"
    if !completeness.notRecordedByState.isEmpty {
      let states = completeness.notRecordedByState.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
      text += " (not recorded: \(states.joined(separator: ", ")))"
    }
    return text
  }

  /// For a one-at-a-time curve: whether the range of the means is above the seed-to-seed noise.
  static func verdict(_ metric: SensitivityReport.CurveMetric) -> String {
    guard let range = metric.range else { return "-" }
    guard let noise = metric.seedStd, noise > 0 else { return "no seed noise measured" }
    let ratio = range / noise
    return ratio >= 2
      ? String(format: "effect %.1fx the seed std", ratio)
      : String(format: "within noise (%.1fx the seed std)", ratio)
  }

  static func settings(of report: SensitivityReport, task: String) -> [SensitivityReport.Setting] {
    report.settings.filter { $0.task == task }
  }
}
