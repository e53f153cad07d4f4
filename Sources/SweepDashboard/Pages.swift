import Foundation
import SweepReport
import SweepWire
import TracCore

/// The dashboard's HTML: whole pages (usable without script) and the live parts the page's script
/// fetches again every few seconds. Nothing is loaded from anywhere but this server.
enum Pages {
  /// How links are written: with the `?token=` a page was opened with, so that it keeps working.
  struct Links {
    var token: String?

    func href(_ path: String) -> String {
      guard let token else { return path }
      let separator = path.contains("?") ? "&" : "?"
      return path + separator + "token="
        + (token.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? "")
    }

    /// What a query value keeps as it is: RFC 3986's unreserved characters.
    static let unreserved = CharacterSet(
      charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
  }

  static func escape(_ text: String) -> String { HTMLReport.escape(text) }

  static func page(title: String, links: Links, live: String, liveSource: String, extra: String = "")
    -> String
  {
    """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>\(escape(title))</title><style>\(style)</style></head><body>
    <header class="top"><a href="\(escape(links.href("/")))">trac-sweep dashboard</a>
    <span id="connection" class="connection">live</span></header>
    <main>
    <div id="live" data-src="\(escape(links.href(liveSource)))">
    \(live)
    </div>
    \(extra)
    </main>
    <script src="\(escape(links.href("/dashboard.js")))"></script>
    </body></html>

    """
  }

  // MARK: - Overview

  static func overviewLive(_ overview: Overview, links: Links) -> String {
    var html: [String] = []
    html.append(coordinatorLine(overview))
    html.append("<h1>Sweeps</h1>")
    if overview.sweeps.isEmpty {
      html.append("<p class=\"empty\">No sweeps yet: <code>trac-sweep submit GRID</code> adds one.</p>")
    } else {
      html.append(
        "<table class=\"sweeps\"><thead><tr><th>sweep</th><th class=\"bar-cell\">progress</th><th>done</th>"
          + "<th>running</th><th>pending</th><th>failed</th><th>cancelled</th><th>total</th><th>ETA</th>"
          + "<th title=\"training time of the recorded runs, one core each\">CPU-hours</th>"
          + "<th title=\"attempts lost (worker silent or gone) / late duplicate results\">lost / dup</th></tr></thead><tbody>"
      )
      for sweep in overview.sweeps {
        html.append(
          "<tr data-sweep=\"\(escape(sweep.id))\"><th scope=\"row\"><a href=\"\(escape(links.href("/sweeps/\(sweep.id)")))\">"
            + "\(escape(sweep.name))</a> <span class=\"id\">\(escape(sweep.id))</span></th>"
            + "<td class=\"bar-cell\">\(bar(sweep))</td>"
            + "<td data-field=\"done\">\(sweep.done)</td><td data-field=\"running\">\(sweep.running)</td>"
            + "<td data-field=\"pending\">\(sweep.pending)</td>"
            + "<td data-field=\"failed\" class=\"\(sweep.failed > 0 ? "bad" : "")\">\(sweep.failed)</td>"
            + "<td data-field=\"cancelled\">\(sweep.cancelled)</td><td data-field=\"total\">\(sweep.total)</td>"
            + "<td data-field=\"eta\" title=\"\(escape(sweep.etaBasis))\">\(eta(sweep))</td>"
            + "<td data-field=\"cpu_hours\">\(sweep.cpuHours.map(cpuHours) ?? "…")</td>"
            + "<td data-field=\"lost\">\(sweep.lostAttempts) / \(sweep.duplicates)</td></tr>")
      }
      html.append("</tbody></table>")
    }
    html.append(workers(overview, links: links))
    html.append(failures(overview.recentFailures, links: links))
    return html.joined(separator: "\n")
  }

