import ArgumentParser
import Foundation
import TracCore
import TracTrainer

struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Roll a policy out in the simulator and print DSRL's normalized reward and cost.",
    discussion: """
      Deterministic (dropout off); the same policy, episodes and seed give the same numbers. \
      Normalized cost is computed at each threshold from one set of rollouts.

      Example:
        trac-sweep evaluate runs/ballcircle-20-0/policy.safetensors \\
          --task OfflineBallCircle-v0 --cost-threshold 10 20 40 --episodes 20 --seed 0
      """)

  @Argument(help: "A policy.safetensors file.") var policy: String
  @Option(help: "Task, by DSRL or simulator id.") var task: String
  @Option(name: .customLong("cost-threshold"), parsing: .upToNextOption, help: "One or more cost thresholds.")
  var costThresholds: [Double]
  @Option(help: "Episodes to roll out.") var episodes: Int = 20
  @Option(help: "Seed of the start states.") var seed: UInt64 = 0
  @Flag(help: "Print the evaluator's full JSON instead of a table.") var json = false

  func validate() throws {
    guard episodes >= 1 else { throw ValidationError("--episodes must be at least 1") }
    guard !costThresholds.isEmpty, costThresholds.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
      throw ValidationError("--cost-threshold needs one or more numbers >= 0")
    }
    do { _ = try TaskInfo.named(task) } catch { throw ValidationError(error.description) }
    guard FileManager.default.fileExists(atPath: policy) else {
      throw ValidationError("no policy file at \(policy)")
    }
  }

  func run() throws {
    do {
      let taskInfo = try TaskInfo.named(task)
      let evaluator = try EvaluatorProcess(
        location: try EvaluatorProcess.Location.resolveEvaluator(for: taskInfo.family))
      let result = try evaluator.evaluate(
        policy: URL(fileURLWithPath: policy), task: taskInfo, costThresholds: costThresholds,
        episodes: episodes, seed: seed)
      if json {
        print(String(decoding: try JSONCodec.prettyEncoder.encode(result), as: UTF8.self))
      } else {
        print("\(result.dsrlTask)  \(result.episodes) episodes  seed \(result.seed)")
        print(EvaluationTable.header)
        for threshold in result.byThreshold { print(EvaluationTable.row(threshold: threshold)) }
      }
    } catch let error as EvaluatorError {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }
}

/// The one table layout for evaluation results.
enum EvaluationTable {
  static let header = "threshold   norm. reward      norm. cost        safe"

  static func row(threshold result: EvaluationResult.ThresholdResult) -> String {
    let threshold = formatNumber(result.costThreshold).padding(toLength: 10, withPad: " ", startingAt: 0)
    return String(
      format: "%@  %6.3f ± %-6.3f  %6.3f ± %-6.3f  %@", threshold, result.normalizedReward.mean,
      result.normalizedReward.std, result.normalizedCost.mean, result.normalizedCost.std,
      result.safe ? "yes" : "no")
  }
}
