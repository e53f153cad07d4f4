import ArgumentParser
import Foundation
import SweepBenchmarks
import TracTrainer

/// `bench trainer|coordinator|status-poll`: the speed measurements.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract:
      "Measure the trainer's steps (the default), the coordinator's throughput and capacity, or its poll cost.",
    discussion: """
      Example:
        trac-sweep bench trainer --steps 20
        trac-sweep bench coordinator --workers 100 --runs 5000
        trac-sweep bench status-poll --attempts 1000 10000 100000
      """,
    subcommands: [
      BenchTrainerCommand.self, BenchCoordinatorCommand.self, BenchStatusPollCommand.self,
      BenchSimulateWorkersCommand.self,
    ],
    defaultSubcommand: BenchTrainerCommand.self)
}

struct BenchTrainerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "trainer",
    abstract: "Measure BC and TraC steps against this machine's sgemm peak.",
    discussion: """
      Prints the BLAS library and kernel, then, for BallCircle (obs 8, act 2, L 200) and AntCircle \
      (obs 34, act 8, L 500) shapes at batch 96 and 1 and 2 BLAS threads: ms per step, GFLOP/s, and \
      the ratio to the sgemm peak measured in the same run with the same kernel, to the best \
      kernel this CPU runs correctly (its sgemm rate at the trainer's shapes, probed once per \
      machine) and to the CPU's FMA peak (flops per cycle of its instruction set x its clock), \
      per thread. A misdetected kernel shows as a low share of the best kernel.

      Example:
        trac-sweep bench trainer --steps 20
      """)

  @Option(help: "Timed steps per measurement.") var steps: Int = 20
  @Option(parsing: .upToNextOption, help: "BLAS thread counts to measure.") var threads: [Int] = [1, 2]
  @OptionGroup var blasKernel: BLASKernelOption

  func run() throws {
    let runtime = try blasKernel.prepare(mode: .fastest)
    let decision = BLASDecision.current()
    for line in TrainerBenchmark.header(runtime: runtime, decision: decision) { print(line) }
    let reference = TrainerBenchmark.Reference(
      bestKernel: decision.fastest, bestKernelRate: decision.bestRate,
      fmaPeakPerCore: decision.cpu.fmaPeakGFLOPS)
    for line in TrainerBenchmark.run(timedSteps: steps, threadCounts: threads, reference: reference) {
      print(line)
    }
  }
}