  static func coordinatorLine(_ overview: Overview) -> String {
    if let problem = overview.problem {
      return
        "<p class=\"problem\" id=\"coordinator-problem\"><b>The coordinator at \(escape(overview.coordinator)) "
        + "does not answer:</b> \(escape(problem))"
        + (overview.statusAgeSeconds.map { " (showing what it said \(formatDuration($0)) ago)" } ?? "")
        + "</p>"
    }
    return "<p class=\"meta\">Coordinator <code>\(escape(overview.coordinator))</code>"
      + (overview.statusAgeSeconds.map { ", status read \(formatDuration($0)) ago" }
        ?? ", waiting for its first answer")
      + ".</p>"
  }

  static func bar(_ sweep: Overview.Sweep) -> String {
    guard sweep.total > 0 else { return "<div class=\"bar\"></div>" }
    func part(_ count: Int, _ cls: String) -> String {
      count == 0
        ? ""
        : "<span class=\"\(cls)\" style=\"width:\(String(format: "%.3f", 100 * Double(count) / Double(sweep.total)))%\"></span>"
    }
    let percent = Int((100 * sweep.progress).rounded(.down))
    return
      "<div class=\"bar\" role=\"progressbar\" aria-valuenow=\"\(percent)\" aria-valuemin=\"0\" aria-valuemax=\"100\""
      + " title=\"\(sweep.done) done, \(sweep.failed) failed, \(sweep.cancelled) cancelled, \(sweep.running) running of \(sweep.total)\">"
      + part(sweep.done, "done") + part(sweep.failed, "failed") + part(sweep.cancelled, "cancelled")
      + part(sweep.running, "running")
      + "</div><span class=\"percent\" data-field=\"percent\">\(percent)%</span>"
  }

  /// Hours with two decimals, or three significant digits below one hour (a tiny sweep is not 0.00).
  static func cpuHours(_ hours: Double) -> String {
    hours >= 1 || hours == 0 ? String(format: "%.2f", hours) : String(format: "%.3g", hours)
  }

  static func eta(_ sweep: Overview.Sweep) -> String {
    if sweep.pending + sweep.running == 0 { return "finished" }
    return sweep.etaSeconds.map(formatDuration) ?? "?"
  }

  static func workers(_ overview: Overview, links: Links) -> String {
    let counts = overview.workers
    var html = [
      "<h2>Workers</h2><ul class=\"cards\">"
        + "<li data-field=\"workers_online\"><b>\(counts.online)</b> online</li>"
        + "<li data-field=\"workers_offline\" class=\"\(counts.offline > 0 ? "warn" : "")\"><b>\(counts.offline)</b> offline</li>"
        + "<li data-field=\"workers_left\"><b>\(counts.left)</b> left</li>"
        + "<li data-field=\"workers_quarantined\" class=\"\(counts.quarantined > 0 ? "bad" : "")\"><b>\(counts.quarantined)</b> quarantined</li>"
        + "<li data-field=\"slots\"><b>\(counts.busySlots)/\(counts.slots)</b> slots busy</li></ul>"
    ]
    if overview.workerList.isEmpty {
      html.append(
        "<p class=\"empty\">No worker has connected: <code>trac-sweep worker --connect ADDRESS</code>.</p>")
      return html.joined(separator: "\n")
    }
    html.append(
      "<table class=\"workers\"><thead><tr><th>worker</th><th>host</th><th>state</th><th>slots</th>"
        + "<th>running</th><th>failures in a row</th></tr></thead><tbody>")
    for worker in overview.workerList {
      let state = worker.quarantined ? "quarantined (\(worker.state))" : worker.state
      let running = worker.running.map {
        "<a href=\"\(escape(links.href("/runs/\($0)")))\"><code>\(escape(String($0.prefix(8))))</code></a>"
      }.joined(separator: " ")
      html.append(
        "<tr data-worker=\"\(escape(worker.id))\" class=\"\(worker.quarantined ? "bad" : worker.state == "online" ? "" : "muted")\">"
          + "<th scope=\"row\">\(escape(worker.id))</th><td class=\"left\">\(escape(worker.host))</td>"
          + "<td data-field=\"state\" class=\"left\">\(escape(state))</td><td>\(worker.running.count)/\(worker.slots)</td>"
          + "<td class=\"left\">\(running)</td><td>\(worker.consecutiveFailures)</td></tr>")
    }
    html.append("</tbody></table>")
    if counts.quarantined > 0 {
      html.append(
        "<p class=\"note\">A quarantined worker gets no runs until released: <code>trac-sweep release WORKER</code>.</p>"
      )
    }
    return html.joined(separator: "\n")
  }

