import Foundation
import TracCore

/// The evaluator could not be started, died, timed out, or refused a request.
public struct EvaluatorError: Error, CustomStringConvertible, Sendable {
  public let message: String
  /// The last lines the evaluator wrote to stderr, if any.
  public let stderrTail: String

  public var description: String {
    stderrTail.isEmpty ? message : "\(message)\n--- evaluator stderr (last lines) ---\n\(stderrTail)"
  }
}

/// The Python evaluator (`scripts/evaluator.py serve`, in the task family's venv) as a long-lived child
/// process: one JSON request per line in, one JSON answer per line out. Its stderr goes to a file
/// so a chatty simulator can never fill a pipe and stall it.
public final class EvaluatorProcess {
  /// Where the evaluator script and its Python are.
  public typealias Location = ProjectScript

  private let process = Process()
  private let requests = Pipe()
  private let answers = Pipe()
  private let stderrURL: URL
  private var buffer = Data()
  private var nextID = 1

  public init(location: Location) throws(EvaluatorError) {
    stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-evaluator-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
    process.executableURL = location.python
    process.arguments = [location.script.path, "serve"]
    process.standardInput = requests
    process.standardOutput = answers
    process.standardError = FileHandle(forWritingAtPath: stderrURL.path)
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_NUM_THREADS"] = "1"
    environment["PYTHONUNBUFFERED"] = "1"
    process.environment = environment
    do {
      try process.run()
    } catch {
      throw EvaluatorError(
        message: "cannot start \(location.python.path) \(location.script.path): \(error)", stderrTail: "")
    }
  }

  deinit {
    try? requests.fileHandleForWriting.close()
    if process.isRunning {
      process.terminate()
      process.waitUntilExit()
    }
    try? FileManager.default.removeItem(at: stderrURL)
  }

  /// Rolls out `policy` for `episodes` episodes from `seed` and normalizes at each threshold.
  public func evaluate(
    policy: URL, task: TaskInfo, costThresholds: [Double], episodes: Int, seed: UInt64,
    timeout: Duration = .seconds(3600)
  ) throws(EvaluatorError) -> EvaluationResult {
    let request: [String: Any] = [
      "op": "evaluate", "policy": policy.path, "task": task.dsrlID, "cost_thresholds": costThresholds,
      "episodes": episodes, "seed": seed,
    ]
    let answer = try send(request, timeout: timeout)
    do {
      return try JSONCodec.decoder.decode(EvaluationResult.self, from: answer)
    } catch {
      throw EvaluatorError(
        message: "the evaluator's answer does not parse: \(error)", stderrTail: stderrTail())
    }
  }

  /// Sends one request and waits for its answer line; a dead or silent evaluator is an error.
  func send(_ request: [String: Any], timeout: Duration) throws(EvaluatorError) -> Data {
    var request = request
    request["id"] = nextID
    nextID += 1
    guard process.isRunning else {
      throw EvaluatorError(
        message: "the evaluator exited (status \(process.terminationStatus))", stderrTail: stderrTail())
    }
    do {
      let line = try JSONSerialization.data(withJSONObject: request) + Data("\n".utf8)
      try requests.fileHandleForWriting.write(contentsOf: line)
    } catch {
      throw EvaluatorError(message: "cannot write to the evaluator: \(error)", stderrTail: stderrTail())
    }
    let line: Data
    switch readLine(timeout: timeout) {
    case .line(let data):
      line = data
    case .timedOut:
      process.terminate()
      throw EvaluatorError(
        message: "the evaluator did not answer within \(timeout)", stderrTail: stderrTail())
    case .endOfFile:
      process.waitUntilExit()
      throw EvaluatorError(
        message: "the evaluator exited (status \(process.terminationStatus)) before answering",
        stderrTail: stderrTail())
    }
    guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
      throw EvaluatorError(
        message: "the evaluator answered with a line that is not JSON", stderrTail: stderrTail())
    }
    guard object["ok"] as? Bool == true else {
      throw EvaluatorError(
        message: "the evaluator refused: \(object["error"] as? String ?? "no reason given")", stderrTail: "")
    }
    return line
  }

  private enum ReadOutcome {
    case line(Data)
    case endOfFile
    case timedOut
  }

  /// The next line of stdout.
  private func readLine(timeout: Duration) -> ReadOutcome {
    let deadline = ContinuousClock.now + timeout
    let handle = answers.fileHandleForReading
    while true {
      if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
        let line = buffer[buffer.startIndex..<newline]
        buffer = Data(buffer[(newline + 1)...])
        return .line(Data(line))
      }
      let remaining = deadline - ContinuousClock.now
      guard remaining > .zero else { return .timedOut }
      var descriptor = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
      let milliseconds = Int32(min(remaining.seconds * 1000, 1000))
      let ready = poll(&descriptor, 1, max(milliseconds, 1))
      if ready < 0 && errno != EINTR { return .endOfFile }
      if ready <= 0 { continue }
      let chunk = handle.availableData
      if chunk.isEmpty { return .endOfFile }  // the evaluator is gone
      buffer.append(chunk)
    }
  }

  /// The last 20 lines of the evaluator's stderr.
  public func stderrTail() -> String {
    guard let data = try? Data(contentsOf: stderrURL) else { return "" }
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    return lines.suffix(21).joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
  }
}

extension ProjectScript {
  /// The evaluator for the Bullet-Safety-Gym tasks (see `resolveEvaluator(for:)`).
  public static func resolveEvaluator() throws(EvaluatorError) -> ProjectScript {
    try resolveEvaluator(for: .bulletGym)
  }

  /// The evaluator for a task family: `scripts/evaluator.py` (or `$TRAC_EVALUATOR`) run by the family's
  /// Python, `$TRAC_PYTHON` or `.venv/bin/python` for BulletGym, `$TRAC_SAFETY_GYMNASIUM_PYTHON` or
  /// `.venv-safety-gymnasium/bin/python` for Safety-Gymnasium, `$TRAC_METADRIVE_PYTHON` or
  /// `.venv-metadrive/bin/python` for MetaDrive, in the first checkout found above the executable or the
  /// working directory.
  public static func resolveEvaluator(for family: TaskFamily) throws(EvaluatorError) -> ProjectScript {
    let environment = EvaluatorEnvironment(family: family)
    switch resolve(
      "scripts/evaluator.py", scriptVariable: "TRAC_EVALUATOR", venv: environment.venv,
      pythonVariable: environment.pythonVariable, missingPythonHint: environment.missingHint)
    {
    case .success(let found): return found
    case .failure(let missing): throw EvaluatorError(message: missing.message, stderrTail: "")
    }
  }
}
