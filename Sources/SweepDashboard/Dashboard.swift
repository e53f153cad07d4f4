import Foundation
import Hummingbird
import Logging
import SweepReport
import SweepWire
import TracCore

/// `trac-sweep dashboard`: a read-only web view of a coordinator, a client of it like `status`.
/// One thread polls the coordinator (`CoordinatorFeed`); a Hummingbird server answers browsers and
/// Prometheus from what it last read, so the coordinator never sees more than one steady client.
public final class Dashboard: Sendable {
  public struct Configuration: Sendable {
    public var listen: ListenAddress
    /// Required unless `listen` is a loopback address: every request must present it.
    public var token: String?
    public var feed: CoordinatorFeed.Options
    /// Copies of the coordinator's `artifacts` folder, for run files when the policy path given by the
    /// coordinator is not readable here (as `trac-sweep report --artifacts`).
    public var artifacts: [URL]

    public init(
      listen: ListenAddress, token: String?, feed: CoordinatorFeed.Options, artifacts: [URL] = []
    ) throws(DashboardError) {
      if let token {
        guard token.count >= Self.minimumTokenLength, !token.contains(where: \.isWhitespace) else {
          throw DashboardError(
            "the token must be at least \(Self.minimumTokenLength) characters without spaces"
              + " (e.g. from: openssl rand -hex 24)")
        }
      } else if !listen.isLoopback {
        throw DashboardError(
          "listening on \(listen) reaches beyond this machine: give --token or --token-file (every request"
            + " must then present it), or listen on 127.0.0.1 and use an ssh tunnel"
            + " (ssh -L 8080:127.0.0.1:8080 HEAD)")
      }
      self.listen = listen
      self.token = token
      self.feed = feed
      self.artifacts = artifacts
    }

    public static let minimumTokenLength = 16
  }

  public let configuration: Configuration
  public let feed: CoordinatorFeed
  let reports = ReportCache()
  let logger: Logger

  public init(configuration: Configuration, logger: Logger = Logger(label: "trac-sweep.dashboard")) {
    self.configuration = configuration
    self.logger = logger
    feed = CoordinatorFeed(options: configuration.feed, logger: logger)
  }

