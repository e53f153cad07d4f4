import Foundation
import Logging
import SweepDashboard
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The dashboard against a real coordinator on tcp://127.0.0.1, served on an ephemeral port of
/// 127.0.0.1 and read over plain HTTP.
final class DashboardTests: XCTestCase {
  // MARK: - /metrics

  func testMetricsParseAndTheirRunCountsEqualStatus() throws {
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
    try cluster.startDashboard()

    let text = try cluster.waitForPage("/metrics") {
      $0.contains("name=\"cancelled\",state=\"cancelled\"} 1")
    }
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

  func testOverviewAndSweepPagesShowTheCoordinatorsNumbers() throws {
    let cluster = try DashboardHarness()
    defer { cluster.stop() }
    let sweep = try cluster.submit(name: "pages", seeds: [0, 1, 2, 3])
    try cluster.startDashboard()
    let before = try cluster.waitForPage("/") { $0.contains("data-sweep=\"\(sweep)\"") }
    XCTAssertTrue(before.contains("<td data-field=\"pending\">4</td>"), before)
    XCTAssertTrue(before.contains("<td data-field=\"done\">0</td>"))
    XCTAssertTrue(before.contains("No worker has connected"))
    XCTAssertFalse(before.contains("http://") || before.contains("https://"), "nothing loads from elsewhere")

    _ = try cluster.startWorker("w1", behaviour: .succeeds())
    let after = try cluster.waitForPage("/parts/overview") { $0.contains("<td data-field=\"done\">4</td>") }
    XCTAssertTrue(after.contains("<b>1</b> online"), after)
    XCTAssertTrue(after.contains("data-field=\"eta\""))
    XCTAssertTrue(after.contains(">finished<"), "a finished sweep has no ETA left")

    // The sweep's page: every run, and the sensitivity report made of the recorded results.
    // (Its rows are read again within a poll once the page is open.)
    let page = try cluster.waitForPage("/sweeps/\(sweep)") {
      $0.components(separatedBy: "<td data-field=\"state\">done</td>").count - 1 == 4
    }
    XCTAssertTrue(page.contains("<span data-field=\"done\">4</span>"), page)
    XCTAssertTrue(page.contains("id=\"report\""))
    let report = try cluster.waitForPage("/sweeps/\(sweep)/report") { $0.contains("All 4 runs recorded") }
    XCTAssertTrue(report.contains("<table class=\"settings\">"), "the report's settings table")
    let json = try HTTP.get(port: cluster.port, "/api/overview")
    XCTAssertEqual(json.headers["content-type"], "application/json; charset=utf-8")
    XCTAssertEqual(try HTTP.get(port: cluster.port, "/sweeps/nosuchsweep").status, 404)

    // A run's page: its inputs, its recorded attempt and its learning curve from train.jsonl.
    let runID = try XCTUnwrap(
      page.range(of: #"data-run="[0-9a-f]{16}""#, options: .regularExpression).map {
        String(page[$0].dropFirst(10).dropLast())
      })
    let run = try HTTP.get(port: cluster.port, "/runs/\(runID)")
    XCTAssertEqual(run.status, 200)
    XCTAssertTrue(run.body.contains("<b data-field=\"state\">done</b>"), run.body)
    XCTAssertTrue(run.body.contains("<svg class=\"curve\""), "the learning curve")
    XCTAssertTrue(run.body.contains("/runs/\(runID)/files/run.json"))
    let file = try HTTP.get(port: cluster.port, "/runs/\(runID)/files/run.json")
    XCTAssertTrue(file.body.contains("\"run_id\": \"\(runID)\""), file.body)
    XCTAssertEqual(try HTTP.get(port: cluster.port, "/runs/\(runID)/files/..%2Fsecret").status, 404)
  }

  func testACoordinatorThatDoesNotAnswerIsSaidSoAndMetricsSayDown() throws {
    // A port nothing listens on: the dashboard keeps serving and says what is wrong.
    let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
        bind(probe, pointer, length) == 0 && getsockname(probe, pointer, &length) == 0
      }
    }
    let port = Int(UInt16(bigEndian: address.sin_port))
    close(probe)
    let dashboard = Dashboard(
      configuration: try Dashboard.Configuration(
        listen: ListenAddress(host: "127.0.0.1", port: 0), token: nil,
        feed: .init(endpoint: "tcp://127.0.0.1:\(port)", interval: 0.2, timeout: 1)),
      logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    let bound = PortBox()
    let task = Task { try await dashboard.run { bound.set($0) } }
    defer { task.cancel() }
    let deadline = Date().addingTimeInterval(20)
    while bound.get() == 0 && Date() < deadline { usleep(10_000) }
    var page = ""
    while Date() < deadline {
      page = try HTTP.get(port: bound.get(), "/").body
      if page.contains("does not answer") { break }
      usleep(50_000)
    }
    XCTAssertTrue(
      page.contains("<b>The coordinator at tcp://127.0.0.1:\(port) does not answer:</b> nothing listens"),
      page)
    let metrics = try PrometheusExposition(parsing: try HTTP.get(port: bound.get(), "/metrics").body)
    XCTAssertEqual(metrics.value("trac_sweep_coordinator_up"), 0)
  }

