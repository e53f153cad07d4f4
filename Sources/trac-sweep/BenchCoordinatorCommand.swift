import ArgumentParser
import Foundation
import SweepBenchmarks

struct BenchCoordinatorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "coordinator",
    abstract: "Measure the coordinator with simulated workers whose trainer answers at once.",
    discussion: """
      Prints runs dispatched and recorded per second with --workers simulated workers, and for each \
      --capacity count whether that many workers at 1 s heartbeats keep every lease. The simulated \
      workers run in child processes, so the CPU time printed for the coordinator is its own.

      Example:
        trac-sweep bench coordinator --workers 100 --runs 5000 --capacity 1000 5000
      """)

  @Option(help: "Simulated workers for the throughput measurement.") var workers: Int = 100
  @Option(help: "Runs in the throughput sweep (0: skip the throughput measurement).") var runs: Int = 5000
  @Option(help: "Slots of each simulated worker in the throughput measurement.") var slots: Int = 1
  @Option(parsing: .upToNextOption, help: "Worker counts to hold at 1 s heartbeats.") var capacity: [Int] = []
  @Option(help: "Seconds each capacity count is held.") var hold: Double = 10
  @Option(help: "Simulator processes (default: one per 2,000 workers, at most 8).") var processes: Int?
  @Flag(help: "Hold each --capacity count twice: alone, then watched by a dashboard read every second.")
  var withDashboard = false

  func validate() throws {
    guard workers >= 1, slots >= 1, runs >= 0, capacity.allSatisfy({ $0 >= 1 }), hold > 3 else {
      throw ValidationError(
        "--workers and --capacity must be positive, --runs not negative; --hold more than 3 s")
    }
    if let processes, processes < 1 { throw ValidationError("--processes must be at least 1") }
  }

  func run() throws {
    CoordinatorBenchmark.raiseFileLimit()
    let executable =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    print("open files allowed: \(CoordinatorBenchmark.fileLimit)")
    if runs > 0 {
      print(
        try CoordinatorBenchmark.throughput(
          workers: workers, slots: slots, runs: runs, executable: executable, processes: processes))
    }
    for count in capacity {
      print(
        try CoordinatorBenchmark.capacity(
          workers: count, seconds: hold, executable: executable, processes: processes))
      if withDashboard {
        print(
          try CoordinatorBenchmark.capacity(
            workers: count, seconds: hold, executable: executable, processes: processes,
            watch: { try BenchDashboardWatcher.start(executable: executable, endpoint: $0) }))
      }
    }
  }
}

/// A child of `bench coordinator`: simulated workers in a process of their own.
struct BenchSimulateWorkersCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate-workers",
    abstract: "Simulated workers for bench coordinator (started by it).",
    shouldDisplay: false)

  @Option var endpoint: String
  @Option var mode: String
  @Option var first: Int
  @Option var count: Int
  @Option var slots: Int = 1

  func validate() throws {
    guard ["throughput", "capacity"].contains(mode) else {
      throw ValidationError("--mode must be throughput or capacity, not '\(mode)'")
    }
    guard first >= 0, count >= 1, slots >= 1 else {
      throw ValidationError("--first must be >= 0, --count and --slots >= 1")
    }
  }

  func run() throws {
    CoordinatorBenchmark.raiseFileLimit()
    try CoordinatorBenchmark.simulate(
      endpoint: endpoint, mode: mode, first: first, count: count, slots: slots)
  }
}