  static func failures(_ failures: [StatusReply.Failure], links: Links) -> String {
    var html = ["<h2>Recent failures</h2>"]
    if failures.isEmpty {
      html.append("<p class=\"empty\" id=\"no-failures\">No failed attempt.</p>")
      return html.joined(separator: "\n")
    }
    html.append("<ul class=\"failures\">")
    for failure in failures {
      let kind = failure.inputError ? "input error" : "exit status \(failure.exitStatus)"
      let tail = failure.stderrTail.split(separator: "\n", omittingEmptySubsequences: false).suffix(12)
        .joined(separator: "\n")
      html.append(
        "<li data-run=\"\(escape(failure.runID))\"><a href=\"\(escape(links.href("/runs/\(failure.runID)")))\"><code>"
          + "\(escape(String(failure.runID.prefix(8))))</code></a> attempt \(failure.attempt) on "
          + "\(escape(failure.worker)): <b>\(kind)</b><pre>\(escape(tail))</pre></li>")
    }
    html.append("</ul>")
    return html.joined(separator: "\n")
  }

  // MARK: - A sweep

  static func sweepLive(
    _ sweep: Overview.Sweep, overview: Overview, rows: [RunRow], labels: [String: String], version: Int,
    runningSince: [String: Date], progress: [String: StatusReply.RunProgress] = [:], links: Links,
    now: Date = Date()
  ) -> String {
    var html: [String] = []
    html.append(coordinatorLine(overview))
    html.append(
      "<h1>\(escape(sweep.name)) <span class=\"id\">sweep \(escape(sweep.id))</span></h1>"
        + "<div class=\"summary\" data-sweep=\"\(escape(sweep.id))\">\(bar(sweep))"
        + "<p><span data-field=\"done\">\(sweep.done)</span> done, <span data-field=\"running\">\(sweep.running)</span>"
        + " running, <span data-field=\"pending\">\(sweep.pending)</span> pending, <span data-field=\"failed\">"
        + "\(sweep.failed)</span> failed, <span data-field=\"cancelled\">\(sweep.cancelled)</span> cancelled of "
        + "<span data-field=\"total\">\(sweep.total)</span>. ETA <span data-field=\"eta\" title=\"\(escape(sweep.etaBasis))\">"
        + "\(eta(sweep))</span>; CPU-hours <span data-field=\"cpu_hours\">"
        + "\(sweep.cpuHours.map(cpuHours) ?? "…")</span>; \(sweep.lostAttempts) lost attempts, "
        + "\(sweep.duplicates) duplicate results.</p></div>")
    let running = rows.filter { $0.state == "running" }
    html.append("<h2>Running (\(running.count))</h2>")
    if running.isEmpty {
      html.append("<p class=\"empty\">Nothing running.</p>")
    } else {
      html.append(
        "<table class=\"running\"><thead><tr><th>run</th><th>setting</th><th>cost threshold</th><th>seed</th>"
          + "<th>worker</th><th title=\"the worker's last report from the trainer's train.jsonl\">progress</th>"
          + "<th>loss</th><th title=\"since this dashboard first saw it running\">running for</th></tr></thead><tbody>"
      )
      for row in running {
        let holders = overview.workerList.filter { $0.running.contains(row.runID) }
        let since = holders.compactMap { runningSince["\(row.runID)/\($0.id)"] }.min()
        html.append(
          "<tr data-run=\"\(escape(row.runID))\"><th scope=\"row\"><a href=\"\(escape(links.href("/runs/\(row.runID)")))\">"
            + "<code>\(escape(row.runID))</code></a></th><td class=\"left\">\(escape(labels[row.runID] ?? row.point))</td>"
            + "<td>\(escape(row.costThreshold))</td><td>\(escape(row.seed))</td>"
            + "<td>\(escape(holders.map(\.id).joined(separator: ", ")))</td>"
            + "<td data-field=\"progress\">\(progress[row.runID].map(progressText) ?? "")</td>"
            + "<td>\(progress[row.runID]?.loss.map { String(format: "%.4f", $0) } ?? "")</td>"
            + "<td>\(since.map { "≥ " + formatDuration(now.timeIntervalSince($0)) } ?? "")</td></tr>")
      }
      html.append("</tbody></table>")
    }
    html.append(runsTable(rows, labels: labels, links: links))
    html.append("<span id=\"report-version\" data-version=\"\(version)\" hidden></span>")
    return html.joined(separator: "\n")
  }

