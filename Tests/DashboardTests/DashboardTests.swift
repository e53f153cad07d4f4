import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SweepDashboard
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The dashboard against a real coordinator on tcp://127.0.0.1, its routes served in memory
/// (HummingbirdTesting's `.router`) from a feed each test polls when the coordinator is where it wants it.
/// One test serves on a real socket, for what only a socket shows: the bound address and the `Host` rule.
final class DashboardTests: XCTestCase {
  // MARK: - /metrics

  func testMetricsParseAndTheirRunCountsEqualStatus() async throws {
    let cluster = try DashboardHarness()
    defer { cluster.stop() }
    // One sweep finished by a worker, one waiting, one cancelled: every state but failed has runs.
    let finished = try cluster.submit(name: "finished", seeds: [0, 1, 2])
    _ = try cluster.startWorker("w1", behaviour: .succeeds())
    _ = try cluster.waitForStatus("the first sweep to finish") { status in
      status.sweeps.first { $0.id == finished }?.done == 3
    }
    cluster.stopWorkers()
    let waiting = try cluster.submit(name: "waiting", seeds: [10, 11])
    let cancelled = try cluster.submit(name: "cancelled", seeds: [20])
    _ = try cluster.client().call(
      ClientRequest(command: .cancel, sweep: cancelled), expecting: ChangeReply.self)
    let dashboard = try cluster.dashboard()
    await cluster.poll(dashboard)

    let (response, text) = try await Application(router: dashboard.router()).test(.router) { client in
      try await client.get("/metrics")
    }
    XCTAssertEqual(response.headers[.contentType], "text/plain; version=0.0.4; charset=utf-8")
    let metrics = try PrometheusExposition(parsing: text)
    let status = try cluster.status()
    XCTAssertEqual(Set(status.sweeps.map(\.id)), [finished, waiting, cancelled])
    for sweep in status.sweeps {
      let counts = [
        "pending": sweep.pending, "running": sweep.running, "done": sweep.done, "failed": sweep.failed,
        "cancelled": sweep.cancelled,
      ]
      for (state, count) in counts {
        XCTAssertEqual(
          metrics.value("trac_sweep_runs", ["sweep": sweep.id, "state": state]), Double(count),
          "\(sweep.name) \(state)")
      }
      XCTAssertEqual(metrics.value("trac_sweep_sweep_runs_total", ["sweep": sweep.id]), Double(sweep.total))
    }
    XCTAssertEqual(metrics.types["trac_sweep_runs"], "gauge")
    XCTAssertEqual(metrics.value("trac_sweep_coordinator_up"), 1)
    // The worker said goodbye: it is `left`, and nothing is online.
    XCTAssertEqual(metrics.value("trac_sweep_workers", ["state": "left"]), 1)
    XCTAssertEqual(metrics.value("trac_sweep_workers", ["state": "online"]), 0)
    // Audits by state, as status counts them (none drawn here).
    for state in ["waiting", "running", "disputed", "passed", "mismatch", "inconclusive", "withdrawn"] {
      XCTAssertEqual(metrics.value("trac_sweep_audits", ["state": state]), 0, state)
    }
    XCTAssertEqual(metrics.value("trac_sweep_suspect_results"), 0)
    // The coordinator's own counters (the `metrics` request).
    XCTAssertEqual(metrics.value("trac_sweep_results_recorded_total"), 3)
    XCTAssertEqual(metrics.value("trac_sweep_queue_depth"), 2)
    XCTAssertGreaterThanOrEqual(metrics.value("trac_sweep_assignments_total") ?? 0, 3)
    XCTAssertGreaterThanOrEqual(metrics.value("trac_sweep_heartbeats_total") ?? 0, 1)
    XCTAssertEqual(metrics.types["trac_sweep_loop_pass_seconds"], "histogram")
    XCTAssertGreaterThan(metrics.value("trac_sweep_commit_seconds_count") ?? 0, 0)
    XCTAssertGreaterThan(metrics.value("trac_sweep_artifact_bytes") ?? 0, 0, "three runs' files are stored")
    XCTAssertEqual(metrics.value("trac_sweep_dataset_bytes"), 2048)
  }

