import Foundation
import TracCore
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The runner the coordinator and the worker share: signals in, stop requests out. The test uses
/// SIGUSR1 as its stop signal so that nothing else in the test process is affected.
final class ProcessLifecycleTests: XCTestCase {
  func testTheFirstStopSignalAsksForAGracefulStopTheNextForAnImmediateOneAndHangupReloads() throws {
    let service = SignalledService()
    let lifecycle = ProcessLifecycle(stopSignals: [SIGUSR1], onHangup: { service.hangups.increment() })
    defer {
      _ = signal(SIGUSR1, SIG_DFL)
      _ = signal(SIGHUP, SIG_DFL)
    }
    try lifecycle.run(service)
    XCTAssertEqual(service.seen, [nil, .graceful, .immediate])
    XCTAssertEqual(service.hangups.value, 1)
    XCTAssertEqual(service.runs, 1)
  }

  func testARequestOnlyGrows() {
    let request = StopRequest()
    XCTAssertFalse(request.isRequested)
    request.request(.immediate)
    request.request(.graceful)
    XCTAssertEqual(request.urgency, .immediate)
  }

  func testAServiceErrorComesOutOfRun() {
    let service = FailingService()
    XCTAssertThrowsError(try ProcessLifecycle(stopSignals: [SIGUSR1]).run(service)) { error in
      XCTAssertEqual(error as? FailingService.Failure, .failed)
    }
    _ = signal(SIGUSR1, SIG_DFL)
  }
}

/// Sends itself the signals from inside `run()` and records the stop request it sees after each.
private final class SignalledService: StoppableService, @unchecked Sendable {
  let stopRequest = StopRequest()
  let hangups = Counter()
  private(set) var seen: [StopUrgency?] = []
  private(set) var runs = 0

  func run() throws {
    runs += 1
    seen.append(stopRequest.urgency)
    raise(SIGUSR1)
    waitFor { self.stopRequest.urgency == .graceful }
    seen.append(stopRequest.urgency)
    raise(SIGHUP)
    waitFor { self.hangups.value == 1 }
    raise(SIGUSR1)
    waitFor { self.stopRequest.urgency == .immediate }
    seen.append(stopRequest.urgency)
  }

  /// Signals arrive on a dispatch queue: wait for their effect (at most 10 s, then the test fails).
  private func waitFor(_ condition: () -> Bool) {
    for _ in 0..<10_000 where !condition() { usleep(1000) }
  }
}

private final class FailingService: StoppableService, @unchecked Sendable {
  enum Failure: Error { case failed }
  let stopRequest = StopRequest()
  func run() throws { throw Failure.failed }
}

private final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  var value: Int { lock.withLock { count } }
  func increment() { lock.withLock { count += 1 } }
}
