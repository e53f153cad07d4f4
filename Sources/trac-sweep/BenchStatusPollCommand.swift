import ArgumentParser
import SweepBenchmarks

struct BenchStatusPollCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status-poll",
    abstract: "Measure the coordinator loop's time per status and metrics poll as attempts grow.",
    discussion: """
      For each --attempts count, writes a coordinator state holding that many attempts (4 sweeps, \
      8 workers), restarts a real coordinator on it over tcp://127.0.0.1, and prints the microseconds \
      its loop spent per status and per metrics poll (from its own pass timings), then the ratio of \
      the largest count to the smallest: near 1 when a poll does not scan runs or attempts.

      Example:
        trac-sweep bench status-poll --attempts 1000 10000 100000 --polls 200
      """)

  @Option(parsing: .upToNextOption, help: "Attempt counts to measure.")
  var attempts: [Int] = [1_000, 10_000, 100_000]
  @Option(help: "Polls of each kind per count.") var polls: Int = 200

  func validate() throws {
    guard !attempts.isEmpty, attempts.allSatisfy({ $0 >= 100 && $0 <= 10_000_000 }), polls >= 1 else {
      throw ValidationError("--attempts must be between 100 and 10,000,000, --polls at least 1")
    }
  }

  func run() throws {
    for line in try StatusPollBenchmark.run(sizes: attempts, polls: polls) { print(line) }
  }
}