  // MARK: - Access

  func testATokenIsCheckedOnEveryRequestAndAWrongOneGetsA401WithNothingElse() throws {
    let cluster = try DashboardHarness()
    defer { cluster.stop() }
    let token = "s3cret-token-0123456789abcdef"
    try cluster.startDashboard(token: token)
    for path in ["/", "/metrics", "/api/overview", "/dashboard.js", "/no/such/page", "/sweeps/x/report"] {
      for headers in [
        [:], ["Authorization": "Bearer wrong-token-0123456789abcdef"], ["Authorization": "Basic \(token)"],
      ] {
        let response = try HTTP.get(port: cluster.port, path, headers: headers)
        XCTAssertEqual(response.status, 401, "\(path) \(headers)")
        XCTAssertEqual(response.body, "", "\(path): a refusal says nothing else")
      }
      let wrong = try HTTP.get(port: cluster.port, path + "?token=s3cret-token-0123456789abcdeX")
      XCTAssertEqual(wrong.status, 401, path)
      XCTAssertEqual(wrong.body, "")
    }
    let bearer = try HTTP.get(port: cluster.port, "/metrics", headers: ["Authorization": "Bearer \(token)"])
    XCTAssertEqual(bearer.status, 200)
    XCTAssertTrue(bearer.body.contains("trac_sweep_coordinator_up"))
    // With ?token= the page keeps the token in its links and its script's address.
    let page = try cluster.waitForPage("/?token=\(token)") { $0.contains("Coordinator <code>") }
    XCTAssertTrue(page.contains("src=\"/dashboard.js?token=\(token)\""), page)
    XCTAssertTrue(page.contains("data-src=\"/parts/overview?token=\(token)\""))
    // Read-only: nothing but GET and HEAD, even with the token.
    let post = try HTTP.get(
      port: cluster.port, "/", method: "POST", headers: ["Authorization": "Bearer \(token)"])
    XCTAssertEqual(post.status, 405)
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

    // Served on loopback without a token, a request naming another host (a page elsewhere whose
    // name was rebound to 127.0.0.1) is refused.
    let cluster = try DashboardHarness()
    defer { cluster.stop() }
    try cluster.startDashboard()
    XCTAssertEqual(try HTTP.get(port: cluster.port, "/metrics").status, 200)
    XCTAssertEqual(
      try HTTP.get(port: cluster.port, "/metrics", host: "localhost:\(cluster.port)").status, 200)
    let rebound = try HTTP.get(port: cluster.port, "/metrics", host: "attacker.example:\(cluster.port)")
    XCTAssertEqual(rebound.status, 403)
    XCTAssertEqual(rebound.body, "")
    let page = try HTTP.get(port: cluster.port, "/")
    XCTAssertTrue(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
  }
}