  func testTheParserRefusesWhatPrometheusWould() {
    let bad = [
      "trac_x 1",  // no newline at the end
      "# TYPE trac_x gauge\ntrac_x{a=\"1\" 1\n",  // unterminated labels
      "# TYPE trac_x gauge\ntrac_x one\n",  // not a number
      "trac_x 1\n",  // no TYPE before it
      "# TYPE trac_x gauge\ntrac_x 1\ntrac_x 2\n",  // a series twice
      // buckets not cumulative
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    ]
    for text in bad {
      XCTAssertThrowsError(try PrometheusExposition(parsing: text), text)
    }
    XCTAssertNoThrow(
      try PrometheusExposition(parsing: "# HELP trac_x x\n# TYPE trac_x gauge\ntrac_x{a=\"q\\\"\"} 1.5\n"))
  }

  // MARK: - Pages

  func testOverviewAndSweepPagesShowTheCoordinatorsNumbers() async throws {
    let cluster = try DashboardHarness()
    defer { cluster.stop() }
    let sweep = try cluster.submit(name: "pages", seeds: [0, 1, 2, 3])
    let dashboard = try cluster.dashboard()
    await cluster.poll(dashboard)
    try await Application(router: dashboard.router()).test(.router) { client in
      let before = try await client.page("/")
      XCTAssertTrue(before.contains("data-sweep=\"\(sweep)\""), before)
      XCTAssertTrue(before.contains("<td data-field=\"pending\">4</td>"), before)
      XCTAssertTrue(before.contains("<td data-field=\"done\">0</td>"))
      XCTAssertTrue(before.contains("No worker has connected"))
      XCTAssertFalse(
        before.contains("http://") || before.contains("https://"), "nothing loads from elsewhere")

      _ = try cluster.startWorker("w1", behaviour: .succeeds())
      _ = try cluster.waitForStatus("the sweep to finish") { status in
        status.sweeps.first { $0.id == sweep }?.done == 4
      }
      await cluster.poll(dashboard)
      let after = try await client.page("/parts/overview")
      XCTAssertTrue(after.contains("<td data-field=\"done\">4</td>"), after)
      XCTAssertTrue(after.contains("<b>1</b> online"), after)
      XCTAssertTrue(after.contains("data-field=\"eta\""))
      XCTAssertTrue(after.contains(">finished<"), "a finished sweep has no ETA left")

      // The sweep's page: every run, and the sensitivity report made of the recorded results.
      let page = try await client.page("/sweeps/\(sweep)")
      XCTAssertEqual(page.components(separatedBy: "<td data-field=\"state\">done</td>").count - 1, 4, page)
      XCTAssertTrue(page.contains("<span data-field=\"done\">4</span>"), page)
      XCTAssertTrue(page.contains("id=\"report\""))
      let byName = try await client.page("/parts/sweeps/pages")
      let byID = try await client.page("/parts/sweeps/\(sweep)")
      XCTAssertEqual(byName, byID, "a sweep is found by its name too")
      let report = try await client.page("/sweeps/\(sweep)/report")
      XCTAssertTrue(report.contains("All 4 runs recorded"), report)
      XCTAssertTrue(report.contains("<table class=\"settings\">"), "the report's settings table")
      let json = try await client.get("/api/overview")
      XCTAssertEqual(json.response.headers[.contentType], "application/json; charset=utf-8")
      XCTAssertEqual(json.response.headers[.cacheControl], "no-store")
      let overview = try JSONCodec.decoder.decode(Overview.self, from: Data(json.body.utf8))
      XCTAssertEqual(overview.sweeps.map(\.id), [sweep])
      let rows = try await client.get("/api/sweeps/\(sweep)")
      XCTAssertEqual(
        try JSONCodec.decoder.decode(ReportDataReply.self, from: Data(rows.body.utf8)).rows.count, 4)
      let missing = try await client.get("/sweeps/nosuchsweep")
      XCTAssertEqual(missing.response.status, .notFound)
      XCTAssertEqual(missing.body, "no such sweep\n")
      for path in ["/api/sweeps/nosuchsweep", "/parts/sweeps/nosuchsweep", "/no/such/page"] {
        let (response, _) = try await client.get(path)
        XCTAssertEqual(response.status, .notFound, path)
      }

      // A run's page: its inputs, its recorded attempt and its learning curve from train.jsonl.
      let runID = try XCTUnwrap(
        page.range(of: #"data-run="[0-9a-f]{16}""#, options: .regularExpression).map {
          String(page[$0].dropFirst(10).dropLast())
        })
      let run = try await client.page("/runs/\(runID)")
      XCTAssertTrue(run.contains("<b data-field=\"state\">done</b>"), run)
      XCTAssertTrue(run.contains("<svg class=\"curve\""), "the learning curve")
      XCTAssertTrue(run.contains("/runs/\(runID)/files/run.json"))
      let live = try await client.page("/parts/runs/\(runID)")
      XCTAssertTrue(run.contains(live), "the run page's live part")
      let file = try await client.get("/runs/\(runID)/files/run.json")
      XCTAssertEqual(file.response.headers[.contentType], "application/json; charset=utf-8")
      XCTAssertTrue(file.body.contains("\"run_id\": \"\(runID)\""), file.body)
      let policy = try await client.get("/runs/\(runID)/files/policy.safetensors")
      XCTAssertEqual(policy.response.headers[.contentType], "application/octet-stream")
      for name in ["..%2Fsecret", "grid.json"] {
        let (response, _) = try await client.get("/runs/\(runID)/files/\(name)")
        XCTAssertEqual(response.status, .notFound, name)
      }
    }
  }

