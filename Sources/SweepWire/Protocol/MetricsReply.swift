/// `reply` to `metrics`: what the coordinator's loop has done since it started, for monitoring
/// (`trac-sweep dashboard` turns it into Prometheus metrics). Counters only grow while the process
/// lives; a restarted coordinator starts them at zero.
public struct MetricsReply: Codable, Equatable, Sendable {
  /// A histogram as Prometheus keeps one: `counts[i]` observations were at most `bounds[i]` seconds
  /// (cumulative), `count` observations in all (the `+Inf` bucket), summing to `sum` seconds.
  public struct Histogram: Codable, Equatable, Sendable {
    public var bounds: [Double]
    public var counts: [Int]
    public var count: Int
    public var sum: Double

    public init(bounds: [Double], counts: [Int], count: Int, sum: Double) {
      self.bounds = bounds
      self.counts = counts
      self.count = count
      self.sum = sum
    }
  }

  /// Seconds since the coordinator process started serving.
  public var uptimeSeconds: Double
  /// Messages received, of any kind; of them `hello`, `heartbeat` and `result`.
  public var messages: Int
  public var hellos: Int
  public var heartbeats: Int
  public var results: Int
  /// `assign` messages sent; `ack` messages sent.
  public var assignments: Int
  public var acknowledgements: Int
  /// Transactions committed (one per pass of the loop that handled messages).
  public var commits: Int
  /// Results recorded (the `results` table), over all sweeps.
  public var resultsRecorded: Int
  /// Late results discarded because their run was already recorded.
  public var duplicates: Int
  /// Attempts that ended `failed` or `input_error` (the trainer failed), and attempts `lost` (their
  /// worker went silent or left), over all runs.
  public var failedAttempts: Int
  public var lostAttempts: Int
  /// Runs waiting for a worker, over all sweeps (a run shared by sweeps counts once).
  public var queueDepth: Int
  /// Bytes of the datasets held (`artifacts/datasets`) and of the runs' files (`artifacts/runs`).
  public var datasetBytes: Int
  public var artifactBytes: Int
  /// Seconds a busy pass of the loop took (handling its messages, the commit, the replies).
  public var loopPassSeconds: Histogram
  /// Seconds the commit of a busy pass took (one SQLite transaction).
  public var commitSeconds: Histogram
  /// Flow control (docs/PROTOCOL.md, section 9): messages dropped because their peer's queue was full,
  /// requests and fetches answered `busy`, and the bytes of replies queued for peers now and at most.
  public var repliesDropped: Int = 0
  public var busyAnswers: Int = 0
  public var queuedReplyBytes: Int = 0
  public var queuedReplyBytesPeak: Int = 0

  public init(
    uptimeSeconds: Double, messages: Int, hellos: Int, heartbeats: Int, results: Int, assignments: Int,
    acknowledgements: Int, commits: Int, resultsRecorded: Int, duplicates: Int, failedAttempts: Int,
    lostAttempts: Int, queueDepth: Int,
    datasetBytes: Int, artifactBytes: Int, loopPassSeconds: Histogram, commitSeconds: Histogram
  ) {
    self.uptimeSeconds = uptimeSeconds
    self.messages = messages
    self.hellos = hellos
    self.heartbeats = heartbeats
    self.results = results
    self.assignments = assignments
    self.acknowledgements = acknowledgements
    self.commits = commits
    self.resultsRecorded = resultsRecorded
    self.duplicates = duplicates
    self.failedAttempts = failedAttempts
    self.lostAttempts = lostAttempts
    self.queueDepth = queueDepth
    self.datasetBytes = datasetBytes
    self.artifactBytes = artifactBytes
    self.loopPassSeconds = loopPassSeconds
    self.commitSeconds = commitSeconds
  }

  enum CodingKeys: String, CodingKey {
    case uptimeSeconds = "uptime_seconds"
    case messages, hellos, heartbeats, results, assignments, acknowledgements, commits
    case resultsRecorded = "results_recorded"
    case duplicates
    case failedAttempts = "failed_attempts"
    case lostAttempts = "lost_attempts"
    case queueDepth = "queue_depth"
    case datasetBytes = "dataset_bytes"
    case artifactBytes = "artifact_bytes"
    case loopPassSeconds = "loop_pass_seconds"
    case commitSeconds = "commit_seconds"
    case repliesDropped = "replies_dropped"
    case busyAnswers = "busy_answers"
    case queuedReplyBytes = "queued_reply_bytes"
    case queuedReplyBytesPeak = "queued_reply_bytes_peak"
  }
}
