import Foundation
import TracCore

/// `index.html`: the whole report in one file that opens offline: styles inline, figures inlined as SVG
/// data URIs, no script, nothing fetched. Table cells carry `data-field` so tests (and scrapers) read
/// the numbers without parsing the layout.
public enum HTMLReport {
  /// `figureNote`: why there are no figures (not asked for, or the figure script failed), said on the
  /// page where the figures would be.
  public static func render(
    _ report: SensitivityReport, figures: [ReportFigure], figureDirectory: URL?, figureNote: String? = nil
  ) -> String {
    var html: [String] = []
    let title = "Sensitivity report: \(report.sweep.name)"
    html.append("<!DOCTYPE html>")
    html.append("<html lang=\"en\"><head><meta charset=\"utf-8\">")
    html.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    html.append("<title>\(escape(title))</title><style>\(style)</style></head><body>")
    html.append(
      "<header><h1>\(escape(title)) <span class=\"id\">sweep \(escape(report.sweep.id))</span></h1>")
    html.append(
      "<p class=\"meta\">Generated \(escape(report.generatedAt)). \(escape(ReportText.scope(report))).</p>")
    html.append(
      "<p class=\"legend\">Normalized reward and cost: mean ± std over cost thresholds and seeds. "
        + "<b>Bold</b> rows are safe (mean normalized cost ≤ 1), <span class=\"unsafe-tag\">unsafe</span> rows "
        + "are marked, ★ is the best safe setting of the task, † a mean over fewer than "
        + "\(ReportText.fewSeeds) seeds.</p></header>")
    html.append(completeness(report))
    if let figureNote {
      html.append("<p class=\"partial\" id=\"figures-note\"><b>No figures:</b> \(escape(figureNote))</p>")
    }
    html.append(setup(report))
    if report.sweep.tasks.count > 1 {
      let links = report.sweep.tasks.map { "<a href=\"#\(anchor($0))\">\(escape($0))</a>" }
      html.append("<nav>\(links.joined(separator: " · "))</nav>")
    }
    for task in report.sweep.tasks {
      let settings = ReportText.settings(of: report, task: task)
      html.append("<section id=\"\(anchor(task))\" data-task=\"\(escape(task))\"><h2>\(escape(task))</h2>")
      html.append(settingsTable(settings))
      html.append("<h3>Per cost threshold</h3>")
      html.append(thresholdTable(settings, thresholds: report.sweep.costThresholds))
      if settings.contains(where: { ReportText.fewSeeds($0.seeds) }) {
        html.append("<p class=\"few-seeds-note\">\(escape(ReportText.fewSeedsNote))</p>")
      }
      if let sensitivity = report.sensitivity.first(where: { $0.task == task }) {
        html.append(sensitivityTables(sensitivity, base: report.sweep.base))
      }
      let taskFigures = figures.filter { $0.task == task }
      if !taskFigures.isEmpty || figureNote != nil {
        html.append("<h3>Figures</h3>")
      }
      if let figureNote {
        html.append("<p class=\"partial\">No figures: \(escape(figureNote))</p>")
      }
      if !taskFigures.isEmpty {
        html.append("<div class=\"figures\">")
        for figure in taskFigures {
          html.append(self.figure(figure, directory: figureDirectory))
        }
        html.append("</div>")
      }
      if let curves = report.learningCurves.first(where: { $0.task == task }),
        let note = ReportText.learningCurvesNote(
          curves, hasFigure: taskFigures.contains { $0.kind == "learning" })
      {
        html.append("<p class=\"partial learning-note\">\(escape(note))</p>")
      }
      html.append(runTable(ReportText.runLines(report, task: task)))
      html.append("</section>")
    }
    var files = "report.md, results.csv (one row per recorded run), summary.json (every number)"
    files += figures.isEmpty ? "; no figures" : ", figures/ (PNG and SVG)"
    html.append("<footer>Files beside this one: \(files).</footer>")
    html.append("</body></html>")
    return html.joined(separator: "\n") + "\n"
  }

