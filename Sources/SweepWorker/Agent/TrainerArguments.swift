import Foundation
import TracCore

/// The command line of `trac-sweep train` for one run: every input of the `RunSpec` as an option.
public enum TrainerArguments {
  /// Arguments after the program name: `train --dataset PATH --task ... --out DIR`. `--evaluate` is
  /// left out only when `evaluate` is false (tests and demos without the simulator).
  /// With `checkpointDirectory` the trainer writes checkpoints there (every `checkpointEvery` steps,
  /// its own default when nil) and resumes from the one it finds there. With `initFrom` (a shared BC
  /// stage's end-of-BC checkpoint) the TraC phase starts from it.
  public static func make(
    spec: RunSpec, dataset: URL, outputDirectory: URL, evaluate: Bool, checkpointDirectory: URL? = nil,
    checkpointEvery: Int? = nil, initFrom: URL? = nil
  ) -> [String] {
    let values = spec.hyperparameters
    var arguments = ["train"]
    func option(_ name: String, _ value: String) {
      // A value that starts with '-' would be read as an option: pass it as --name=value.
      if value.hasPrefix("-") { arguments.append("\(name)=\(value)") } else { arguments += [name, value] }
    }
    option("--dataset", dataset.path)
    option("--task", spec.task)
    option("--cost-threshold", number(spec.costThreshold))
    option("--seed", "\(spec.seed)")
    option("--algorithm", spec.algorithm.rawValue)
    option("--x", number(values.x))
    option("--y", number(values.y))
    option("--alpha", number(values.alpha))
    option("--eta", number(values.eta))
    option("--beta", number(values.beta))
    option("--gamma", number(values.gamma))
    option("--seg-ratio", number(values.segRatio))
    option("--bc-steps", "\(values.bcSteps)")
    option("--steps", "\(values.steps)")
    option("--batch-size", "\(values.batchSize)")
    option("--lr", number(values.lr))
    option("--reference", values.reference.rawValue)
    // Left out at its default, like in the run id, so the command line of every older run is unchanged.
    if values.segments != .both { option("--segments", values.segments.rawValue) }
    if values.warmupSteps != Hyperparameters.defaultWarmupSteps {
      option("--warmup-steps", "\(values.warmupSteps)")
    }
    if values.tracLRScale != Hyperparameters.defaultTracLRScale {
      option("--trac-lr-scale", number(values.tracLRScale))
    }
    if spec.blas != .fastest { option("--blas", spec.blas.rawValue) }
    // A run of a grid with `"eval": {"episodes": 0}` trains only.
    if evaluate && spec.evalEpisodes > 0 { arguments.append("--evaluate") }
    option("--eval-episodes", "\(spec.evalEpisodes)")
    option("--eval-seed", "\(spec.evalSeed)")
    option("--out", outputDirectory.path)
    if let checkpointDirectory {
      option("--checkpoint-dir", checkpointDirectory.path)
      if let checkpointEvery { option("--checkpoint-every", "\(checkpointEvery)") }
    }
    // The shared BC stage's end: the TraC phase starts from it (a checkpoint of the run itself wins).
    if let initFrom { option("--init-from-checkpoint", initFrom.path) }
    return arguments
  }

  /// Swift's shortest text that reads back as the same Double, so the trainer's run id matches.
  static func number(_ value: Double) -> String { "\(value)" }
}
