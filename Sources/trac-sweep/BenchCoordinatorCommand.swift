import ArgumentParser
import Foundation
import TracSweepTesting

struct BenchCoordinatorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-coordinator",
    abstract: "Measure the coordinator with simulated workers whose trainer answers at once.",
    discussion: """
      Prints runs dispatched and recorded per second with --workers simulated workers, and for each \
      --capacity count whether that many workers at 1 s heartbeats keep every lease.

      Example:
        trac-sweep bench-coordinator --workers 100 --runs 5000 --capacity 1000 5000
      """)

  @Option(help: "Simulated workers for the throughput measurement.") var workers: Int = 100
  @Option(help: "Runs in the throughput sweep.") var runs: Int = 5000
  @Option(parsing: .upToNextOption, help: "Worker counts to hold at 1 s heartbeats.") var capacity: [Int] = []
  @Option(help: "Seconds each capacity count is held.") var hold: Double = 10

  func validate() throws {
    guard workers >= 1, runs >= 1, capacity.allSatisfy({ $0 >= 1 }), hold > 3 else {
      throw ValidationError("--workers, --runs and --capacity must be positive; --hold more than 3 s")
    }
  }

  func run() throws {
    CoordinatorBenchmark.raiseFileLimit()
    print(try CoordinatorBenchmark.throughput(workers: workers, runs: runs))
    for count in capacity { print(try CoordinatorBenchmark.capacity(workers: count, seconds: hold)) }
  }
}
