import ArgumentParser
import Dispatch
import Foundation
import Logging
import SweepCoordinator

struct CoordinatorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "coordinator",
    abstract: "Run the coordinator: owns every sweep, assigns runs to workers, records each result once.",
    discussion: """
      State is one SQLite database (WAL) plus artifacts (datasets by hash, each run's policy, log \
      and run.json) in --state. Restart it with the same --state and it carries on: workers \
      reconnect and their running runs are re-adopted. SIGTERM or SIGINT stops it gracefully.

      Example:
        trac-sweep coordinator --bind tcp://*:5555 --state ~/trac-sweep-state
      """)

  @Option(help: "ZeroMQ endpoint to bind.") var bind: String = "tcp://*:5555"
  @Option(help: "State directory (database and artifacts).") var state: String
  @Option(name: .customLong("heartbeat-interval"), help: "Seconds between worker heartbeats.")
  var heartbeatInterval: Double = 1
  @Option(help: "Missed heartbeats before a worker's leases lapse.") var liveness: Int = 3
  @Option(name: .customLong("max-attempts"), help: "Trainer failures allowed per run.") var maxAttempts: Int =
    3
  @Option(name: .customLong("quarantine-after"), help: "Consecutive failures that quarantine a worker.")
  var quarantineAfter: Int = 3

  func validate() throws {
    guard heartbeatInterval.isFinite, heartbeatInterval > 0 else {
      throw ValidationError("--heartbeat-interval must be a positive number of seconds")
    }
    do { _ = try schedulerConfiguration() } catch { throw ValidationError("\(error)") }
  }

  func schedulerConfiguration() throws -> SchedulerConfiguration {
    try SchedulerConfiguration(
      heartbeatInterval: .milliseconds(Int((heartbeatInterval * 1000).rounded())), liveness: liveness,
      maxAttempts: maxAttempts, quarantineAfter: quarantineAfter)
  }

  func run() throws {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    let service: CoordinatorService
    do {
      service = try CoordinatorService(
        configuration: .init(
          bind: bind, stateDirectory: URL(fileURLWithPath: state), scheduler: try schedulerConfiguration()))
    } catch {
      FileHandle.standardError.write(Data("error: cannot start the coordinator: \(error)\n".utf8))
      throw ExitCode.failure
    }
    let stop = service.stopFlag
    let signals = onTermination { stop.set() }
    service.run()
    withExtendedLifetime(signals) {}
  }
}

/// Calls `handler` (once per signal) on SIGTERM and SIGINT instead of dying, so the process can stop
/// gracefully. Keep the returned sources alive.
func onTermination(_ handler: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
  [SIGTERM, SIGINT].map { number in
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler(handler: handler)
    source.resume()
    return source
  }
}
