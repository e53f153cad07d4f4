import TracCore

/// `report.md`: the tables in the paper's convention (safe results in bold, unsafe ones marked), the
/// sensitivity of each hyperparameter, and links to the figures.
public enum MarkdownReport {
  public static func render(_ report: SensitivityReport, figures: [ReportFigure], figureNote: String? = nil)
    -> String
  {
    var lines: [String] = []
    lines.append("# Sensitivity report: \(report.sweep.name) (sweep \(report.sweep.id))")
    lines.append("")
    lines.append("Generated \(report.generatedAt). \(ReportText.scope(report)).")
    lines.append("")
    if report.completeness.complete {
      lines.append("All \(report.completeness.expected) runs recorded.")
    } else {
      lines.append("**Partial report: \(ReportText.completeness(report)).** Missing runs:")
      lines.append("")
      for run in report.completeness.missing.prefix(50) {
        lines.append(
          "- \(run.task) \(run.setting), cost threshold \(ReportText.threshold(run.costThreshold)), seed \(run.seed): "
            + "\(run.state)\(run.runID.map { " (run \($0))" } ?? "")")
      }
      if report.completeness.missing.count > 50 {
        lines.append("- ... and \(report.completeness.missing.count - 50) more (summary.json lists them all)")
      }
    }
    if let figureNote {
      lines.append("")
      lines.append("**No figures:** \(figureNote)")
    }
    lines.append("")
    lines.append("## Training setup")
    lines.append("")
    lines.append("| | |")
    lines.append("|---|---|")
    for line in ReportText.setupLines(report) {
      lines.append("| \(line.key) | \(cell(line.value)) |")
    }
    lines.append("")
    lines.append("| hyperparameter | base | varied | read by |")
    lines.append("|---|---:|---|---|")
    for hyperparameter in report.setup.hyperparameters {
      lines.append(
        "| \(hyperparameter.name) | \(hyperparameter.base) | "
          + "\(hyperparameter.varied?.map(\.description).joined(separator: ", ") ?? "") | "
          + "\(hyperparameter.tracOnly ? "TraC" : "TraC and BC") |")
    }
    lines.append("")
    lines.append(
      "Normalized reward and cost are mean ± std over cost thresholds and seeds. **Bold**: safe (mean "
        + "normalized cost <= 1); *(unsafe)* marks the others; ★ the best safe setting of the task; † a mean "
        + "over fewer than \(ReportText.fewSeeds) seeds.")
    for task in report.sweep.tasks {
      let settings = ReportText.settings(of: report, task: task)
      lines.append("")
      lines.append("## \(task)")
      lines.append("")
      lines += settingsTable(settings)
      lines.append("")
      lines.append("### Per cost threshold")
      lines.append("")
      lines += thresholdTable(settings, thresholds: report.sweep.costThresholds)
      if settings.contains(where: { ReportText.fewSeeds($0.seeds) }) {
        lines.append("")
        lines.append(ReportText.fewSeedsNote)
      }
      if let sensitivity = report.sensitivity.first(where: { $0.task == task }) {
        lines += sensitivityTables(sensitivity, base: report.sweep.base)
      }
      let taskFigures = figures.filter { $0.task == task }
      if !taskFigures.isEmpty {
        lines.append("")
        lines.append("### Figures")
        lines.append("")
        for figure in taskFigures {
          lines.append(
            "- [\(figure.title)](figures/\(figure.png)) ([SVG](figures/\(figure.svg))): \(figure.caption)")
        }
      }
      if let curves = report.learningCurves.first(where: { $0.task == task }),
        let note = ReportText.learningCurvesNote(
          curves, hasFigure: taskFigures.contains { $0.kind == "learning" })
      {
        lines.append("")
        lines.append(note)
      }
      lines.append("")
      lines.append("### Every run")
      lines.append("")
      lines.append("| run id | setting | cost threshold | seed | reward | cost | state | artifacts |")
      lines.append("|---|---|---:|---:|---:|---:|---|---|")
      for run in ReportText.runLines(report, task: task) {
        lines.append(
          "| \(run.runID ?? "-") | \(run.setting) | \(ReportText.threshold(run.costThreshold)) | \(run.seed) | "
            + "\(ReportText.number(run.reward)) | \(ReportText.number(run.cost)) | \(run.state) | "
            + "\(run.artifacts.map(cell) ?? "-") |")
      }
    }
    lines.append("")
    return lines.joined(separator: "\n")
  }

