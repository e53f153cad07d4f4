import Foundation
import SweepWire
import TracCore

/// Cumulative histograms of the coordinator loop's timings, for the `metrics` request. Only the loop's
/// thread writes them; `metrics` is answered on that thread too.
struct LoopTimings {
  /// Seconds: 100 µs to 10 s, enough to see a slow fsync or a pass that starves heartbeats.
  static let bounds: [Double] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
  ]

  struct Histogram {
    var buckets = [Int](repeating: 0, count: LoopTimings.bounds.count)
    var count = 0
    var sum = 0.0

    mutating func observe(_ duration: Duration) {
      let seconds = duration.seconds
      count += 1
      sum += seconds
      if let index = LoopTimings.bounds.firstIndex(where: { seconds <= $0 }) { buckets[index] += 1 }
    }

    var reply: MetricsReply.Histogram {
      var running = 0
      let cumulative = buckets.map { count -> Int in
        running += count
        return running
      }
      return MetricsReply.Histogram(bounds: LoopTimings.bounds, counts: cumulative, count: count, sum: sum)
    }
  }

  var pass = Histogram()
  var commit = Histogram()
}

/// Bytes under a directory (the datasets'), recounted when `version` (messages received) changed, at
/// most once every 5 seconds, and else once a minute: walking it on each scrape would take the loop's time.
struct DirectorySizeCache {
  private var values: [String: (bytes: Int, at: ContinuousClock.Instant, version: Int)] = [:]

  mutating func bytes(under directory: URL, version: Int, now: ContinuousClock.Instant) -> Int {
    if let cached = values[directory.path], now - cached.at < .seconds(60),
      cached.version == version || now - cached.at < .seconds(5)
    {
      return cached.bytes
    }
    var total = 0
    let keys: [URLResourceKey] = [.fileSizeKey, .isRegularFileKey]
    if let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: keys) {
      for case let url as URL in walker {
        guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true else {
          continue
        }
        total += values.fileSize ?? 0
      }
    }
    values[directory.path] = (total, now, version)
    return total
  }
}

/// What the loop has done since it started and how long its busy passes took: written by the loop's
/// thread, read by `metrics` on that thread.
public final class LoopStatistics {
  public var counters = CoordinatorService.Counters()
  var timings = LoopTimings()
  /// When the loop started serving (`metrics`' uptime).
  public let started: ContinuousClock.Instant
  /// Bytes of replies libzmq still holds, per peer (flow control).
  public let outbound: OutboundLedger

  public init(
    started: ContinuousClock.Instant = ContinuousClock().now, outbound: OutboundLedger = OutboundLedger()
  ) {
    self.started = started
    self.outbound = outbound
  }
}