  static func setup(_ report: SensitivityReport) -> String {
    var html = ["<section id=\"setup\"><h2>Training setup</h2><table class=\"setup\"><tbody>"]
    for line in ReportText.setupLines(report) {
      html.append(
        "<tr data-setup=\"\(escape(line.key))\"><th scope=\"row\">\(escape(line.key))</th>"
          + "<td>\(escape(line.value))</td></tr>")
    }
    html.append("</tbody></table>")
    html.append(
      "<details open><summary>Base hyperparameters (every one; varied ones with their values)</summary>"
        + "<table class=\"hyperparameters\"><thead><tr><th>hyperparameter</th><th>base</th><th>varied</th>"
        + "<th>read by</th></tr></thead><tbody>")
    for hyperparameter in report.setup.hyperparameters {
      html.append(
        "<tr data-hyperparameter=\"\(escape(hyperparameter.name))\"><th scope=\"row\">\(escape(hyperparameter.name))</th>"
          + "<td data-field=\"base\">\(escape(hyperparameter.base.description))</td>"
          + "<td data-field=\"varied\">\(escape(hyperparameter.varied?.map(\.description).joined(separator: ", ") ?? ""))</td>"
          + "<td>\(hyperparameter.tracOnly ? "TraC" : "TraC and BC")</td></tr>")
    }
    html.append("</tbody></table></details></section>")
    return html.joined(separator: "\n")
  }

  static func runTable(_ lines: [ReportText.RunLine]) -> String {
    var html = [
      "<details class=\"runs\"><summary>Every run (\(lines.count)): id, threshold, seed, result, state, artifacts"
        + "</summary><table class=\"runs\"><thead><tr><th>run id</th><th>setting</th><th>cost threshold</th>"
        + "<th>seed</th><th>reward</th><th>cost</th><th>state</th><th>artifacts</th></tr></thead><tbody>"
    ]
    for line in lines {
      let safe = line.cost.map { $0 <= 1 }
      let cls = safe == true ? "safe" : safe == false ? "unsafe" : "not-recorded"
      html.append(
        "<tr class=\"\(cls)\" data-run=\"\(escape(line.runID ?? ""))\"><td data-field=\"run_id\"><code>"
          + "\(escape(line.runID ?? "-"))</code></td><td data-field=\"setting\">\(escape(line.setting))</td>"
          + "<td data-field=\"cost_threshold\">\(ReportText.threshold(line.costThreshold))</td>"
          + "<td data-field=\"seed\">\(line.seed)</td>"
          + "<td data-field=\"reward\">\(ReportText.number(line.reward))</td>"
          + "<td data-field=\"cost\">\(ReportText.number(line.cost))</td>"
          + "<td data-field=\"state\">\(escape(line.state))</td>"
          + "<td data-field=\"artifacts\" class=\"path\">\(escape(line.artifacts ?? "-"))</td></tr>")
    }
    html.append("</tbody></table></details>")
    return html.joined(separator: "\n")
  }

  static func completeness(_ report: SensitivityReport) -> String {
    let completeness = report.completeness
    guard !completeness.complete else {
      return "<p class=\"complete\">All \(completeness.expected) runs recorded.</p>"
    }
    var html = [
      "<section class=\"partial\"><p><b>Partial report:</b> \(escape(ReportText.completeness(report))).</p>",
      "<details><summary>Missing runs (\(completeness.missing.count))</summary><ul>",
    ]
    for run in completeness.missing.prefix(500) {
      html.append(
        "<li>\(escape(run.task)) \(escape(run.setting)), cost threshold \(ReportText.threshold(run.costThreshold)), "
          + "seed \(run.seed): \(escape(run.state))\(run.runID.map { " (run \(escape($0)))" } ?? "")</li>")
    }
    html.append("</ul></details></section>")
    return html.joined(separator: "\n")
  }

