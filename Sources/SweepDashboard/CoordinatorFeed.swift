import Foundation
import Logging
import SweepWire
import TracCore

/// The dashboard's one connection to the coordinator. A thread of its own asks for `status` (and
/// `metrics`) once per interval, and for a sweep's `report` rows when its counts changed; pages are
/// served from the latest answers. However many browsers poll the dashboard, the coordinator sees one
/// client asking at a steady pace.
public final class CoordinatorFeed: @unchecked Sendable {
  public struct Options: Sendable {
    public var endpoint: String
    public var curve: CurveClientKeys?
    /// Seconds between two `status` requests.
    public var interval: Double
    /// Seconds to wait for each answer.
    public var timeout: Double

    public init(endpoint: String, curve: CurveClientKeys? = nil, interval: Double = 1, timeout: Double = 10) {
      self.endpoint = endpoint
      self.curve = curve
      self.interval = interval
      self.timeout = timeout
    }
  }

  /// One sweep's `report` rows as last read, and when.
  public struct SweepRows: Sendable {
    public var reply: ReportDataReply
    public var fetchedAt: Date
    /// The counts it was read at (pending, running, done, failed, cancelled).
    public var counts: [Int]
    /// Grows with every read, so pages can tell when the report changed.
    public var version: Int
  }

  /// Everything the pages show, as of the last poll.
  public struct Snapshot: Sendable {
    public var status: StatusReply?
    public var statusAt: Date?
    /// Why the last poll failed (nil when it worked).
    public var problem: String?
    public var metrics: MetricsReply?
    /// False when the coordinator does not answer `metrics` (an older one).
    public var metricsSupported = true
    public var rows: [String: SweepRows] = [:]
    /// Per sweep: (time, runs finished) as seen by this dashboard, for the ETA.
    public var progress: [String: [(Date, Int)]] = [:]
    /// When this dashboard first saw each running attempt ("run id/worker").
    public var runningSince: [String: Date] = [:]
    public var polls = 0
  }

  public let options: Options
  private let logger: Logger
  private let lock = NSLock()
  private var current = Snapshot()
  private var viewed: [String: Date] = [:]
  private var stopped = false
  private var thread: Thread?
  private let wake = NSCondition()

  public init(options: Options, logger: Logger = Logger(label: "trac-sweep.dashboard")) {
    self.options = options
    self.logger = logger
  }

  public var snapshot: Snapshot {
    lock.lock()
    defer { lock.unlock() }
    return current
  }

  /// A page of this sweep is open: keep its report rows fresh.
  public func noteViewed(_ sweep: String) {
    lock.lock()
    viewed[sweep] = Date()
    lock.unlock()
  }

  public func start() {
    let thread = Thread { [self] in loop() }
    thread.name = "coordinator-feed"
    self.thread = thread
    thread.start()
  }

  public func stop() {
    wake.lock()
    stopped = true
    wake.signal()
    wake.unlock()
  }

  private var isStopped: Bool {
    wake.lock()
    defer { wake.unlock() }
    return stopped
  }

  private func loop() {
    var client: RequestClient?
    while !isStopped {
      let started = Date()
      do {
        if client == nil {
          client = try RequestClient(endpoint: options.endpoint, curve: options.curve)
        }
        try poll(client!)
      } catch {
        // A timed-out request may still be answered later: start over with a fresh socket, so a late
        // answer is never taken for the next one's.
        client = nil
        lock.lock()
        current.problem = "\(error)"
        lock.unlock()
      }
      let wait = max(0.05, options.interval - Date().timeIntervalSince(started))
      wake.lock()
      if !stopped { _ = wake.wait(until: Date().addingTimeInterval(wait)) }
      wake.unlock()
    }
  }

  private var timeout: Duration { .milliseconds(Int(options.timeout * 1000)) }

  private func poll(_ client: RequestClient) throws {
    let status = try client.call(
      ClientRequest(command: .status), expecting: StatusReply.self, timeout: timeout)
    let now = Date()
    var metrics: MetricsReply?
    lock.lock()
    let askMetrics = current.metricsSupported || current.polls % 60 == 0
    lock.unlock()
    var metricsSupported = true
    if askMetrics {
      let ask: () throws -> MetricsReply = {
        try client.call(ClientRequest(command: .metrics), expecting: MetricsReply.self, timeout: self.timeout)
      }
      do {
        metrics = try ask()
      } catch {
        // An older coordinator does not know the request: the status-based metrics still work.
        guard case .refused(let refusal)? = error as? RequestClient.RequestError else { throw error }
        metricsSupported = false
        logger.debug("the coordinator does not answer metrics: \(refusal.message)")
      }
    }
    lock.lock()
    current.status = status
    current.statusAt = now
    current.problem = nil
    if askMetrics {
      current.metrics = metrics
      current.metricsSupported = metricsSupported
    }
    current.polls += 1
    for sweep in status.sweeps {
      let finished = sweep.done + sweep.failed + sweep.cancelled
      var samples = current.progress[sweep.id] ?? []
      if samples.last?.1 != finished || samples.count < 2 {
        samples.append((now, finished))
      } else {
        samples[samples.count - 1] = (now, finished)
      }
      // An hour of history is enough for a rate, and bounds the memory.
      while samples.count > 2, now.timeIntervalSince(samples[0].0) > 3600 { samples.removeFirst() }
      current.progress[sweep.id] = samples
    }
    var seen: Set<String> = []
    for worker in status.workers {
      for run in worker.running {
        let key = "\(run)/\(worker.id)"
        seen.insert(key)
        if current.runningSince[key] == nil { current.runningSince[key] = now }
      }
    }
    current.runningSince = current.runningSince.filter { seen.contains($0.key) }
    let rows = current.rows
    let viewed = self.viewed
    lock.unlock()

    for sweep in status.sweeps {
      let counts = [sweep.pending, sweep.running, sweep.done, sweep.failed, sweep.cancelled]
      let last = rows[sweep.id]
      let age = last.map { now.timeIntervalSince($0.fetchedAt) } ?? .infinity
      let watched = viewed[sweep.id].map { now.timeIntervalSince($0) < 30 } ?? false
      // A large sweep's rows cost the coordinator more: read them less often unless a page shows them.
      let spacing = watched ? options.interval : max(2 * options.interval, Double(sweep.total) / 2000)
      let due =
        last == nil || (last!.counts != counts && age >= spacing) || (watched && age >= 10) || age >= 300
      guard due else { continue }
      let reply = try client.call(
        ClientRequest(command: .report, sweep: sweep.id), expecting: ReportDataReply.self, timeout: timeout)
      lock.lock()
      current.rows[sweep.id] = SweepRows(
        reply: reply, fetchedAt: Date(), counts: counts, version: (last?.version ?? 0) + 1)
      lock.unlock()
    }
    lock.lock()
    let known = Set(status.sweeps.map(\.id))
    current.rows = current.rows.filter { known.contains($0.key) }
    lock.unlock()
  }
}
