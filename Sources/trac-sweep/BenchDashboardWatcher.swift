import Foundation

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// For `bench coordinator --with-dashboard`: a `trac-sweep dashboard` child process pointed at the
/// benchmark's coordinator, and a thread that reads its overview, a sweep page and /metrics every second,
/// as an open browser tab and a Prometheus scrape would.
final class BenchDashboardWatcher: @unchecked Sendable {
  private let process = Process()
  private let lock = NSLock()
  private var stopped = false
  private var pages = 0
  private var failures = 0

  static func start(executable: String, endpoint: String) throws -> () -> String {
    let watcher = BenchDashboardWatcher()
    try watcher.launch(executable: executable, endpoint: endpoint)
    return { watcher.stop() }
  }

  private func launch(executable: String, endpoint: String) throws {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent(
      "bench-dashboard-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = [
      "dashboard", "--coordinator", endpoint, "--listen", "127.0.0.1:0", "--timeout", "30",
    ]
    process.standardError = handle
    process.standardOutput = handle
    try process.run()
    var base: String?
    let deadline = Date().addingTimeInterval(30)
    while base == nil, Date() < deadline {
      let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
      if let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
        base = String(text[range])
      }
      usleep(50_000)
    }
    try? FileManager.default.removeItem(at: log)
    guard let base else {
      process.terminate()
      throw WatcherError("the dashboard did not start")
    }
    let thread = Thread { [self] in poll(base) }
    thread.start()
  }

  private func poll(_ base: String) {
    var sweep: String?
    while !isStopped {
      let started = Date()
      var paths = ["/", "/parts/overview", "/metrics", "/api/overview"]
      if let sweep { paths += ["/parts/sweeps/\(sweep)"] }
      for path in paths {
        let body = get(base + path)
        lock.lock()
        if body == nil { failures += 1 } else { pages += 1 }
        lock.unlock()
        if path == "/api/overview", sweep == nil, let body,
          let range = body.range(of: #""id" : "[0-9a-f]{8}""#, options: .regularExpression)
        {
          sweep = String(body[range].dropFirst(8).dropLast())
        }
      }
      Thread.sleep(forTimeInterval: max(0, 1 - Date().timeIntervalSince(started)))
    }
  }

  private func get(_ url: String) -> String? {
    guard let url = URL(string: url) else { return nil }
    let done = DispatchSemaphore(value: 0)
    let result = Box()
    URLSession.shared.dataTask(with: url) { data, response, _ in
      if (response as? HTTPURLResponse)?.statusCode == 200, let data {
        result.text = String(decoding: data, as: UTF8.self)
      }
      done.signal()
    }.resume()
    done.wait()
    return result.text
  }

  private var isStopped: Bool {
    lock.lock()
    defer { lock.unlock() }
    return stopped
  }

  private func stop() -> String {
    lock.lock()
    stopped = true
    let summary = "a dashboard (\(pages) pages read, \(failures) failed)"
    lock.unlock()
    process.terminate()
    process.waitUntilExit()
    return summary
  }

  private final class Box: @unchecked Sendable { var text: String? }

  struct WatcherError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }
}
