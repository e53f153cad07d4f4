import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SweepCoordinator
import SweepDashboard
import SweepWire
import SweepWorker
import TracCore
import TracSweepTesting
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// A real coordinator (in this process, on tcp://127.0.0.1), optional in-process workers running the
/// fake trainer, and dashboards of it, served in memory (HummingbirdTesting) with feeds the test polls.
final class DashboardHarness: @unchecked Sendable {
  let root: URL
  let service: CoordinatorService
  private let coordinatorThread: Thread
  private var workers: [(WorkerAgent, Thread)] = []
  let clock = ManualClock()
  let dataset: URL

  init() throws {
    root = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    dataset = root.appendingPathComponent("data/tiny.hdf5")
    try FileManager.default.createDirectory(
      at: dataset.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data((0..<2048).map { UInt8(truncatingIfNeeded: $0 * 7) }).write(to: dataset)
    service = try CoordinatorService(
      configuration: .init(
        bind: "tcp://127.0.0.1:*", stateDirectory: root.appendingPathComponent("state"),
        // The fake trainer writes no BC stage checkpoint: runs train their own BC phase here.
        scheduler: try SchedulerConfiguration(
          heartbeatInterval: .milliseconds(100), liveness: 5, shareBCStages: false),
        datasetDirectories: [dataset.deletingLastPathComponent()]),
      logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    let service = self.service
    coordinatorThread = Thread { service.run() }
    coordinatorThread.start()
  }

  var endpoint: String { service.endpoint }

  func client() throws -> RequestClient { try RequestClient(endpoint: endpoint) }

  /// Submits a grid of `seeds.count` runs; returns the sweep id.
  func submit(name: String, seeds: [Int]) throws -> String {
    let grid: [String: Any] = [
      "name": name, "task": "OfflineBallCircle-v0", "dataset": dataset.path, "algorithm": "trac",
      "base": ["bc_steps": 1, "steps": 2], "cost_thresholds": [5], "seeds": seeds,
    ]
    let text = String(decoding: try JSONSerialization.data(withJSONObject: grid), as: UTF8.self)
    return try client().call(
      ClientRequest(command: .submit, grid: text), expecting: SubmitReply.self, timeout: .seconds(30)
    ).sweepID
  }

  func status() throws -> StatusReply {
    try client().call(ClientRequest(command: .status), expecting: StatusReply.self)
  }

  func waitForStatus(_ what: String, timeout: TimeInterval = 30, _ condition: (StatusReply) -> Bool) throws
    -> StatusReply
  {
    let deadline = Date().addingTimeInterval(timeout)
    var last: StatusReply?
    while Date() < deadline {
      last = try status()
      if condition(last!) { return last! }
      Thread.sleep(forTimeInterval: 0.05)
    }
    XCTFail("timed out waiting for \(what): \(String(describing: last))")
    throw CancellationError()
  }

  /// A worker running the fake trainer in this process.
  func startWorker(_ name: String, behaviour: FakeTrainer.Behaviour, slots: Int = 2) throws -> WorkerAgent {
    let directory = root.appendingPathComponent("worker-\(name)")
    let trainer = try FakeTrainer.make(in: directory, behaviour: behaviour)
    var configuration = WorkerAgent.Configuration(
      settings: .init(
        host: name, slots: slots, trainerVersion: "test", grace: .seconds(1), terminationGrace: .seconds(1),
        acknowledgementWait: .milliseconds(200), heartbeatInterval: .milliseconds(100), liveness: 5,
        endpoint: endpoint),
      workDirectory: directory.appendingPathComponent("work"), trainer: trainer, evaluate: false)
    // The fake trainer's run.json carries an evaluation: announced as a BulletGym evaluator.
    configuration.evaluates = [.bulletGym]
    let agent = try WorkerAgent(
      configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    let thread = Thread { try? agent.run() }
    thread.start()
    workers.append((agent, thread))
    return agent
  }

  func stopWorkers() {
    for (agent, thread) in workers {
      agent.stop(immediately: true)
      let deadline = Date().addingTimeInterval(10)
      while !thread.isFinished && Date() < deadline { usleep(10_000) }
    }
    workers = []
  }

  /// A dashboard of this coordinator whose feed polls only when the test says so (`feed.poll()`), on a
  /// clock that moves only when the test says so (`clock`): no page is ever waited for.
  func dashboard(token: String? = nil) throws -> Dashboard {
    let configuration = try Dashboard.Configuration(
      listen: ListenAddress(host: "127.0.0.1", port: 0), token: token,
      feed: .init(endpoint: endpoint, interval: 1, timeout: 5))
    let clock = self.clock
    let start = Date()
    let feed = CoordinatorFeed(
      options: configuration.feed,
      now: {
        let elapsed = clock.elapsed.components
        return start.addingTimeInterval(Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
      },
      logger: Self.quiet)
    return Dashboard(configuration: configuration, feed: feed, logger: Self.quiet)
  }

  /// Moves the dashboard's clock on (past every spacing of the feed's reads) and polls once.
  func poll(_ dashboard: Dashboard) async {
    clock.advance(by: .seconds(60))
    await dashboard.feed.poll()
  }

  static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

  func stop() {
    stopWorkers()
    service.requestStop()
    let deadline = Date().addingTimeInterval(10)
    while !coordinatorThread.isFinished && Date() < deadline { usleep(10_000) }
    try? FileManager.default.removeItem(at: root)
  }
}

extension TestClientProtocol {
  /// GETs `path` in memory; returns the response and its body as text.
  func get(_ path: String, headers: HTTPFields = [:], method: HTTPRequest.Method = .get) async throws
    -> (response: TestResponse, body: String)
  {
    try await execute(uri: path, method: method, headers: headers) { ($0, String(buffer: $0.body)) }
  }

  /// GETs `path` in memory, which must answer 200; returns its body.
  func page(_ path: String, file: StaticString = #filePath, line: UInt = #line) async throws -> String {
    let (response, body) = try await get(path)
    XCTAssertEqual(response.status, .ok, "\(path): \(body)", file: file, line: line)
    return body
  }
}

/// A tiny HTTP/1.1 client over a TCP socket to 127.0.0.1: the tests need to send any `Host` and to
/// see every byte of the answer.
enum HTTP {
  struct Response {
    var status: Int
    var headers: [String: String]
    var body: String
  }

  static func get(
    port: Int, _ path: String, method: String = "GET", headers: [String: String] = [:], host: String? = nil
  ) throws -> Response {
    var request =
      "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    request += "\r\n"
    let raw = try exchange(port: port, Data(request.utf8))
    guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else {
      throw HTTPError("no header end: \(raw.count) bytes")
    }
    let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let statusLine = head[0].split(separator: " ")
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
      throw HTTPError("bad status line \(head[0])")
    }
    var fields: [String: String] = [:]
    for line in head.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { continue }
      fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
        in: .whitespaces)
    }
    var body = Data(raw[split.upperBound...])
    if fields["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
    return Response(status: status, headers: fields, body: String(decoding: body, as: UTF8.self))
  }

  static func dechunk(_ data: Data) throws -> Data {
    var out = Data()
    var rest = data[...]
    while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
      let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)
      guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else {
        throw HTTPError("bad chunk size")
      }
      if size == 0 { return out }
      let start = lineEnd.upperBound
      out.append(rest[start..<start + size])
      rest = rest[(start + size + 2)...]
    }
    return out
  }

  static func exchange(port: Int, _ request: Data) throws -> Data {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HTTPError("socket") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { throw HTTPError("cannot connect to 127.0.0.1:\(port): errno \(errno)") }
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, request.count, 0) }
    var response = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
      let count = recv(fd, &buffer, buffer.count, 0)
      if count <= 0 { break }
      response.append(contentsOf: buffer[0..<count])
    }
    return response
  }

  struct HTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }
}