  /// `trac 41000/100000 (41%)`: a running run's phase and steps, as its worker last reported them.
  static func progressText(_ progress: StatusReply.RunProgress) -> String {
    let share = progress.totalSteps > 0 ? 100 * progress.step / progress.totalSteps : 0
    return escape("\(progress.phase) \(progress.step)/\(progress.totalSteps) (\(share)%)")
  }

  static func runsTable(_ rows: [RunRow], labels: [String: String], links: Links) -> String {
    let limit = 2000
    var html = [
      "<details id=\"runs\" open><summary>Every run (\(rows.count))</summary>"
        + "<table class=\"runs\"><thead><tr><th>run</th><th>setting</th><th>cost threshold</th><th>seed</th>"
        + "<th>state</th><th>reward</th><th>cost</th><th>attempt</th><th>worker</th><th>train s</th></tr></thead><tbody>"
    ]
    for row in rows.prefix(limit) {
      let cls = row.state == "failed" ? "bad" : row.state == "done" ? "" : "muted"
      html.append(
        "<tr data-run=\"\(escape(row.runID))\" class=\"\(cls)\"><th scope=\"row\"><a href=\"\(escape(links.href("/runs/\(row.runID)")))\">"
          + "<code>\(escape(row.runID))</code></a></th><td class=\"left\">\(escape(labels[row.runID] ?? row.point))</td>"
          + "<td>\(escape(row.costThreshold))</td><td>\(escape(row.seed))</td>"
          + "<td data-field=\"state\">\(escape(row.state))</td>"
          + "<td>\(row.reward.map { String(format: "%.3f", $0) } ?? "")</td>"
          + "<td>\(row.cost.map { String(format: "%.3f", $0) } ?? "")</td>"
          + "<td>\(escape(row.attempt))</td><td>\(escape(row.worker))</td>"
          + "<td>\(row.trainSeconds.map { String(format: "%.1f", $0) } ?? "")</td></tr>")
    }
    html.append("</tbody></table>")
    if rows.count > limit {
      html.append(
        "<p class=\"note\">The first \(limit) of \(rows.count) runs; `trac-sweep results` lists all.</p>")
    }
    html.append("</details>")
    return html.joined(separator: "\n")
  }

  /// The sensitivity report's place on a sweep's page: the script loads `/sweeps/ID/report` into it
  /// (in a shadow root, so its styles stay its own) and again whenever the report changed.
  static func reportSlot(sweep: String, links: Links) -> String {
    "<section class=\"report\"><h2>Sensitivity report</h2><p class=\"note\">The tables of <code>trac-sweep report</code>,"
      + " from the results recorded so far (figures: run <code>trac-sweep report</code>). "
      + "<a href=\"\(escape(links.href("/sweeps/\(sweep)/report")))\">Open it alone</a>.</p>"
      + "<div id=\"report\" data-src=\"\(escape(links.href("/sweeps/\(sweep)/report")))\"></div></section>"
  }

  // MARK: - A run