  static func settingsTable(_ settings: [SensitivityReport.Setting]) -> String {
    var html = [
      "<table class=\"settings\"><thead><tr><th>setting</th><th>runs</th><th>reward mean</th><th>± std</th>"
        + "<th>cost mean</th><th>± std</th><th>safe share</th></tr></thead><tbody>"
    ]
    for setting in settings {
      var classes: [String] = []
      if setting.safe == true { classes.append("safe") }
      if setting.safe == false { classes.append("unsafe") }
      if setting.bestSafe { classes.append("best-safe") }
      var name = escape(setting.label)
      if ReportText.fewSeeds(setting.seeds) {
        name +=
          " <span class=\"few-seeds\" title=\"\(setting.seeds) seed\(setting.seeds == 1 ? "" : "s")\">†</span>"
      }
      if setting.bestSafe { name += " <span class=\"star\" title=\"best safe setting\">★</span>" }
      if setting.safe == false { name += " <span class=\"unsafe-tag\">unsafe</span>" }
      html.append(
        "<tr data-task=\"\(escape(setting.task))\" data-label=\"\(escape(setting.label))\" "
          + "data-seeds=\"\(setting.seeds)\" class=\"\(classes.joined(separator: " "))\"><th scope=\"row\">\(name)</th>"
          + "<td data-field=\"runs\" title=\"of \(setting.expected) expected\">\(setting.runs)</td>"
          + "<td data-field=\"reward_mean\">\(ReportText.number(setting.reward.mean))</td>"
          + "<td data-field=\"reward_std\">\(ReportText.number(setting.reward.std))</td>"
          + "<td data-field=\"cost_mean\">\(ReportText.number(setting.cost.mean))</td>"
          + "<td data-field=\"cost_std\">\(ReportText.number(setting.cost.std))</td>"
          + "<td data-field=\"safe_share\">\(ReportText.share(setting.safeShare))</td></tr>")
    }
    html.append("</tbody></table>")
    return html.joined(separator: "\n")
  }

  /// As report.md's: per setting and cost threshold, reward and cost mean ± std over seeds, safe cells bold.
  static func thresholdTable(_ settings: [SensitivityReport.Setting], thresholds: [Double]) -> String {
    var html = ["<table class=\"thresholds\"><thead><tr><th>setting</th>"]
    for threshold in thresholds {
      html.append(
        "<th>C=\(ReportText.threshold(threshold)) reward</th><th>C=\(ReportText.threshold(threshold)) cost</th>"
      )
    }
    html.append("</tr></thead><tbody>")
    for setting in settings {
      var row = "<tr data-label=\"\(escape(setting.label))\"><th scope=\"row\">\(escape(setting.label))</th>"
      for group in setting.byThreshold {
        let safe = group.cost.mean.map { $0 <= 1 }
        let cls = safe == true ? " class=\"safe\"" : safe == false ? " class=\"unsafe\"" : ""
        let mark = ReportText.fewSeeds(group.seeds) ? " †" : ""
        let threshold = "data-threshold=\"\(ReportText.threshold(group.costThreshold))\""
        row +=
          "<td\(cls) \(threshold) data-field=\"reward\">\(escape(ReportText.meanStd(group.reward)))\(mark)</td>"
          + "<td\(cls) \(threshold) data-field=\"cost\">\(escape(ReportText.meanStd(group.cost)))\(mark)</td>"
      }
      html.append(row + "</tr>")
    }
    html.append("</tbody></table>")
    return html.joined(separator: "\n")
  }

