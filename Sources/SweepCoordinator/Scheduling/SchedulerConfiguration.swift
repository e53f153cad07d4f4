import TracCore

/// The scheduler's settings (leases, retries, quarantine), validated when made: a heartbeat so short
/// that every lease lapses under ordinary load is refused up front rather than discovered as a cluster
/// of lost runs.
public struct SchedulerConfiguration: Equatable, Sendable {
  /// How often workers heartbeat. A lease lapses after `heartbeatInterval * liveness` of silence.
  public let heartbeatInterval: Duration
  /// How many heartbeats may be missed before a worker's leases lapse.
  public let liveness: Int
  /// How many times the trainer may fail on one run before the run is `failed`. Lost and released
  /// attempts do not count.
  public let maxAttempts: Int
  /// A worker whose attempts fail this many times in a row is quarantined.
  public let quarantineAfter: Int
  /// How many recent failures `status()` keeps.
  public let recentFailureLimit: Int
  /// Whether a TraC run's BC stage is trained once, as a unit of its own, for every run submitted
  /// with the same stage (docs/CHECKPOINTS.md). Runs already submitted keep what they were given.
  public let shareBCStages: Bool
  /// The share of recorded results trained again by another worker and compared (docs/SECURITY.md,
  /// "Audits"): 0 (none) to 1 (every one).
  public let auditShare: Double
  /// The coordinator's secret that decides which results are drawn for audit.
  public let auditSalt: String

  public static let minimumHeartbeatInterval = Duration.milliseconds(10)
  public static let maximumHeartbeatInterval = Duration.seconds(3600)

  /// The defaults: 1 s x 3, 3 attempts, quarantine after 3 failures in a row, BC stages shared.
  public static let `default` = try! SchedulerConfiguration()

  public init(
    heartbeatInterval: Duration = .seconds(1), liveness: Int = 3, maxAttempts: Int = 3,
    quarantineAfter: Int = 3, recentFailureLimit: Int = 20, shareBCStages: Bool = true,
    auditShare: Double = 0, auditSalt: String = ""
  ) throws(CoordinatorError) {
    func require(_ ok: Bool, _ option: String, _ message: String) throws(CoordinatorError) {
      if !ok { throw .invalidConfiguration(option: option, message: message) }
    }
    try require(
      heartbeatInterval >= Self.minimumHeartbeatInterval, "--heartbeat-interval",
      "must be at least 10 ms, got \(Self.describe(heartbeatInterval)): workers could not keep their "
        + "leases under load and every run would be requeued over and over")
    try require(
      heartbeatInterval <= Self.maximumHeartbeatInterval, "--heartbeat-interval",
      "must be at most 1 hour, got \(Self.describe(heartbeatInterval)): a dead worker's runs would wait "
        + "that long to be requeued")
    try require(
      liveness >= 2, "--liveness",
      "must be at least 2 missed heartbeats, got \(liveness): with fewer, one late heartbeat loses a run")
    try require(liveness <= 1000, "--liveness", "must be at most 1000, got \(liveness)")
    try require(
      maxAttempts >= 1, "--max-attempts", "a run needs at least 1 attempt, got \(maxAttempts)")
    try require(maxAttempts <= 100, "--max-attempts", "must be at most 100, got \(maxAttempts)")
    try require(
      quarantineAfter >= 1, "--quarantine-after",
      "must be at least 1 failure in a row, got \(quarantineAfter)")
    try require(
      recentFailureLimit >= 0, "--recent-failures", "must be at least 0, got \(recentFailureLimit)")
    self.heartbeatInterval = heartbeatInterval
    self.liveness = liveness
    self.maxAttempts = maxAttempts
    self.quarantineAfter = quarantineAfter
    self.recentFailureLimit = recentFailureLimit
    self.shareBCStages = shareBCStages
    try require(
      auditShare.isFinite && (0...1).contains(auditShare), "--audit",
      "must be a share from 0 (no audits) to 1 (every result), got \(auditShare)")
    self.auditShare = auditShare
    self.auditSalt = auditSalt
  }

  /// How long a lease lasts without a heartbeat: `heartbeatInterval * liveness`.
  public var leaseDuration: Duration { heartbeatInterval * liveness }

  /// `1.5 s`, `250 ms`, `12.3 s`: for messages and log lines, to three significant digits.
  static func describe(_ duration: Duration) -> String {
    formatSeconds(duration.seconds)
  }
}