  /// Serves until cancelled (or, with `handleSignals`, until SIGTERM or SIGINT). `onListening` gets the
  /// port bound (the one chosen for port 0).
  public func run(
    handleSignals: Bool = false, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
  ) async throws {
    feed.start()
    defer { feed.stop() }
    let router = Router()
    router.add(middleware: AccessMiddleware<BasicRequestContext>(token: configuration.token))
    routes(router)
    let listen = configuration.listen
    let app = Application(
      router: router,
      configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: nil),
      onServerRunning: { channel in
        await onListening(channel.localAddress?.port ?? listen.port)
      },
      logger: logger)
    if handleSignals {
      try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    } else {
      try await app.runService(gracefulShutdownSignals: [])
    }
  }

  // MARK: - Routes

  private func routes(_ router: Router<BasicRequestContext>) {
    router.get("/") { request, _ in
      let links = Self.links(request)
      let overview = self.overview()
      return Self.html(
        Pages.page(
          title: "trac-sweep: \(overview.sweeps.count) sweeps", links: links,
          live: Pages.overviewLive(overview, links: links), liveSource: "/parts/overview"))
    }
    router.get("/parts/overview") { request, _ in
      Self.html(Pages.overviewLive(self.overview(), links: Self.links(request)))
    }
    router.get("/api/overview") { _, _ in
      try Self.json(self.overview())
    }
    router.get("/dashboard.js") { _, _ in
      Self.text(Script.source, type: "text/javascript; charset=utf-8")
    }
    router.get("/metrics") { _, _ in
      Self.text(PrometheusText.render(self.feed.snapshot), type: PrometheusText.contentType)
    }
    router.get("/sweeps/:sweep") { request, context in
      let links = Self.links(request)
      guard let live = self.sweepLive(try context.parameters.require("sweep"), links: links) else {
        return Self.notFound("no such sweep")
      }
      return Self.html(
        Pages.page(
          title: "trac-sweep: \(live.sweep.name)", links: links, live: live.html,
          liveSource: "/parts/sweeps/\(live.sweep.id)",
          extra: Pages.reportSlot(sweep: live.sweep.id, links: links)))
    }
    router.get("/parts/sweeps/:sweep") { request, context in
      guard let live = self.sweepLive(try context.parameters.require("sweep"), links: Self.links(request))
      else {
        return Self.notFound("no such sweep")
      }
      return Self.html(live.html)
    }
    router.get("/sweeps/:sweep/report") { _, context in
      let snapshot = self.feed.snapshot
      guard let sweep = Self.find(try context.parameters.require("sweep"), in: snapshot) else {
        return Self.notFound("no such sweep")
      }
      self.feed.noteViewed(sweep.id)
      guard let rows = snapshot.rows[sweep.id] else { return Self.html(Self.waiting) }
      return Self.html(self.reports.report(rows, roots: self.configuration.artifacts).html)
    }
    router.get("/api/sweeps/:sweep") { _, context in
      let snapshot = self.feed.snapshot
      guard let sweep = Self.find(try context.parameters.require("sweep"), in: snapshot),
        let rows = snapshot.rows[sweep.id]
      else {
        return Self.notFound("no such sweep, or its runs are not read yet")
      }
      return try Self.json(rows.reply)
    }
    router.get("/runs/:run") { request, context in
      let runID = try context.parameters.require("run")
      let links = Self.links(request)
      let run = self.run(runID)
      let overview = self.overview()
      let files = run.folder.map { self.files(in: $0) } ?? []
      let body = Pages.runPage(
        runID, row: run.row, sweeps: run.sweeps, label: run.label, overview: overview, folder: run.folder,
        files: files, links: links)
      return Self.html(
        Pages.page(
          title: "trac-sweep: run \(runID)", links: links, live: body, liveSource: "/parts/runs/\(runID)"))
    }
    router.get("/parts/runs/:run") { request, context in
      let runID = try context.parameters.require("run")
      let run = self.run(runID)
      return Self.html(
        Pages.runPage(
          runID, row: run.row, sweeps: run.sweeps, label: run.label, overview: self.overview(),
          folder: run.folder, files: run.folder.map { self.files(in: $0) } ?? [], links: Self.links(request)))
    }
    router.get("/runs/:run/files/:name") { _, context in
      let runID = try context.parameters.require("run")
      let name = try context.parameters.require("name")
      guard Self.runFiles.contains(name), let directory = self.run(runID).folder?.directory,
        let data = FileManager.default.contents(
          atPath: URL(fileURLWithPath: directory).appendingPathComponent(name).path)
      else {
        return Self.notFound("no such file")
      }
      var headers = HTTPFields()
      headers[.contentType] =
        name.hasSuffix(".safetensors") ? "application/octet-stream" : "application/json; charset=utf-8"
      if name.hasSuffix(".safetensors") { headers[.contentDisposition] = "attachment; filename=\"\(name)\"" }
      return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
  }

  /// The files a run page links to, read from the run's folder only.
  static let runFiles = ["run.json", "train.jsonl", "policy.safetensors"]

  private func files(in folder: RunFolder) -> [String] {
    guard let directory = folder.directory else { return [] }
    return Self.runFiles.filter {
      FileManager.default.isReadableFile(
        atPath: URL(fileURLWithPath: directory).appendingPathComponent($0).path)
    }
  }

  // MARK: - Views of the snapshot

  func overview() -> Overview {
    Overview(feed.snapshot, coordinator: configuration.feed.endpoint)
  }

  private func sweepLive(_ key: String, links: Pages.Links) -> (sweep: Overview.Sweep, html: String)? {
    let snapshot = feed.snapshot
    guard let status = Self.find(key, in: snapshot) else { return nil }
    feed.noteViewed(status.id)
    let overview = Overview(snapshot, coordinator: configuration.feed.endpoint)
    guard let sweep = overview.sweeps.first(where: { $0.id == status.id }) else { return nil }
    let rows = snapshot.rows[sweep.id]
    let labels = rows.map { reports.report($0, roots: configuration.artifacts).labels } ?? [:]
    let html = Pages.sweepLive(
      sweep, overview: overview, rows: rows.map { RunRow.rows(of: $0.reply) } ?? [], labels: labels,
      version: rows?.version ?? 0, runningSince: snapshot.runningSince,
      progress: Dictionary(
        (snapshot.status?.progress ?? []).map { ($0.runID, $0) }, uniquingKeysWith: { first, _ in first }),
      links: links)
    return (sweep, html)
  }

  private func run(_ runID: String) -> (
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
      if label == nil { label = reports.report(rows, roots: configuration.artifacts).labels[runID] }
    }
    guard let found, RunID.isValid(runID) else { return (nil, [], nil, nil) }
    let folder =
      found.state == "done"
      ? RunFolders.read(policyPath: found.policy, runID: runID, roots: configuration.artifacts) : nil
    return (found, sweeps, label, folder)
  }

  static func find(_ key: String, in snapshot: CoordinatorFeed.Snapshot) -> StatusReply.Sweep? {
    snapshot.status?.sweeps.first { $0.id == key } ?? snapshot.status?.sweeps.first { $0.name == key }
  }

  static let waiting =
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>report</title><style></style></head>"
    + "<body><p>The sweep's runs are being read from the coordinator.</p></body></html>"

  // MARK: - Responses

  static func links(_ request: Request) -> Pages.Links {
    Pages.Links(token: request.uri.queryParameters.get("token"))
  }

  static func html(_ text: String) -> Response {
    self.text(text, type: "text/html; charset=utf-8")
  }

  static func text(_ text: String, type: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = type
    headers[.cacheControl] = "no-store"
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
  }

  static func json(_ value: some Encodable) throws -> Response {
    let data = try JSONCodec.prettyEncoder.encode(value)
    return text(String(decoding: data, as: UTF8.self), type: "application/json; charset=utf-8")
  }

  static func notFound(_ message: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/plain; charset=utf-8"
    return Response(
      status: .notFound, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
  }
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

public struct DashboardError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
