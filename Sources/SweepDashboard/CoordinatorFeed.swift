import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import SweepWire
import TracCore

/// The dashboard's one connection to the coordinator, a `Service` in the dashboard application's group:
/// it asks for `status` (and `metrics`) once per interval, and for a sweep's `report` rows when its
/// counts changed, until the application shuts down; pages are served from the latest answers. However
/// many browsers poll the dashboard, the coordinator sees one client asking at a steady pace.
public final class CoordinatorFeed: Service, @unchecked Sendable {
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
  let source: any CoordinatorSource
  private let now: @Sendable () -> Date
  /// The source's calls block: they run here, off Swift's cooperative threads, one poll at a time.
  private let queue = DispatchQueue(label: "coordinator-feed")
  private let lock = NSLock()
  private var current = Snapshot()
  private var viewed: [String: Date] = [:]

  /// `source` defaults to the coordinator at `options.endpoint` over ZeroMQ; `now` to the wall clock.
  public init(
    options: Options, source: (any CoordinatorSource)? = nil,
    now: @escaping @Sendable () -> Date = { Date() },
    logger: Logger = Logger(label: "trac-sweep.dashboard")
  ) {
    self.options = options
    self.source = source ?? ZeroMQCoordinatorSource(options: options, logger: logger)
    self.now = now
  }

  public var snapshot: Snapshot {
    lock.lock()
    defer { lock.unlock() }
    return current
  }

  /// A page of this sweep is open: keep its report rows fresh.
  public func noteViewed(_ sweep: String) {
    let time = now()
    lock.lock()
    viewed[sweep] = time
    lock.unlock()
  }

  /// Polls once per interval until the service group shuts down (gracefully or by cancellation).
  public func run() async throws {
    await cancelWhenGracefulShutdown {
      let clock = ContinuousClock()
      while !Task.isCancelled {
        let started = clock.now
        await self.poll()
        let next = max(
          started + .milliseconds(Int(self.options.interval * 1000)), clock.now + .milliseconds(50))
        do { try await Task.sleep(until: next, clock: clock) } catch { return }
      }
    }
  }

  /// Asks the coordinator once and updates the snapshot. When the task is cancelled meanwhile it returns
  /// at once, leaving the call to finish (or time out) on the feed's queue.
  public func poll() async {
    let done = Completion()
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        done.install(continuation)
        queue.async {
          self.pollBlocking()
          done.resume()
        }
      }
    } onCancel: {
      done.resume()
    }
  }

  private func pollBlocking() {
    do {
      try pollSource()
    } catch {
      source.reset()
      lock.lock()
      current.problem = "\(error)"
      lock.unlock()
    }
  }

  private func pollSource() throws {
    let status = try source.status()
    let now = self.now()
    var metrics: MetricsReply?
    lock.lock()
    let askMetrics = current.metricsSupported || current.polls % 60 == 0
    lock.unlock()
    var metricsSupported = true
    if askMetrics {
      metrics = try source.metrics()
      metricsSupported = metrics != nil
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
      let reply = try source.report(sweep: sweep.id)
      let fetchedAt = self.now()
      lock.lock()
      current.rows[sweep.id] = SweepRows(
        reply: reply, fetchedAt: fetchedAt, counts: counts, version: (last?.version ?? 0) + 1)
      lock.unlock()
    }
    lock.lock()
    let known = Set(status.sweeps.map(\.id))
    current.rows = current.rows.filter { known.contains($0.key) }
    lock.unlock()
  }
}

/// Resumes a continuation once, whichever comes first: the work's end or the task's cancellation
/// (which may come before the continuation is installed).
private final class Completion: @unchecked Sendable {
  private let lock = NSLock()
  private var continuation: CheckedContinuation<Void, Never>?
  private var finished = false

  func install(_ continuation: CheckedContinuation<Void, Never>) {
    lock.lock()
    if finished {
      lock.unlock()
      continuation.resume()
      return
    }
    self.continuation = continuation
    lock.unlock()
  }

  func resume() {
    lock.lock()
    let continuation = self.continuation
    self.continuation = nil
    finished = true
    lock.unlock()
    continuation?.resume()
  }
}