  func testACoordinatorThatDoesNotAnswerIsSaidSoAndMetricsSayDown() async throws {
    // The dashboard keeps serving and says what is wrong.
    let endpoint = "tcp://127.0.0.1:9"
    let source = Unreachable(endpoint: endpoint)
    let options = CoordinatorFeed.Options(endpoint: endpoint)
    let dashboard = Dashboard(
      configuration: try Dashboard.Configuration(listen: .default, token: nil, feed: options),
      feed: CoordinatorFeed(options: options, source: source, logger: DashboardHarness.quiet),
      logger: DashboardHarness.quiet)
    await dashboard.feed.poll()
    XCTAssertEqual(source.resets, 1, "a failed call gets a fresh connection")
    try await Application(router: dashboard.router()).test(.router) { client in
      let page = try await client.page("/")
      XCTAssertTrue(
        page.contains("<b>The coordinator at \(endpoint) does not answer:</b> nothing listens"), page)
      let metrics = try PrometheusExposition(parsing: try await client.page("/metrics"))
      XCTAssertEqual(metrics.value("trac_sweep_coordinator_up"), 0)
    }
  }

  // MARK: - Access

  func testATokenIsCheckedOnEveryRequestAndAWrongOneGetsA401WithNothingElse() async throws {
    let cluster = try DashboardHarness()
    defer { cluster.stop() }
    let token = "s3cret-token-0123456789abcdef"
    let dashboard = try cluster.dashboard(token: token)
    await cluster.poll(dashboard)
    try await Application(router: dashboard.router()).test(.router) { client in
      for path in ["/", "/metrics", "/api/overview", "/dashboard.js", "/no/such/page", "/sweeps/x/report"] {
        for headers: HTTPFields in [
          [:], [.authorization: "Bearer wrong-token-0123456789abcdef"], [.authorization: "Basic \(token)"],
        ] {
          let (response, body) = try await client.get(path, headers: headers)
          XCTAssertEqual(response.status, .unauthorized, "\(path) \(headers)")
          XCTAssertEqual(body, "", "\(path): a refusal says nothing else")
        }
        let (wrong, body) = try await client.get(path + "?token=s3cret-token-0123456789abcdeX")
        XCTAssertEqual(wrong.status, .unauthorized, path)
        XCTAssertEqual(body, "")
      }
      let (bearer, metrics) = try await client.get("/metrics", headers: [.authorization: "Bearer \(token)"])
      XCTAssertEqual(bearer.status, .ok)
      XCTAssertEqual(try PrometheusExposition(parsing: metrics).value("trac_sweep_coordinator_up"), 1)
      // With ?token= the page keeps the token in its links and its script's address.
      let page = try await client.page("/?token=\(token)")
      XCTAssertTrue(page.contains("Coordinator <code>"), page)
      XCTAssertTrue(page.contains("src=\"/dashboard.js?token=\(token)\""), page)
      XCTAssertTrue(page.contains("data-src=\"/parts/overview?token=\(token)\""))
      // Read-only: nothing but GET and HEAD, even with the token.
      let (post, _) = try await client.get("/", headers: [.authorization: "Bearer \(token)"], method: .post)
      XCTAssertEqual(post.status, .methodNotAllowed)
      // Every answer forbids loading from elsewhere and being framed.
      let script = try await client.get("/dashboard.js?token=\(token)")
      XCTAssertEqual(script.response.headers[.contentType], "text/javascript; charset=utf-8")
      XCTAssertTrue(
        script.response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
      XCTAssertEqual(script.response.headers[.xContentTypeOptions], "nosniff")
    }
  }

  func testWithoutATokenOnlyLoopbackIsAllowed() throws {
    XCTAssertTrue(ListenAddress.default.isLoopback, "the default address is loopback")
    XCTAssertEqual(ListenAddress.default.host, "127.0.0.1")
    let feed = CoordinatorFeed.Options(endpoint: "tcp://127.0.0.1:5555")
    for address in ["0.0.0.0:8080", "[::]:8080", "10.1.2.3:8080", "head.example.org:8080"] {
      XCTAssertThrowsError(
        try Dashboard.Configuration(listen: try ListenAddress(parsing: address), token: nil, feed: feed),
        address
      ) { error in
        XCTAssertTrue("\(error)".contains("--token"), "\(error)")
      }
      XCTAssertNoThrow(
        try Dashboard.Configuration(
          listen: try ListenAddress(parsing: address), token: "0123456789abcdef0123", feed: feed))
    }
    XCTAssertThrowsError(
      try Dashboard.Configuration(listen: .default, token: "short", feed: feed),
      "a guessable token is refused")
    for address in ["127.0.0.1:8080", "localhost:9", "[::1]:8080", "127.1.2.3:80"] {
      XCTAssertNoThrow(
        try Dashboard.Configuration(listen: try ListenAddress(parsing: address), token: nil, feed: feed))
    }
    for bad in ["8080", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ":8080"] {
      XCTAssertThrowsError(try ListenAddress(parsing: bad), bad)
    }
  }

  // MARK: - The real server

  /// On a real socket: the server binds the address asked for, its feed runs as a service of the
  /// application (and stops with it), and without a token a request naming another host (a page elsewhere
  /// whose name was rebound to 127.0.0.1) is refused.
  func testTheServerListensOnLoopbackRunsItsFeedAndRefusesOtherHosts() async throws {
    let cluster = try DashboardHarness()
    defer { cluster.stop() }
    let dashboard = Dashboard(
      configuration: try Dashboard.Configuration(
        listen: ListenAddress(host: "127.0.0.1", port: 0), token: nil,
        feed: .init(endpoint: cluster.endpoint, interval: 0.1, timeout: 5)),
      logger: DashboardHarness.quiet)
    let (ports, listening) = AsyncStream.makeStream(of: Int.self)
    let server = Task { try await dashboard.run { _ = listening.yield($0) } }
    var iterator = ports.makeAsyncIterator()
    let bound = await iterator.next()
    let port = try XCTUnwrap(bound)
    XCTAssertNotEqual(port, 0)

    let metrics = try HTTP.get(port: port, "/metrics")
    XCTAssertEqual(metrics.status, 200)
    XCTAssertEqual(try HTTP.get(port: port, "/metrics", host: "localhost:\(port)").status, 200)
    let rebound = try HTTP.get(port: port, "/metrics", host: "attacker.example:\(port)")
    XCTAssertEqual(rebound.status, 403)
    XCTAssertEqual(rebound.body, "")
    let page = try HTTP.get(port: port, "/")
    XCTAssertTrue(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)

    // The feed polls by itself while the application runs, and ends with it.
    let deadline = Date().addingTimeInterval(20)
    while dashboard.feed.snapshot.polls == 0 && Date() < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    XCTAssertGreaterThan(dashboard.feed.snapshot.polls, 0, "the feed service polled the coordinator")
    // The service group ends only once every service returned, the feed's too.
    server.cancel()
    _ = await server.result
  }
}

/// A coordinator source where nothing listens.
private final class Unreachable: CoordinatorSource, @unchecked Sendable {
  let endpoint: String
  private let lock = NSLock()
  private var resetCount = 0

  init(endpoint: String) { self.endpoint = endpoint }

  var resets: Int {
    lock.lock()
    defer { lock.unlock() }
    return resetCount
  }

  func status() throws -> StatusReply { throw RequestClient.RequestError.nothingListens(endpoint: endpoint) }
  func metrics() throws -> MetricsReply? {
    throw RequestClient.RequestError.nothingListens(endpoint: endpoint)
  }
  func report(sweep: String) throws -> ReportDataReply {
    throw RequestClient.RequestError.nothingListens(endpoint: endpoint)
  }
  func reset() {
    lock.lock()
    resetCount += 1
    lock.unlock()
  }
}
