import Foundation
import SweepWire
import TracCore

/// `GET /metrics`: the Prometheus text exposition format (version 0.0.4), from the feed's snapshot.
/// Every family has its `# HELP` and `# TYPE` line; docs/DASHBOARD.md lists them.
public enum PrometheusText {
  public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

  public static func render(_ snapshot: CoordinatorFeed.Snapshot, now: Date = Date()) -> String {
    var out = MetricWriter()
    out.family(
      "trac_sweep_coordinator_up", .gauge, "1 when the coordinator answered the dashboard's last poll.")
    out.sample("trac_sweep_coordinator_up", [:], snapshot.problem == nil && snapshot.status != nil ? 1 : 0)
    if let at = snapshot.statusAt {
      out.family("trac_sweep_status_age_seconds", .gauge, "Seconds since the status shown here was read.")
      out.sample("trac_sweep_status_age_seconds", [:], now.timeIntervalSince(at))
    }
    guard let status = snapshot.status else { return out.text }

    out.family("trac_sweep_runs", .gauge, "Runs of a sweep by state (a run shared by sweeps counts in each).")
    for sweep in status.sweeps {
      let states: [(String, Int)] = [
        ("pending", sweep.pending), ("running", sweep.running), ("done", sweep.done),
        ("failed", sweep.failed),
        ("cancelled", sweep.cancelled),
      ]
      for (state, count) in states {
        out.sample("trac_sweep_runs", ["sweep": sweep.id, "name": sweep.name, "state": state], Double(count))
      }
    }
    out.family("trac_sweep_sweep_runs_total", .gauge, "Runs of a sweep, in every state.")
    for sweep in status.sweeps {
      out.sample("trac_sweep_sweep_runs_total", ["sweep": sweep.id, "name": sweep.name], Double(sweep.total))
    }
    out.family(
      "trac_sweep_sweep_lost_attempts", .gauge, "Attempts of a sweep's runs whose worker went silent or left."
    )
    for sweep in status.sweeps {
      out.sample(
        "trac_sweep_sweep_lost_attempts", ["sweep": sweep.id, "name": sweep.name], Double(sweep.lostAttempts))
    }
    out.family(
      "trac_sweep_sweep_duplicate_results", .gauge,
      "Late results for a sweep's runs, discarded (not recorded twice).")
    for sweep in status.sweeps {
      out.sample(
        "trac_sweep_sweep_duplicate_results", ["sweep": sweep.id, "name": sweep.name],
        Double(sweep.duplicates))
    }
    let cpu = status.sweeps.compactMap { sweep in
      snapshot.rows[sweep.id].map {
        (sweep, RunRow.rows(of: $0.reply).compactMap(\.trainSeconds).reduce(0, +))
      }
    }
    if !cpu.isEmpty {
      out.family(
        "trac_sweep_sweep_train_seconds", .gauge,
        "Training time of a sweep's recorded runs (one core each), seconds.")
      for (sweep, seconds) in cpu {
        out.sample("trac_sweep_sweep_train_seconds", ["sweep": sweep.id, "name": sweep.name], seconds)
      }
    }

    out.family(
      "trac_sweep_workers", .gauge, "Workers by state: online, offline (silent past the lease), left.")
    for state in ["online", "offline", "left"] {
      out.sample(
        "trac_sweep_workers", ["state": state], Double(status.workers.filter { $0.state == state }.count))
    }
    out.family(
      "trac_sweep_workers_quarantined", .gauge, "Workers quarantined after repeated failures (no new runs).")
    out.sample("trac_sweep_workers_quarantined", [:], Double(status.workers.filter(\.quarantined).count))
    out.family("trac_sweep_worker_slots", .gauge, "Training slots of online workers.")
    out.sample(
      "trac_sweep_worker_slots", [:],
      Double(status.workers.filter { $0.state == "online" }.map(\.slots).reduce(0, +)))
    out.family("trac_sweep_worker_slots_busy", .gauge, "Slots holding a leased attempt.")
    out.sample("trac_sweep_worker_slots_busy", [:], Double(status.workers.map(\.running.count).reduce(0, +)))
    out.family(
      "trac_sweep_audits", .gauge,
      "Audits of recorded results (docs/SECURITY.md) by state: waiting, running, disputed, passed, mismatch, "
        + "inconclusive, withdrawn.")
    let audits = status.audits
    for (state, count) in [
      ("waiting", audits.waiting), ("running", audits.running), ("disputed", audits.disputed),
      ("passed", audits.passed), ("mismatch", audits.mismatch), ("inconclusive", audits.inconclusive),
      ("withdrawn", audits.withdrawn),
    ] {
      out.sample("trac_sweep_audits", ["state": state], Double(count))
    }
    out.family(
      "trac_sweep_suspect_results", .gauge,
      "Recorded results whose worker an audit convicted, not trained again yet.")
    out.sample("trac_sweep_suspect_results", [:], Double(audits.suspect))
    out.family(
      "trac_sweep_recent_failures", .gauge, "Failed attempts in the coordinator's recent-failures list.")
    out.sample("trac_sweep_recent_failures", [:], Double(status.recentFailures.count))

    guard let metrics = snapshot.metrics else { return out.text }
    out.family(
      "trac_sweep_coordinator_uptime_seconds", .gauge, "Seconds since the coordinator started serving.")
    out.sample("trac_sweep_coordinator_uptime_seconds", [:], metrics.uptimeSeconds)
    let counters: [(String, String, Int)] = [
      ("trac_sweep_messages_total", "Messages the coordinator received, of any kind.", metrics.messages),
      ("trac_sweep_hellos_total", "hello messages received.", metrics.hellos),
      ("trac_sweep_heartbeats_total", "heartbeat messages handled.", metrics.heartbeats),
      (
        "trac_sweep_results_received_total", "result messages received (duplicates included).",
        metrics.results
      ),
      ("trac_sweep_assignments_total", "Attempts assigned to workers.", metrics.assignments),
      (
        "trac_sweep_acknowledgements_total", "Results acknowledged after their commit.",
        metrics.acknowledgements
      ),
      ("trac_sweep_commits_total", "Transactions the coordinator committed.", metrics.commits),
      (
        "trac_sweep_results_recorded_total", "Results recorded (runs done), over all sweeps.",
        metrics.resultsRecorded
      ),
      ("trac_sweep_duplicate_results_total", "Late results discarded, over all sweeps.", metrics.duplicates),
      (
        "trac_sweep_failed_attempts_total", "Attempts in which the trainer failed (input errors included).",
        metrics.failedAttempts
      ),
      (
        "trac_sweep_lost_attempts_total", "Attempts lost: their worker went silent or left.",
        metrics.lostAttempts
      ),
      (
        "trac_sweep_replies_dropped_total", "Messages dropped because their peer's queue was full.",
        metrics.repliesDropped
      ),
      (
        "trac_sweep_busy_answers_total", "Requests and fetches answered busy (flow control).",
        metrics.busyAnswers
      ),
    ]
    for (name, help, value) in counters {
      out.family(name, .counter, help)
      out.sample(name, [:], Double(value))
    }
    out.family("trac_sweep_queue_depth", .gauge, "Runs waiting for a worker (each run once).")
    out.sample("trac_sweep_queue_depth", [:], Double(metrics.queueDepth))
    out.family("trac_sweep_dataset_bytes", .gauge, "Bytes of the datasets the coordinator holds.")
    out.sample("trac_sweep_dataset_bytes", [:], Double(metrics.datasetBytes))
    out.family("trac_sweep_artifact_bytes", .gauge, "Bytes of the runs' recorded files.")
    out.sample("trac_sweep_artifact_bytes", [:], Double(metrics.artifactBytes))
    out.family(
      "trac_sweep_queued_reply_bytes", .gauge, "Bytes of replies queued for peers that have not taken them.")
    out.sample("trac_sweep_queued_reply_bytes", [:], Double(metrics.queuedReplyBytes))
    out.histogram(
      "trac_sweep_loop_pass_seconds", "Seconds a busy pass of the coordinator loop took.",
      metrics.loopPassSeconds)
    out.histogram(
      "trac_sweep_commit_seconds", "Seconds the commit of a busy pass took (one SQLite transaction).",
      metrics.commitSeconds)
    return out.text
  }
}

