import Foundation
import SweepWire
import TracCore

/// The status table: at most 80 columns, so it reads in any terminal.
public enum StatusView {
  public static func render(_ status: StatusReply, width: Int = 80) -> String {
    var lines: [String] = []
    lines.append(
      columns(["SWEEP", "NAME", "DONE", "RUN", "PEND", "FAIL", "CANC", "TOTAL"], [10, 24, 6, 5, 6, 5, 5, 6]))
    for sweep in status.sweeps {
      lines.append(
        columns(
          [
            sweep.id, sweep.name, "\(sweep.done)", "\(sweep.running)", "\(sweep.pending)", "\(sweep.failed)",
            "\(sweep.cancelled)", "\(sweep.total)",
          ], [10, 24, 6, 5, 6, 5, 5, 6]))
      if sweep.duplicates > 0 || sweep.lostAttempts > 0 {
        lines.append(
          "          \(sweep.lostAttempts) lost attempts requeued, \(sweep.duplicates) duplicate results discarded"
        )
      }
    }
    if status.sweeps.isEmpty { lines.append("(no sweeps)") }
    lines.append("")
    lines.append(columns(["WORKER", "HOST", "SLOTS", "STATE", "RUNNING"], [20, 14, 6, 12, 24]))
    for worker in status.workers {
      let state = worker.quarantined ? "QUARANTINED" : worker.state
      let running = worker.running.map { String($0.prefix(8)) }.joined(separator: " ")
      lines.append(
        columns(
          [worker.id, worker.host, "\(worker.running.count)/\(worker.slots)", state, running],
          [20, 14, 6, 12, 24]))
    }
    if status.workers.isEmpty { lines.append("(no workers)") }
    lines += kernelLines(status.workers)
    if !status.progress.isEmpty {
      lines.append("")
      lines.append(
        columns(["RUNNING", "WORKER", "PHASE", "STEP", "PROGRESS", "LOSS"], [10, 20, 6, 18, 10, 10]))
      for run in status.progress.prefix(8) {
        let share = run.totalSteps > 0 ? 100 * run.step / run.totalSteps : 0
        lines.append(
          columns(
            [
              String(run.runID.prefix(8)), run.worker, run.phase, "\(run.step)/\(run.totalSteps)",
              "\(share)%",
              run.loss.map { String(format: "%.4f", $0) } ?? "",
            ], [10, 20, 6, 18, 10, 10]))
      }
      if status.progress.count > 8 { lines.append("  ... and \(status.progress.count - 8) more") }
    }
    if !status.waitingFor.isEmpty {
      lines.append("")
      lines.append("WAITING (queued until a worker that can take them says hello)")
      for waiting in status.waitingFor { lines.append("  " + waiting.reason) }
    }
    if status.checkpoints.runs > 0 {
      let megabytes = String(format: "%.1f", Double(status.checkpoints.bytes) / 1_000_000)
      lines.append("")
      lines.append(
        "checkpoints: \(status.checkpoints.runs) unfinished runs can resume (\(megabytes) MB held)")
    }
    let stages = status.stages
    if stages.units > 0 {
      var line =
        "BC stages: \(stages.units) units (\(stages.done) done"
        + (stages.running > 0 ? ", \(stages.running) running" : "")
        + (stages.failed > 0 ? ", \(stages.failed) failed" : "")
        + "), shared by \(stages.runs) runs (\(stages.runsDone) done)"
      if stages.secondsSaved > 0 {
        let saved =
          stages.secondsSaved >= 360
          ? String(format: "%.1f CPU-hours", stages.secondsSaved / 3600)
          : String(format: "%.0f CPU-seconds", stages.secondsSaved)
        line += "; BC training not repeated: \(saved)"
      }
      lines.append("")
      lines.append(line)
    }
    let audits = status.audits
    let audited =
      audits.waiting + audits.running + audits.disputed + audits.passed + audits.mismatch
      + audits.inconclusive + audits.withdrawn
    if audited > 0 || audits.suspect > 0 {
      let parts = [
        (audits.passed, "passed"), (audits.waiting, "waiting for a worker"), (audits.running, "running"),
        (audits.disputed, "disputed"), (audits.mismatch, "mismatch"), (audits.inconclusive, "inconclusive"),
        (audits.withdrawn, "withdrawn before compared"),
      ].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
      var line =
        "audits (\(formatNumber(audits.share * 100))% of results drawn): \(parts.joined(separator: ", "))"
      if audits.suspect > 0 {
        line +=
          "; \(audits.suspect) recorded results suspect (their worker was convicted), being trained again"
      }
      lines.append("")
      lines.append(line)
    }
    let quarantined = status.workers.filter(\.quarantined)
    if !quarantined.isEmpty {
      lines.append("")
      lines.append(
        "quarantined after repeated failures or convicted by an audit; release with: trac-sweep release WORKER"
      )
    }
    if !status.recentFailures.isEmpty {
      lines.append("")
      lines.append("RECENT FAILURES")
      for failure in status.recentFailures.suffix(5) {
        let kind = failure.inputError ? "input error" : "exit \(failure.exitStatus)"
        let unit = failure.stageUnit ? " (BC stage unit)" : ""
        lines.append(
          "  run \(failure.runID.prefix(8))\(unit) attempt \(failure.attempt) on \(failure.worker): \(kind)")
        for line in failure.stderrTail.split(separator: "\n").suffix(3) {
          lines.append("    " + String(line.prefix(width - 4)))
        }
      }
    }
    // Tables fit by their columns; a sentence longer than the width goes on over more lines, never cut.
    return lines.flatMap { wrap($0, width: width) }.joined(separator: "\n")
  }