  static func runPage(
    _ runID: String, row: RunRow?, sweeps: [(id: String, name: String)], label: String?, overview: Overview,
    folder: RunFolder?, files: [String], links: Links
  ) -> String {
    var html: [String] = []
    html.append(coordinatorLine(overview))
    html.append("<h1>Run <code>\(escape(runID))</code></h1>")
    guard let row else {
      html.append("<p class=\"problem\">No sweep the coordinator knows has this run.</p>")
      return html.joined(separator: "\n")
    }
    let sweepLinks = sweeps.map {
      "<a href=\"\(escape(links.href("/sweeps/\($0.id)")))\">\(escape($0.name))</a>"
    }
    html.append(
      "<p>\(escape(label ?? row.point)) in \(sweepLinks.joined(separator: ", ")): <b data-field=\"state\">\(escape(row.state))</b>"
        + (row.reward.map { String(format: "; normalized reward %.3f", $0) } ?? "")
        + (row.cost.map { String(format: ", normalized cost %.3f", $0) } ?? "") + ".</p>")
    html.append("<h2>Inputs</h2><table class=\"inputs\"><tbody>")
    let skip: Set<String> = [
      "sweep", "run_id", "normalized_reward", "normalized_reward_std", "normalized_cost",
      "normalized_cost_std", "safe",
      "reward_return", "cost_return", "attempt", "worker", "train_seconds", "policy", "state",
    ]
    for (key, value) in row.fields.sorted(by: { $0.key < $1.key }) where !skip.contains(key) {
      html.append("<tr><th scope=\"row\">\(escape(key))</th><td class=\"left\">\(escape(value))</td></tr>")
    }
    html.append("</tbody></table>")
    html.append(
      "<h2>Attempts</h2><table class=\"attempts\"><thead><tr><th>attempt</th><th>worker</th><th>outcome</th>"
        + "<th>detail</th></tr></thead><tbody>")
    if !row.attempt.isEmpty {
      html.append(
        "<tr><td>\(escape(row.attempt))</td><td>\(escape(row.worker))</td><td>succeeded (recorded)</td>"
          + "<td class=\"left\">\(row.trainSeconds.map { String(format: "trained %.1f s", $0) } ?? "")</td></tr>"
      )
    }
    for worker in overview.workerList where worker.running.contains(runID) {
      html.append("<tr><td>current</td><td>\(escape(worker.id))</td><td>running</td><td></td></tr>")
    }
    for failure in overview.recentFailures where failure.runID == runID {
      html.append(
        "<tr class=\"bad\"><td>\(failure.attempt)</td><td>\(escape(failure.worker))</td>"
          + "<td>\(failure.inputError ? "input error" : "failed, exit status \(failure.exitStatus)")</td>"
          + "<td class=\"left\"><pre>\(escape(failure.stderrTail))</pre></td></tr>")
    }
    html.append(
      "</tbody></table><p class=\"note\">The coordinator reports the recorded attempt, the current one and"
        + " its recent failures; lost or released attempts are counted per sweep, not listed.</p>")
    html.append("<h2>Learning curve</h2>")
    if let points = folder?.trac, !points.isEmpty {
      html.append(learningCurve(points))
    } else {
      html.append(
        "<p class=\"empty\">\(escape(folder?.tracProblem ?? "No train.jsonl yet: the run has no recorded result."))</p>"
      )
    }
    html.append("<h2>Artifacts</h2>")
    if files.isEmpty {
      html.append(
        "<p class=\"empty\">None readable here\(folder?.directory.map { " (looked in \(escape($0)))" } ?? "").</p>"
      )
    } else {
      html.append(
        "<ul>"
          + files.map {
            "<li><a href=\"\(escape(links.href("/runs/\(runID)/files/\($0)")))\">\(escape($0))</a></li>"
          }.joined() + "</ul><p class=\"note\">In <code>\(escape(folder?.directory ?? ""))</code>.</p>")
    }
    return html.joined(separator: "\n")
  }

