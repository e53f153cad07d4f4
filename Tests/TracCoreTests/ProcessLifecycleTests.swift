import Foundation
import TracCore
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The runner the coordinator and the worker share: signals in, stop requests out. The tests use
/// SIGUSR1 as their stop signal so that nothing else in the test process is affected (the signals
/// keep Dispatch's handler afterwards, as in a process that stops).
final class ProcessLifecycleTests: XCTestCase {
  func testTheFirstStopSignalAsksForAGracefulStopTheNextForAnImmediateOneAndHangupReloads() throws {
    let service = SignalledService()
    let lifecycle = ProcessLifecycle(stopSignals: [SIGUSR1], onHangup: { service.hangups.increment() })
    try lifecycle.run(service)
    XCTAssertEqual(service.seen, [nil, .graceful, .immediate])
    XCTAssertGreaterThanOrEqual(service.hangups.value, 1)
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
  }
}

/// Sends the process the signals from inside `run()` and records the stop request it sees after each.
private final class SignalledService: StoppableService, @unchecked Sendable {
  let stopRequest = StopRequest()
  let hangups = Counter()
  private(set) var seen: [StopUrgency?] = []
  private(set) var runs = 0

  func run() throws {
    runs += 1
    seen.append(stopRequest.urgency)
    // Dispatch registers its signal sources asynchronously, the stop signal's first: once a hangup
    // has come through, a stop signal will too.
    while hangups.value == 0 {
      kill(getpid(), SIGHUP)
      waitFor { self.hangups.value > 0 }
    }
    kill(getpid(), SIGUSR1)
    waitFor { self.stopRequest.urgency != nil }
    seen.append(stopRequest.urgency)
    kill(getpid(), SIGUSR1)
    waitFor { self.stopRequest.urgency == .immediate }
    seen.append(stopRequest.urgency)
  }

  /// Signals arrive on a dispatch queue: wait for their effect (at most 1 s).
  private func waitFor(_ condition: () -> Bool) {
    for _ in 0..<1000 where !condition() { usleep(1000) }
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
