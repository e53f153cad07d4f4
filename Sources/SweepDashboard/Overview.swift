import Foundation
import SweepWire
import TracCore

/// What the overview shows, derived from the feed's snapshot; also served as JSON (`/api/overview`).
public struct Overview: Codable, Sendable, Equatable {
  public struct Sweep: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var total: Int
    public var pending: Int
    public var running: Int
    public var done: Int
    public var failed: Int
    public var cancelled: Int
    public var duplicates: Int
    public var lostAttempts: Int
    /// Finished runs (done, failed, cancelled) over all runs, 0...1.
    public var progress: Double
    /// Seconds until every run is finished, nil when there is nothing to go on; how it was found.
    public var etaSeconds: Double?
    public var etaBasis: String
    /// Training time of the recorded runs, in hours (each trainer uses one core).
    public var cpuHours: Double?

    enum CodingKeys: String, CodingKey {
      case id, name, total, pending, running, done, failed, cancelled, duplicates
      case lostAttempts = "lost_attempts"
      case progress
      case etaSeconds = "eta_seconds"
      case etaBasis = "eta_basis"
      case cpuHours = "cpu_hours"
    }
  }

  public struct Workers: Codable, Sendable, Equatable {
    public var online: Int
    public var offline: Int
    public var left: Int
    public var quarantined: Int
    public var slots: Int
    public var busySlots: Int

    enum CodingKeys: String, CodingKey {
      case online, offline, left, quarantined, slots
      case busySlots = "busy_slots"
    }
  }

  public var coordinator: String
  /// Nil while the coordinator answers; otherwise why it does not.
  public var problem: String?
  /// Seconds since the status shown was read.
  public var statusAgeSeconds: Double?
  public var sweeps: [Sweep]
  public var workers: Workers
  public var workerList: [StatusReply.Worker]
  public var recentFailures: [StatusReply.Failure]

  enum CodingKeys: String, CodingKey {
    case coordinator, problem
    case statusAgeSeconds = "status_age_seconds"
    case sweeps, workers
    case workerList = "worker_list"
    case recentFailures = "recent_failures"
  }

  public init(_ snapshot: CoordinatorFeed.Snapshot, coordinator: String, now: Date = Date()) {
    self.coordinator = coordinator
    problem = snapshot.problem
    statusAgeSeconds = snapshot.statusAt.map { now.timeIntervalSince($0) }
    let status = snapshot.status ?? StatusReply(sweeps: [], workers: [], recentFailures: [])
    sweeps = status.sweeps.map { sweep in
      let rows = snapshot.rows[sweep.id].map { RunRow.rows(of: $0.reply) } ?? []
      let trained = rows.compactMap(\.trainSeconds)
      let cpuHours = snapshot.rows[sweep.id] == nil ? nil : trained.reduce(0, +) / 3600
      let eta = Self.eta(
        sweep, samples: snapshot.progress[sweep.id] ?? [], trainSeconds: trained, now: now)
      let finished = sweep.done + sweep.failed + sweep.cancelled
      return Sweep(
        id: sweep.id, name: sweep.name, total: sweep.total, pending: sweep.pending, running: sweep.running,
        done: sweep.done, failed: sweep.failed, cancelled: sweep.cancelled, duplicates: sweep.duplicates,
        lostAttempts: sweep.lostAttempts,
        progress: sweep.total == 0 ? 1 : Double(finished) / Double(sweep.total), etaSeconds: eta.seconds,
        etaBasis: eta.basis, cpuHours: cpuHours)
    }
    let online = status.workers.filter { $0.state == "online" }
    workers = Workers(
      online: online.count, offline: status.workers.filter { $0.state == "offline" }.count,
      left: status.workers.filter { $0.state == "left" }.count,
      quarantined: status.workers.filter(\.quarantined).count,
      slots: online.map(\.slots).reduce(0, +), busySlots: status.workers.map(\.running.count).reduce(0, +))
    workerList = status.workers
    recentFailures = Array(status.recentFailures.reversed())
  }

  /// The rate this dashboard has seen runs finish at (over the last hour); before any run finished
  /// while it watched, the mean training time of the recorded runs times the rounds still to go.
  static func eta(
    _ sweep: StatusReply.Sweep, samples: [(Date, Int)], trainSeconds: [Double], now: Date
  ) -> (seconds: Double?, basis: String) {
    let finished = sweep.done + sweep.failed + sweep.cancelled
    let remaining = sweep.total - finished
    if remaining == 0 { return (0, "finished") }
    if let first = samples.first, finished > first.1 {
      let elapsed = now.timeIntervalSince(first.0)
      if elapsed > 0 {
        let rate = Double(finished - first.1) / elapsed
        return (Double(remaining) / rate, "the rate runs finished at while the dashboard watched")
      }
    }
    if !trainSeconds.isEmpty, sweep.running > 0 {
      let mean = trainSeconds.reduce(0, +) / Double(trainSeconds.count)
      let rounds = (Double(remaining) / Double(sweep.running)).rounded(.up)
      return (mean * rounds, "mean training time of the recorded runs x rounds of \(sweep.running) at once")
    }
    return (nil, sweep.running == 0 ? "nothing running" : "no run has finished yet")
  }
}

/// One row of a sweep's `report` reply, with the fields the pages use.
public struct RunRow: Sendable, Equatable {
  public var fields: [String: String]

  public var runID: String { fields["run_id"] ?? "" }
  public var state: String { fields["state"] ?? "" }
  public var point: String { fields["point"] ?? "" }
  public var algorithm: String { fields["algorithm"] ?? "" }
  public var task: String { fields["task"] ?? "" }
  public var costThreshold: String { fields["cost_threshold"] ?? "" }
  public var seed: String { fields["seed"] ?? "" }
  public var reward: Double? { fields["normalized_reward"].flatMap(Double.init) }
  public var cost: Double? { fields["normalized_cost"].flatMap(Double.init) }
  public var worker: String { fields["worker"] ?? "" }
  public var attempt: String { fields["attempt"] ?? "" }
  public var policy: String { fields["policy"] ?? "" }
  public var trainSeconds: Double? { fields["train_seconds"].flatMap(Double.init) }

  public static func rows(of reply: ReportDataReply) -> [RunRow] {
    reply.rows.map { row in
      RunRow(fields: Dictionary(zip(reply.columns, row), uniquingKeysWith: { first, _ in first }))
    }
  }
}

/// "3h 12m", "4m 05s", "12s".
func formatDuration(_ seconds: Double) -> String {
  guard seconds.isFinite, seconds >= 0 else { return "?" }
  let total = Int(seconds.rounded())
  if total >= 86_400 { return "\(total / 86_400)d \(total % 86_400 / 3600)h" }
  if total >= 3600 { return "\(total / 3600)h \(String(format: "%02d", total % 3600 / 60))m" }
  if total >= 60 { return "\(total / 60)m \(String(format: "%02d", total % 60))s" }
  return "\(total)s"
}
