import Foundation
import Hummingbird
import SweepReport
import SweepWire
import TracCore

/// What the routes show, made from the feed's latest snapshot: shared by every route collection.
struct DashboardViews: Sendable {
  let feed: CoordinatorFeed
  let coordinator: String
  let artifacts: [URL]
  let reports = ReportCache()

  /// The files a run page links to, read from the run's folder only.
  static let runFiles = ["run.json", "train.jsonl", "policy.safetensors"]

  func overview() -> Overview {
    Overview(feed.snapshot, coordinator: coordinator)
  }

  func sweepLive(_ key: String, links: Pages.Links) -> (sweep: Overview.Sweep, html: String)? {
    let snapshot = feed.snapshot
    guard let status = Self.find(key, in: snapshot) else { return nil }
    feed.noteViewed(status.id)
    let overview = Overview(snapshot, coordinator: coordinator)
    guard let sweep = overview.sweeps.first(where: { $0.id == status.id }) else { return nil }
    let rows = snapshot.rows[sweep.id]
    let labels = rows.map { reports.report($0, roots: artifacts).labels } ?? [:]
    let html = Pages.sweepLive(
      sweep, overview: overview, rows: rows.map { RunRow.rows(of: $0.reply) } ?? [], labels: labels,
      version: rows?.version ?? 0, runningSince: snapshot.runningSince,
      progress: Dictionary(
        (snapshot.status?.progress ?? []).map { ($0.runID, $0) }, uniquingKeysWith: { first, _ in first }),
      links: links)
    return (sweep, html)
  }

  /// A sweep's sensitivity report, or nil when there is no such sweep.
  func report(_ key: String) -> String? {
    let snapshot = feed.snapshot
    guard let sweep = Self.find(key, in: snapshot) else { return nil }
    feed.noteViewed(sweep.id)
    guard let rows = snapshot.rows[sweep.id] else { return Self.waiting }
    return reports.report(rows, roots: artifacts).html
  }

  /// A run's page, or its live part.
  func runPage(_ runID: String, links: Pages.Links) -> String {
    let run = self.run(runID)
    return Pages.runPage(
      runID, row: run.row, sweeps: run.sweeps, label: run.label, overview: overview(), folder: run.folder,
      files: run.folder.map { files(in: $0) } ?? [], links: links)
  }

  func run(_ runID: String) -> (
    row: RunRow?, sweeps: [(id: String, name: String)], label: String?, folder: RunFolder?
  ) {
    let snapshot = feed.snapshot
    var found: RunRow?
    var sweeps: [(id: String, name: String)] = []
    var label: String?
    for sweep in snapshot.status?.sweeps ?? [] {
      guard let rows = snapshot.rows[sweep.id],
        let row = RunRow.rows(of: rows.reply).first(where: { $0.runID == runID })
      else { continue }
      sweeps.append((sweep.id, sweep.name))
      if found == nil || (found?.state != "done" && row.state == "done") { found = row }
      if label == nil { label = reports.report(rows, roots: artifacts).labels[runID] }
    }
    guard let found, RunID.isValid(runID) else { return (nil, [], nil, nil) }
    let folder =
      found.state == "done" ? RunFolders.read(policyPath: found.policy, runID: runID, roots: artifacts) : nil
    return (found, sweeps, label, folder)
  }

  private func files(in folder: RunFolder) -> [String] {
    guard let directory = folder.directory else { return [] }
    return Self.runFiles.filter {
      FileManager.default.isReadableFile(
        atPath: URL(fileURLWithPath: directory).appendingPathComponent($0).path)
    }
  }

  static func find(_ key: String, in snapshot: CoordinatorFeed.Snapshot) -> StatusReply.Sweep? {
    snapshot.status?.sweeps.first { $0.id == key } ?? snapshot.status?.sweeps.first { $0.name == key }
  }

  static let waiting =
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>report</title><style></style></head>"
    + "<body><p>The sweep's runs are being read from the coordinator.</p></body></html>"
}

/// The sensitivity report of a sweep, built again only when its rows changed.
final class ReportCache: @unchecked Sendable {
  struct Entry {
    var version: Int
    var html: String
    /// Each run's setting label, by run id.
    var labels: [String: String]
  }

  private let lock = NSLock()
  private var entries: [String: Entry] = [:]

  func report(_ rows: CoordinatorFeed.SweepRows, roots: [URL]) -> Entry {
    lock.lock()
    defer { lock.unlock() }
    if let entry = entries[rows.reply.sweepID], entry.version == rows.version { return entry }
    let entry = Self.build(rows, roots: roots)
    entries[rows.reply.sweepID] = entry
    return entry
  }

  static func build(_ rows: CoordinatorFeed.SweepRows, roots: [URL]) -> Entry {
    let reply = rows.reply
    do {
      let grid = try GridFile(parsing: Data(reply.grid.utf8))
      let built = try ReportBuilder(grid: grid, sweepID: reply.sweepID).build(
        table: RunTable(columns: reply.columns, rows: reply.rows),
        source: "the coordinator's table of \(reply.name)",
        folder: { RunFolders.read(policyPath: $0.fields["policy"], runID: $0.runID, roots: roots) })
      var labels: [String: String] = [:]
      for run in built.report.runs { if let id = run.runID { labels[id] = run.label } }
      for run in built.report.completeness.missing { if let id = run.runID { labels[id] = run.setting } }
      let html = HTMLReport.render(
        built.report, figures: [], figureDirectory: nil,
        figureNote:
          "the dashboard shows the report's tables; trac-sweep report \(reply.sweepID) draws the figures")
      return Entry(version: rows.version, html: html, labels: labels)
    } catch {
      let html =
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>report</title><style></style></head>"
        + "<body><p class=\"partial\">No report: \(HTMLReport.escape("\(error)"))</p></body></html>"
      return Entry(version: rows.version, html: html, labels: [:])
    }
  }
}