  static func sensitivityTables(
    _ sensitivity: SensitivityReport.TaskSensitivity, base: [String: HyperparameterValue]
  ) -> String {
    var html: [String] = []
    if !sensitivity.curves.isEmpty {
      html.append(
        "<h3>Sensitivity (one at a time)</h3><p>Range of the setting means along each hyperparameter (its "
          + "values, the base point's included), beside the seed-to-seed std (pooled within each value and cost threshold): a range at least 2x the "
          + "seed std is called an effect, a smaller one is within the noise.</p>")
      html.append(
        "<table class=\"sensitivity\"><thead><tr><th>hyperparameter</th><th>values</th><th>reward range</th>"
          + "<th>reward seed std</th><th>reward</th><th>cost range</th><th>cost seed std</th><th>cost</th></tr>"
          + "</thead><tbody>")
      for curve in sensitivity.curves {
        html.append(
          "<tr data-hyperparameter=\"\(escape(curve.hyperparameter))\"><th scope=\"row\">\(escape(curve.hyperparameter))</th>"
            + "<td data-field=\"values\">\(escape(ReportText.curveValues(curve, base: base)))</td>"
            + "<td data-field=\"reward_range\">\(ReportText.number(curve.reward.range))</td>"
            + "<td data-field=\"reward_seed_std\">\(ReportText.number(curve.reward.seedStd))</td>"
            + "<td>\(escape(ReportText.verdict(curve.reward)))</td>"
            + "<td data-field=\"cost_range\">\(ReportText.number(curve.cost.range))</td>"
            + "<td data-field=\"cost_seed_std\">\(ReportText.number(curve.cost.seedStd))</td>"
            + "<td>\(escape(ReportText.verdict(curve.cost)))</td></tr>")
      }
      html.append("</tbody></table>")
    }
    if let anova = sensitivity.anova {
      html.append("<h3>Sensitivity (functional ANOVA of the full grid)</h3>")
      if !anova.complete {
        html.append(
          "<p class=\"partial\">Not computed: the grid is not complete (no result yet for "
            + "\(escape(anova.missingCells.joined(separator: ", ")))).</p>")
      } else {
        html.append(
          "<p>Share of the variance of the cell means (over cost thresholds and seeds) explained by each effect.</p>"
            + "<table class=\"anova\"><thead><tr><th>effect</th><th>reward share</th><th>cost share</th></tr>"
            + "</thead><tbody>")
        for (name, share) in anova.reward.main.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
          html.append(
            "<tr data-effect=\"\(escape(name))\"><th scope=\"row\">\(escape(name))</th>"
              + "<td data-field=\"reward_share\">\(ReportText.share(share))</td>"
              + "<td data-field=\"cost_share\">\(ReportText.share(anova.cost.main[name]))</td></tr>")
        }
        for (pair, costPair) in zip(anova.reward.pairs, anova.cost.pairs) {
          let name = pair.hyperparameters.joined(separator: " × ")
          html.append(
            "<tr data-effect=\"\(escape(name))\"><th scope=\"row\">\(escape(name))</th>"
              + "<td data-field=\"reward_share\">\(ReportText.share(pair.share))</td>"
              + "<td data-field=\"cost_share\">\(ReportText.share(costPair.share))</td></tr>")
        }
        html.append("</tbody></table>")
      }
    }
    return html.joined(separator: "\n")
  }

  static func figure(_ figure: ReportFigure, directory: URL?) -> String {
    let alt = escape(figure.title)
    guard let directory, let data = try? Data(contentsOf: directory.appendingPathComponent(figure.svg)) else {
      return "<figure><p class=\"partial\">\(alt): figure file missing</p></figure>"
    }
    return
      "<figure><img alt=\"\(alt)\" src=\"data:image/svg+xml;base64,\(data.base64EncodedString())\">"
      + "<figcaption><b>\(alt).</b> \(escape(figure.caption))</figcaption></figure>"
  }

  static func anchor(_ task: String) -> String {
    "task-" + String(task.map { $0.isLetter || $0.isNumber ? $0 : "-" })
  }

  /// Text made safe for HTML content and attribute values.
  public static func escape(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.count)
    for character in text {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&quot;"
      case "'": result += "&#39;"
      default: result.append(character)
      }
    }
    return result
  }

  static let style = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:72rem;\
    padding:0 1rem;color:#1a1a1a;line-height:1.45}
    h1{font-size:1.6rem;margin-bottom:.2rem}h1 .id{font-size:1rem;color:#666;font-weight:normal}
    h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
    .meta,.legend,footer{color:#555;font-size:.9rem}
    table{border-collapse:collapse;margin:.8rem 0;font-variant-numeric:tabular-nums;font-size:.92rem}
    th,td{padding:.3rem .7rem;border-bottom:1px solid #e5e5e5;text-align:right}
    th[scope=row],thead th:first-child{text-align:left}thead th{background:#f5f5f5}
    tr.safe td{font-weight:600}tr.unsafe td{font-weight:400}tr.unsafe{color:#8a8a8a}td.safe{font-weight:600}td.unsafe{color:#8a8a8a}
    tr.best-safe{background:#eef7ee}.star{color:#c08400}
    .unsafe-tag{font-size:.75rem;color:#b00020;border:1px solid #b00020;border-radius:3px;padding:0 .25rem}
    .partial{background:#fff6e5;border-left:4px solid #f0a000;padding:.4rem .8rem}
    .complete{color:#2d6a2d}
    .figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(28rem,1fr));gap:1.2rem}
    figure{margin:0}figure img{width:100%;height:auto;border:1px solid #eee}
    figcaption{font-size:.85rem;color:#444}
    .few-seeds{color:#b06000}.few-seeds-note{color:#7a4a00;font-size:.9rem}
    table.setup td{text-align:left}table.runs td.path{text-align:left;font-size:.8rem;word-break:break-all}
    tr.not-recorded{color:#8a8a8a}details{margin:.8rem 0}summary{cursor:pointer}
    """
}