  /// `line` in lines of at most `width` characters, broken between words; the lines after the first
  /// are indented two more than it. A word longer than a line is cut across lines.
  public static func wrap(_ line: String, width: Int) -> [String] {
    guard line.count > width, width > 8 else { return [line] }
    let indent = String(line.prefix { $0 == " " })
    let continuation = indent + "  "
    var lines: [String] = []
    var current = indent
    for word in line.split(separator: " ") {
      let room = width - current.count - (current.trimmingCharacters(in: .whitespaces).isEmpty ? 0 : 1)
      if word.count <= room {
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { current += " " }
        current += word
        continue
      }
      if !current.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(current) }
      current = continuation
      var rest = Substring(word)
      while rest.count > width - continuation.count {
        lines.append(continuation + rest.prefix(width - continuation.count))
        rest = rest.dropFirst(width - continuation.count)
      }
      current += rest
    }
    if !current.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(current) }
    return lines
  }

  /// `[#####-----] 40/63 done  4 running  0 failed  ETA 12m`
  /// The ETA extrapolates the rate seen since the client started watching.
  /// `workedSinceStart`: the runs' worth of work done since the client started watching (finished runs,
  /// plus the change in `partial`); `partial`: the fractions of their steps the running runs have
  /// made now (workers' progress reports). With progress reports the ETA moves before any run finishes.
  static func progress(
    _ sweep: StatusReply.Sweep, elapsedSeconds: Double, workedSinceStart: Double, partial: Double = 0,
    width: Int = 80
  ) -> String {
    let finished = sweep.done + sweep.failed + sweep.cancelled
    let barWidth = 24
    let filled = sweep.total == 0 ? barWidth : barWidth * finished / sweep.total
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled)
    var eta = "?"
    if workedSinceStart > 0, finished < sweep.total, elapsedSeconds > 0 {
      let remaining = max(Double(sweep.total - finished) - partial, 0)
      eta = formatDuration(elapsedSeconds / workedSinceStart * remaining)
    } else if finished == sweep.total {
      eta = "0s"
    }
    let line =
      "[\(bar)] \(sweep.done)/\(sweep.total) done  \(sweep.running) running  \(sweep.failed) failed  ETA \(eta)"
    return String(line.prefix(width))
  }

  private static func columns(_ values: [String], _ widths: [Int]) -> String {
    zip(values, widths).map { value, width in
      let clipped = value.count > width - 1 ? String(value.prefix(width - 2)) + "~" : value
      return clipped.padding(toLength: width, withPad: " ", startingAt: 0)
    }.joined().trimmingCharacters(in: .whitespaces)
  }

  /// The BLAS kernels of the online workers, one line per kernel with its workers: a mixed cluster
  /// shows at a glance (docs/PERFORMANCE.md says what mixing kernels means for a sweep's bytes).
  public static func kernelLines(_ workers: [StatusReply.Worker]) -> [String] {
    var byKernel: [String: [String]] = [:]
    for worker in workers where worker.state == "online" {
      byKernel[worker.blas ?? "not said (an older worker)", default: []].append(worker.id)
    }
    guard !byKernel.isEmpty else { return [] }
    let mixed = byKernel.count > 1 ? " (mixed: a fastest-kernel sweep's bytes differ between them)" : ""
    return byKernel.sorted { $0.key < $1.key }.map { kernel, ids in
      "BLAS \(kernel): \(ids.sorted().joined(separator: ", "))\(mixed)"
    }
  }
}
