import Foundation
import SweepWire
import TracCore
import XCTest

/// Real `trac-sweep` processes on tcp://127.0.0.1: a coordinator, workers, and the client commands.
final class ClusterHarness {
  let root: URL
  var coordinator: Process?
  var coordinatorLog: URL { root.appendingPathComponent("coordinator.log") }
  var endpoint = ""
  var workers: [String: Process] = [:]
  /// Added to every client command (e.g. `--curve-secret` and `--server-key` of a secured cluster).
  var clientArguments: [String] = []
  private var coordinatorPort: Int?

  init(_ name: String) {
    root = temporaryDirectory("cluster-\(name)")
  }

  deinit { stopAll() }

  var stateDirectory: URL { root.appendingPathComponent("state") }

  /// Whether the coordinator shares BC stages. Off unless a test turns it on: the fake trainer most
  /// cluster tests use writes no BC stage checkpoint, so a stage unit's result would be refused
  /// (StageSharingTests use the real trainer with sharing on, the coordinator's default).
  var sharesBCStages = false
  /// The coordinator's `--audit` share. None unless a test turns it on: an audit trains a run again,
  /// which tests that count trainer starts or attempts do not expect (AuditTests turn it on).
  var auditShare = 0.0

  /// Starts the coordinator (on the same port as before when restarting) and waits until it listens.
  func startCoordinator(_ extra: [String] = ["--heartbeat-interval", "0.1"]) throws {
    let bind = coordinatorPort.map { "tcp://127.0.0.1:\($0)" } ?? "tcp://127.0.0.1:*"
    try? FileManager.default.removeItem(at: coordinatorLog)
    coordinator = try launch(
      ["coordinator", "--bind", bind, "--state", stateDirectory.path] + extra
        + (sharesBCStages ? [] : ["--no-share-bc-stages"]) + ["--audit", "\(auditShare)"], log: coordinatorLog
    )
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
      let text = (try? String(contentsOf: coordinatorLog, encoding: .utf8)) ?? ""
      if let range = text.range(of: #"endpoint=tcp://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
        endpoint = String(text[range].dropFirst("endpoint=".count))
        coordinatorPort = Int(endpoint.split(separator: ":").last!)
        return
      }
      Thread.sleep(forTimeInterval: 0.05)
    }
    throw HarnessError(
      "the coordinator did not start: \((try? String(contentsOf: coordinatorLog, encoding: .utf8)) ?? "")")
  }

  func startWorker(_ name: String, trainer: URL, slots: Int = 1, extra: [String] = []) throws {
    let workDirectory = root.appendingPathComponent("worker-\(name)")
    workers[name] = try launch(
      [
        "worker", "--connect", endpoint, "--slots", "\(slots)", "--work-dir", workDirectory.path, "--trainer",
        trainer.path, "--grace", "1",
      ] + extra, log: root.appendingPathComponent("worker-\(name).log"))
  }

  func signal(worker name: String, _ number: Int32) {
    if let process = workers[name] { kill(process.processIdentifier, number) }
  }

  func stopCoordinator(_ number: Int32 = SIGTERM) {
    guard let coordinator else { return }
    kill(coordinator.processIdentifier, number)
    coordinator.waitUntilExit()
    self.coordinator = nil
  }

  func stopAll() {
    for process in workers.values where process.isRunning {
      kill(process.processIdentifier, SIGCONT)
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    workers = [:]
    if let coordinator, coordinator.isRunning {
      kill(coordinator.processIdentifier, SIGKILL)
      coordinator.waitUntilExit()
    }
    coordinator = nil
  }

  /// A client command against this coordinator.
  @discardableResult
  func client(_ arguments: [String]) throws -> CLI.Result {
    try CLI.run(CLI.binary, arguments + ["--coordinator", endpoint] + clientArguments)
  }

  /// `trac-sweep results SWEEP --format json`: one object per recorded run.
  func resultRows(_ sweep: String) throws -> [[String: Any]] {
    let result = try client(["results", sweep, "--format", "json"])
    guard result.status == 0 else { throw HarnessError("results failed: \(result.stderr)") }
    guard let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
    else {
      throw HarnessError("results --format json is not a list of objects: \(result.stdout)")
    }
    return rows
  }

  func status() throws -> StatusReply {
    let result = try client(["status", "--json"])
    guard result.status == 0 else { throw HarnessError("status failed: \(result.stderr)") }
    return try JSONCodec.decoder.decode(StatusReply.self, from: Data(result.stdout.utf8))
  }

  /// Polls `status` until `condition` holds.
  func waitFor(
    _ what: String, timeout: TimeInterval = 60, _ condition: (StatusReply) -> Bool
  ) throws -> StatusReply {
    let deadline = Date().addingTimeInterval(timeout)
    var last: StatusReply?
    while Date() < deadline {
      if let status = try? status() {
        last = status
        if condition(status) { return status }
      }
      Thread.sleep(forTimeInterval: 0.1)
    }
    throw HarnessError("timed out waiting for \(what); last status: \(String(describing: last))\n\(logs())")
  }

  func logs() -> String {
    let names = ["coordinator.log"] + workers.keys.sorted().map { "worker-\($0).log" }
    return names.map { name in
      "--- \(name)\n"
        + ((try? String(contentsOf: root.appendingPathComponent(name), encoding: .utf8)) ?? "")
        .split(separator: "\n").suffix(30).joined(separator: "\n")
    }.joined(separator: "\n")
  }

  /// A grid over the small test dataset: `points` alpha values x 1 threshold x `seeds` seeds.
  func writeGrid(name: String, alphas: [Double], seeds: [Int], dataset: String) throws -> URL {
    let grid: [String: Any] = [
      "name": name, "task": "OfflineBallCircle-v0", "dataset": dataset, "algorithm": "trac",
      "base": ["bc_steps": 2, "steps": 4, "batch_size": 4],
      "vary": ["alpha": alphas], "design": "one_at_a_time", "cost_thresholds": [5], "seeds": seeds,
      "eval": ["episodes": 2, "seed": 0],
    ]
    let url = root.appendingPathComponent("\(name).json")
    try JSONSerialization.data(withJSONObject: grid, options: [.prettyPrinted]).write(to: url)
    return url
  }

  private func launch(_ arguments: [String], log: URL) throws -> Process {
    let process = Process()
    process.executableURL = CLI.binary
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_NUM_THREADS"] = "1"
    process.environment = environment
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    handle.seekToEndOfFile()
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return process
  }

  struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }
}
