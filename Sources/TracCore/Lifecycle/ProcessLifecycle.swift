import Dispatch
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// How soon a service should stop.
public enum StopUrgency: Int, Sendable, Comparable {
  /// Finish what is under way within the service's grace period.
  case graceful
  /// Stop now.
  case immediate

  public static func < (lhs: StopUrgency, rhs: StopUrgency) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A request to stop, made from any thread (a signal's queue, a test) and read by a service's loop
/// between its turns. It only grows: graceful, then immediate.
public final class StopRequest: @unchecked Sendable {
  private let lock = NSLock()
  private var value: StopUrgency?

  public init() {}

  /// nil until a stop is requested.
  public var urgency: StopUrgency? { lock.withLock { value } }
  public var isRequested: Bool { urgency != nil }

  public func request(_ urgency: StopUrgency = .graceful) {
    lock.withLock { value = max(value ?? urgency, urgency) }
  }
}

/// A service whose loop runs on the calling thread (the coordinator, the worker: each a
/// synchronous ZeroMQ loop) and stops when its `stopRequest` asks.
public protocol StoppableService: AnyObject, Sendable {
  /// Asks `run()` to stop; the service checks it between the turns of its loop.
  var stopRequest: StopRequest { get }
  /// Serves until `stopRequest` asks it to stop, then returns once it has stopped gracefully.
  func run() throws
}

/// Signals and graceful stop for a process that runs one `StoppableService` (modelled on
/// swift-service-lifecycle's `ServiceGroup`, for a synchronous loop instead of async tasks).
///
/// The stop signals (SIGTERM and SIGINT) lose their default action: the first asks the service to
/// stop gracefully, the next one to stop at once. SIGHUP calls `onHangup` if given (reload) and is
/// then ignored; without `onHangup` it keeps its default action. After `run` returns the stop
/// signals stay ignored, so a late one cannot kill a process that is finishing.
public struct ProcessLifecycle: Sendable {
  public var stopSignals: [Int32]
  public var onHangup: (@Sendable () -> Void)?

  public init(stopSignals: [Int32] = [SIGTERM, SIGINT], onHangup: (@Sendable () -> Void)? = nil) {
    self.stopSignals = stopSignals
    self.onHangup = onHangup
  }

  /// Runs the service on the calling thread with the signals wired to its stop request.
  public func run(_ service: some StoppableService) throws {
    let stop = service.stopRequest
    let queue = DispatchQueue(label: "trac-sweep.signals")
    let count = SignalCount()
    var sources: [DispatchSourceSignal] = []
    for number in stopSignals {
      sources.append(
        listen(number, on: queue) {
          stop.request(count.increment() > 1 ? .immediate : .graceful)
        })
    }
    if let onHangup { sources.append(listen(SIGHUP, on: queue, onHangup)) }
    defer { for source in sources { source.cancel() } }
    try service.run()
  }

  private func listen(_ number: Int32, on queue: DispatchQueue, _ handler: @escaping @Sendable () -> Void)
    -> DispatchSourceSignal
  {
    // Ignored until the source is registered (Dispatch then installs its own handler); a handler
    // already there (a source of an earlier run in this process) is kept.
    if let previous = signal(number, SIG_IGN),
      unsafeBitCast(previous, to: Int.self) != unsafeBitCast(SIG_IGN, to: Int.self)
    {
      _ = signal(number, previous)
    }
    let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
    source.setEventHandler(handler: handler)
    source.resume()
    return source
  }

  private final class SignalCount: @unchecked Sendable {
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