  static func cell(_ text: String, safe: Bool?) -> String { safe == true ? "**\(text)**" : text }

  /// Text for a table cell: a `|` would end the cell.
  static func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }

  static func settingsTable(_ settings: [SensitivityReport.Setting]) -> [String] {
    var lines = [
      "| setting | runs | normalized reward | normalized cost | safe runs |", "|---|---:|---:|---:|---:|",
    ]
    for setting in settings {
      var name = setting.label
      if ReportText.fewSeeds(setting.seeds) { name += " †" }
      if setting.bestSafe { name += " ★" }
      if setting.safe == false { name += " *(unsafe)*" }
      lines.append(
        "| \(name) | \(setting.runs)/\(setting.expected) | "
          + "\(cell(ReportText.meanStd(setting.reward), safe: setting.safe)) | "
          + "\(cell(ReportText.meanStd(setting.cost), safe: setting.safe)) | \(ReportText.share(setting.safeShare)) |"
      )
    }
    return lines
  }

  static func thresholdTable(_ settings: [SensitivityReport.Setting], thresholds: [Double]) -> [String] {
    let header = thresholds.map {
      "C=\(ReportText.threshold($0)) reward | C=\(ReportText.threshold($0)) cost"
    }
    var lines = [
      "| setting | " + header.joined(separator: " | ") + " |",
      "|---|" + String(repeating: "---:|---:|", count: thresholds.count),
    ]
    for setting in settings {
      let cells = setting.byThreshold.map { group -> String in
        let safe = group.cost.mean.map { $0 <= 1 }
        let mark = ReportText.fewSeeds(group.seeds) ? " †" : ""
        return
          "\(cell(ReportText.meanStd(group.reward), safe: safe))\(mark) | "
          + "\(cell(ReportText.meanStd(group.cost), safe: safe))\(mark)"
      }
      lines.append("| \(setting.label) | " + cells.joined(separator: " | ") + " |")
    }
    return lines
  }

  static func sensitivityTables(
    _ sensitivity: SensitivityReport.TaskSensitivity, base: [String: HyperparameterValue]
  ) -> [String] {
    var lines: [String] = []
    if !sensitivity.curves.isEmpty {
      lines += [
        "", "### Sensitivity (one at a time)", "",
        "Range of the setting means along each hyperparameter (its values, the base point's included), "
          + "beside the seed-to-seed std (pooled within "
          + "each value and cost threshold): a range at least 2x the seed std is called an effect, a smaller one is within the noise.",
        "",
        "| hyperparameter | values | reward range | reward seed std | reward | cost range | cost seed std | cost |",
        "|---|---|---:|---:|---|---:|---:|---|",
      ]
      for curve in sensitivity.curves {
        lines.append(
          "| \(curve.hyperparameter) | \(ReportText.curveValues(curve, base: base)) | "
            + "\(ReportText.number(curve.reward.range)) | \(ReportText.number(curve.reward.seedStd)) | "
            + "\(ReportText.verdict(curve.reward)) | \(ReportText.number(curve.cost.range)) | "
            + "\(ReportText.number(curve.cost.seedStd)) | \(ReportText.verdict(curve.cost)) |")
      }
    }
    if let anova = sensitivity.anova {
      lines += ["", "### Sensitivity (functional ANOVA of the full grid)", ""]
      if !anova.complete {
        lines.append(
          "Not computed: the grid is not complete (no result yet for \(anova.missingCells.joined(separator: ", ")))."
        )
      } else {
        lines += [
          "Share of the variance of the cell means (over cost thresholds and seeds) explained by each effect.",
          "",
          "| effect | reward share | cost share |", "|---|---:|---:|",
        ]
        for (name, share) in anova.reward.main.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
          lines.append(
            "| \(name) | \(ReportText.share(share)) | \(ReportText.share(anova.cost.main[name])) |")
        }
        for (pair, costPair) in zip(anova.reward.pairs, anova.cost.pairs) {
          lines.append(
            "| \(pair.hyperparameters.joined(separator: " × ")) | \(ReportText.share(pair.share)) | "
              + "\(ReportText.share(costPair.share)) |")
        }
        lines.append(
          "| variance of the cell means | \(ReportText.number(anova.reward.variance)) | "
            + "\(ReportText.number(anova.cost.variance)) |")
      }
    }
    return lines
  }
}