  /// TraC's loss (and accuracy, when logged) against step, as inline SVG.
  static func learningCurve(_ points: [TrainingLogPoint]) -> String {
    let width = 720.0
    let height = 260.0
    let pad = 44.0
    let steps = points.map { Double($0.step) }
    let losses = points.map(\.loss)
    let (x0, x1) = (steps.min()!, max(steps.max()!, steps.min()! + 1))
    let (y0, y1) = (losses.min()!, max(losses.max()!, losses.min()! + 1e-9))
    func x(_ step: Double) -> Double { pad + (step - x0) / (x1 - x0) * (width - 2 * pad) }
    func y(_ value: Double, _ low: Double, _ high: Double) -> Double {
      height - pad - (value - low) / (high - low) * (height - 2 * pad)
    }
    let loss = zip(steps, losses).map { String(format: "%.1f,%.1f", x($0), y($1, y0, y1)) }.joined(
      separator: " ")
    var svg =
      "<svg class=\"curve\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"TraC loss against step\">"
      + "<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(width - 2 * pad)\" height=\"\(height - 2 * pad)\" fill=\"none\" stroke=\"#ccc\"/>"
      + "<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\" points=\"\(loss)\"/>"
    let accuracy = points.compactMap { point in point.accuracy.map { (Double(point.step), $0) } }
    if accuracy.count > 1 {
      let line = accuracy.map { String(format: "%.1f,%.1f", x($0.0), y($0.1, 0, 1)) }.joined(separator: " ")
      svg +=
        "<polyline fill=\"none\" stroke=\"#c06000\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\" points=\"\(line)\"/>"
    }
    svg +=
      "<text x=\"\(pad)\" y=\"\(pad - 8)\" font-size=\"12\">loss \(String(format: "%.4g", y1)) (top) to \(String(format: "%.4g", y0))"
      + (accuracy.count > 1 ? "; dashed: accuracy 0 to 1" : "") + "</text>"
      + "<text x=\"\(pad)\" y=\"\(height - 12)\" font-size=\"12\">step \(Int(x0))</text>"
      + "<text x=\"\(width - pad)\" y=\"\(height - 12)\" font-size=\"12\" text-anchor=\"end\">step \(Int(x1))</text></svg>"
    return svg
  }

  static let style = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a1a1a;line-height:1.4;background:#fafafa}
    header.top{display:flex;justify-content:space-between;align-items:center;background:#1f2933;color:#fff;padding:.5rem 1.5rem}
    header.top a{color:#fff;text-decoration:none;font-weight:600}
    .connection{font-size:.85rem;color:#b8e0b8}.connection.stale{color:#ffb4b4}
    main{max-width:80rem;margin:0 auto;padding:1rem 1.5rem 3rem}
    h1{font-size:1.5rem;margin:.6rem 0}h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #ddd}
    .id{font-size:.8rem;color:#777;font-weight:normal;font-family:ui-monospace,monospace}
    table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.9rem;background:#fff}
    th,td{padding:.3rem .6rem;border-bottom:1px solid #e8e8e8;text-align:right;vertical-align:top}
    th[scope=row],thead th:first-child,td.left{text-align:left}thead th{background:#f0f0f0;font-weight:600}
    .bar-cell{width:22rem}.bar{display:inline-flex;width:16rem;height:.9rem;background:#e4e7eb;border-radius:3px;overflow:hidden;vertical-align:middle}
    .bar span{display:block;height:100%}.bar .done{background:#2f8f46}.bar .failed{background:#c0392b}
    .bar .cancelled{background:#9aa5b1}.bar .running{background:#7fb3e6}
    .percent{margin-left:.5rem;font-size:.85rem}
    .cards{display:flex;gap:.8rem;list-style:none;padding:0;flex-wrap:wrap}
    .cards li{background:#fff;border:1px solid #ddd;border-radius:4px;padding:.4rem .9rem}
    .cards li.warn{border-color:#f0a000}.cards li.bad,tr.bad td,td.bad{color:#b00020}tr.muted{color:#888}
    .failures{list-style:none;padding:0}.failures li{background:#fff;border-left:4px solid #c0392b;margin:.5rem 0;padding:.4rem .8rem}
    pre{background:#f4f4f4;padding:.4rem .6rem;overflow-x:auto;font-size:.8rem;margin:.3rem 0;white-space:pre-wrap}
    .problem{background:#fdecea;border-left:4px solid #c0392b;padding:.5rem .8rem}
    .meta,.note,.empty{color:#555;font-size:.9rem}
    svg.curve{width:100%;max-width:48rem;background:#fff;border:1px solid #eee}
    summary{cursor:pointer;font-weight:600;margin:.6rem 0}
    section.report{margin-top:2rem}
    """
}