struct MetricWriter {
  enum Kind: String { case gauge, counter, histogram }

  private(set) var text = ""

  mutating func family(_ name: String, _ kind: Kind, _ help: String) {
    text +=
      "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
    text += "# TYPE \(name) \(kind.rawValue)\n"
  }

  mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
    text += name + Self.labels(labels) + " " + Self.value(value) + "\n"
  }

  mutating func histogram(_ name: String, _ help: String, _ histogram: MetricsReply.Histogram) {
    family(name, .histogram, help)
    for (bound, count) in zip(histogram.bounds, histogram.counts) {
      sample(name + "_bucket", ["le": Self.value(bound)], Double(count))
    }
    sample(name + "_bucket", ["le": "+Inf"], Double(histogram.count))
    sample(name + "_sum", [:], histogram.sum)
    sample(name + "_count", [:], Double(histogram.count))
  }

  static func labels(_ labels: [String: String]) -> String {
    guard !labels.isEmpty else { return "" }
    let order = ["sweep", "name", "state", "le"]
    let keys = labels.keys.sorted {
      (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1)
    }
    return "{" + keys.map { "\($0)=\"\(escape(labels[$0]!))\"" }.joined(separator: ",") + "}"
  }

  static func escape(_ value: String) -> String {
    var out = ""
    for character in value {
      switch character {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      default: out.append(character)
      }
    }
    return out
  }

  static func value(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value == .infinity { return "+Inf" }
    if value == -.infinity { return "-Inf" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
  }
}
