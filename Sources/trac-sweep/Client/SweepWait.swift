import Foundation
import SweepWire

/// `submit --wait`: polls a sweep's status until none of its runs is pending or running. It shows
/// a progress line (redrawn on a terminal; otherwise a new line only when the counts change) and
/// each failed attempt once, as soon as it is seen. The status source, the output, the pause
/// between polls and the clock are given, so a test drives it with scripted replies.
public struct SweepWait {
  /// How the wait ended.
  public enum Outcome: Equatable, Sendable {
    /// Every run finished and none failed.
    case finished
    /// The sweep finished with this many failed runs.
    case failed(runs: Int)
    /// The coordinator no longer lists the sweep.
    case vanished
  }

  public let sweepID: String
  /// Whether the progress goes to a terminal (then the line is redrawn in place).
  public let terminal: Bool
  let status: () throws -> StatusReply
  let write: (String) -> Void
  let pause: () -> Void
  let now: () -> Date

  public init(
    sweepID: String, terminal: Bool, status: @escaping () throws -> StatusReply,
    write: @escaping (String) -> Void, pause: @escaping () -> Void, now: @escaping () -> Date = Date.init
  ) {
    self.sweepID = sweepID
    self.terminal = terminal
    self.status = status
    self.write = write
    self.pause = pause
    self.now = now
  }

  /// Polls until the sweep finishes; errors of `status` end the wait.
  public func run() throws -> Outcome {
    var shownFailures = Set<String>()
    var lastCounts: [Int] = []
    var watchStart: (Date, Int, Double)?
    while true {
      let status = try status()
      guard let sweep = status.sweeps.first(where: { $0.id == sweepID }) else { return .vanished }
      let finished = sweep.done + sweep.failed + sweep.cancelled
      let counts = [sweep.done, sweep.running, sweep.failed, sweep.cancelled]
      // The running runs' share of their steps, as their workers last reported it.
      let partial = status.progress.filter { $0.sweeps.contains(sweepID) && $0.totalSteps > 0 }
        .map { Double($0.step) / Double($0.totalSteps) }.reduce(0, +)
      let started = watchStart ?? (now(), finished, partial)
      watchStart = started
      let line = StatusView.progress(
        sweep, elapsedSeconds: now().timeIntervalSince(started.0),
        workedSinceStart: Double(finished - started.1) + partial - started.2, partial: partial)
      if terminal {
        write("\r\u{1B}[K\(line)")
      } else if counts != lastCounts {
        write("\(line)\n")
      }
      lastCounts = counts
      for failure in status.recentFailures
      where !shownFailures.contains("\(failure.runID)/\(failure.attempt)") {
        shownFailures.insert("\(failure.runID)/\(failure.attempt)")
        let tail = failure.stderrTail.split(separator: "\n").suffix(2).joined(separator: " | ")
        write(
          "\n\(failure.inputError ? "input error" : "failed"): run \(failure.runID.prefix(8))"
            + "\(failure.stageUnit ? " (BC stage unit)" : "") attempt \(failure.attempt): \(tail)\n"
        )
      }
      if sweep.pending + sweep.running == 0 {
        if terminal { write("\n") }
        if sweep.failed > 0 {
          write("\(sweep.failed) runs failed; see trac-sweep status \(sweep.id)\n")
          return .failed(runs: sweep.failed)
        }
        return .finished
      }
      pause()
    }
  }
}
