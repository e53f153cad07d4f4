import Dispatch
import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// SIGTERM and SIGINT as events on a dispatch queue instead of their default action (stop is
/// graceful): the first asks the agent to stop gracefully, a second one to stop at once.
public final class StopSignals: @unchecked Sendable {
  private var sources: [DispatchSourceSignal] = []

  /// Ignores the signals' default action and calls `handler` with the signal and how many stop
  /// signals have arrived so far (1 for the first). Keep the returned object alive.
  public init(
    signals: [Int32] = [SIGTERM, SIGINT], queue: DispatchQueue = DispatchQueue(label: "trac-sweep.signals"),
    handler: @escaping @Sendable (_ signal: Int32, _ count: Int) -> Void
  ) {
    let counter = Counter()
    for number in signals {
      _ = signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
      source.setEventHandler { handler(number, counter.increment()) }
      source.resume()
      sources.append(source)
    }
  }

  /// Stops listening; the signals keep being ignored.
  public func cancel() {
    for source in sources { source.cancel() }
    sources = []
  }

  deinit { cancel() }

  private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func increment() -> Int {
      lock.withLock {
        value += 1
        return value
      }
    }
  }
}
