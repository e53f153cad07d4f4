import ArgumentParser
import Foundation
import TracCore
import TracTrainer

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train one TraC policy (or a BC baseline) on a DSRL dataset.",
    discussion: """
      Writes DIR/policy.safetensors, DIR/train.jsonl and DIR/run.json. Exit status 65 means the \
      input is at fault (a bad dataset, no desirable segment at the threshold, a checkpoint of \
      another run or a corrupt one): retrying cannot help.

      With --checkpoint-dir, a run killed at any point and started again with the same options \
      resumes from its last checkpoint and writes the same policy, byte for byte, as a run that \
      never stopped (docs/CHECKPOINTS.md).

      The run's inputs come from the options (--task, --cost-threshold, --seed, --algorithm, the \
      hyperparameters, --eval-episodes, --eval-seed, --blas, --batching), or all of them from --spec FILE: a run \
      spec as its canonical JSON (docs/FORMATS.md), which is how a worker starts the trainer.

      Example:
        trac-sweep train --dataset datasets/SafetyBallCircle-v0-demo.hdf5 \\
          --task OfflineBallCircle-v0 --cost-threshold 20 --seed 0 --out runs/ballcircle-20-0
      """)

  @Option(help: "DSRL HDF5 dataset file (default: the task's file in $DSRL_DATASET_DIR or ~/.dsrl/datasets).")
  var dataset: String?
  @Option(
    help: ArgumentHelp(
      """
      The run's inputs from FILE: a run spec as its canonical JSON (docs/FORMATS.md), its run id \
      checked; none of the options that set an input may be given with it.
      """, valueName: "file"))
  var spec: String?
  @Option(help: "Task, by DSRL id (OfflineBallCircle-v0) or Bullet id (SafetyBallCircle-v0).") var task:
    String?
  @Option(name: .customLong("cost-threshold"), parsing: .unconditional, help: "Episode cost threshold C.")
  var costThreshold: Double?
  @Option(help: "Seed of every random choice of the run (default: 0).") var seed: UInt64?
  @Option(help: "trac, bc_all or bc_safe (default: trac).") var algorithm: String?
  @Option(parsing: .unconditional, help: "Share of safe segments taken as desirable.") var x: Double?
  @Option(parsing: .unconditional, help: "Share of low-reward safe segments taken as undesirable.") var y:
    Double?
  @Option(parsing: .unconditional, help: "Temperature.") var alpha: Double?
  @Option(parsing: .unconditional, help: "Balancing factor of the undesirable term.") var eta: Double?
  @Option(parsing: .unconditional, help: "Lower bound of segment weights.") var beta: Double?
  @Option(parsing: .unconditional, help: "Discount inside a segment's score.") var gamma: Double?
  @Option(
    name: .customLong("seg-ratio"), parsing: .unconditional,
    help: "Segment length as a share of the longest episode.")
  var segRatio: Double?
  @Option(
    name: .customLong("bc-steps"), parsing: .unconditional,
    help: "Behaviour-cloning steps before TraC (0: no pretraining).")
  var bcSteps: Int?
  @Option(parsing: .unconditional, help: "All updates, BC included.") var steps: Int?
  @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Segments per batch.")
  var batchSize: Int?
  @Option(
    parsing: .unconditional,
    help: "Learning rate of the BC phase (TraC's is --trac-lr-scale times it, after the warm-up).")
  var lr: Double?
  @Option(
    name: .customLong("warmup-steps"), parsing: .unconditional,
    help:
      "TraC updates over which TraC's learning rate rises linearly to its full value (0: none; default 10000)."
  )
  var warmupSteps: Int?
  @Option(
    name: .customLong("trac-lr-scale"), parsing: .unconditional,
    help: "TraC's learning rate as a multiple of --lr (default 0.1).")
  var tracLRScale: Double?
  @Option(help: "Reference policy of the TraC phase: bc or uniform (default: bc).") var reference: String?
  @Option(
    help: """
      Labelled segments to train on: both, desirable (only those) or undesirable (only those; the \
      undesirable term's weight lambda_U is then 1) (default: both).
      """)
  var segments: String?
  @Option(
    name: .customLong("log-every"), parsing: .unconditional,
    help: "Steps between lines of train.jsonl (default: about steps / 100, at most 1000, dividing bc-steps).")
  var logEvery: Int?
  @Flag(
    help:
      "Evaluate the final policy in the task's simulator (Bullet-Safety-Gym or Safety-Gymnasium) and add it to run.json."
  )
  var evaluate = false
  @Option(
    name: .customLong("eval-episodes"), parsing: .unconditional, help: "Evaluation episodes (default: 20).")
  var evalEpisodes: Int?
  @Option(name: .customLong("eval-seed"), help: "Seed of the evaluation's start states (default: 0).")
  var evalSeed: UInt64?
  @Option(help: "Output directory.") var out: String
  @Option(
    name: .customLong("checkpoint-dir"),
    help: """
      Directory of the run's checkpoints: resume from the checkpoint there (it must be this run's), \
      and write one every --checkpoint-every steps and at the end of BC (bc-stage.safetensors).
      """)
  var checkpointDir: String?
  @Option(
    name: .customLong("checkpoint-every"), parsing: .unconditional,
    help: "Steps between checkpoints (default \(TrainingRun.defaultCheckpointEvery); needs --checkpoint-dir)."
  )
  var checkpointEvery: Int?
  @Option(
    name: .customLong("init-from-checkpoint"),
    help: """
      Start the TraC phase from FILE, the end-of-BC checkpoint (bc-stage.safetensors) of a run with \
      the same BC stage (same data, threshold, seed, x, y, segments, seg ratio, batch size, lr and BC \
      steps); the policy is the same as training this run alone.
      """)
  var initFromCheckpoint: String?
  @Option(
    help: """
      BLAS mode (docs/PERFORMANCE.md): fastest (this machine's fastest kernel that passes the \
      self-check) or reproducible (the OpenBLAS Haswell kernel on every machine: the same bytes \
      everywhere; part of the run id) (default: fastest).
      """)
  var blas: String?
  @Option(
    help: """
      How batches are cut (docs/ALGORITHM.md section 5): full (permutation after permutation, every \
      batch full) or epochs (as the official TraC code's loader: each epoch's last batch holds what \
      is left; part of the run id) (default: full).
      """)
  var batching: String?
  @OptionGroup var blasKernel: BLASKernelOption

  /// The options that set an input of the run, which `--spec` sets instead, and whether each is given.
  private var inputOptions: [(name: String, given: Bool)] {
    [
      ("--task", task != nil), ("--cost-threshold", costThreshold != nil), ("--seed", seed != nil),
      ("--algorithm", algorithm != nil), ("--x", x != nil), ("--y", y != nil), ("--alpha", alpha != nil),
      ("--eta", eta != nil), ("--beta", beta != nil), ("--gamma", gamma != nil),
      ("--seg-ratio", segRatio != nil),
      ("--bc-steps", bcSteps != nil), ("--steps", steps != nil), ("--batch-size", batchSize != nil),
      ("--lr", lr != nil), ("--warmup-steps", warmupSteps != nil), ("--trac-lr-scale", tracLRScale != nil),
      ("--reference", reference != nil), ("--segments", segments != nil),
      ("--eval-episodes", evalEpisodes != nil), ("--eval-seed", evalSeed != nil), ("--blas", blas != nil),
      ("--batching", batching != nil),
    ]
  }

  func validate() throws {
    if let logEvery, logEvery < 1 { throw ValidationError("--log-every must be at least 1") }
    if let checkpointEvery {
      guard checkpointDir != nil else { throw ValidationError("--checkpoint-every needs --checkpoint-dir") }
      guard checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every must be at least 1") }
    }
    if spec != nil {
      let given = inputOptions.filter(\.given).map(\.name)
      guard given.isEmpty else {
        throw ValidationError(
          "--spec sets every input of the run: leave out \(given.joined(separator: ", "))")
      }
      return
    }
    guard task != nil, costThreshold != nil else {
      throw ValidationError("--task and --cost-threshold are required (or --spec FILE)")
    }
    guard BLASMode(rawValue: blas ?? "fastest") != nil else {
      throw ValidationError("--blas must be fastest or reproducible; got '\(blas ?? "")'")
    }
    guard Batching(rawValue: batching ?? "full") != nil else {
      throw ValidationError("--batching must be full or epochs; got '\(batching ?? "")'")
    }
    guard Algorithm(rawValue: algorithm ?? "trac") != nil else {
      throw ValidationError("--algorithm must be one of trac, bc_all, bc_safe; got '\(algorithm ?? "")'")
    }
    guard ReferencePolicy(rawValue: reference ?? "bc") != nil else {
      throw ValidationError("--reference must be bc or uniform; got '\(reference ?? "")'")
    }
    guard SegmentSelection(rawValue: segments ?? "both") != nil else {
      throw ValidationError("--segments must be both, desirable or undesirable; got '\(segments ?? "")'")
    }
    let episodes = evalEpisodes ?? 20
    guard episodes >= 1 || (!evaluate && episodes == 0) else {
      throw ValidationError(
        "--eval-episodes must be at least 1 (0 only without --evaluate: a run that is not evaluated)")
    }
    do {
      _ = try TaskInfo.named(task ?? "")
      try hyperparameters.validate(algorithm: Algorithm(rawValue: algorithm ?? "trac")!)
    } catch {
      throw ValidationError(error.description)
    }
  }

  var hyperparameters: Hyperparameters {
    // The paper's defaults for the task's family (TaskFamily.defaultHyperparameters).
    var values = (try? TaskInfo.named(task ?? ""))?.family.defaultHyperparameters ?? Hyperparameters()
    if let x { values.x = x }
    if let y { values.y = y }
    if let alpha { values.alpha = alpha }
    if let eta { values.eta = eta }
    if let beta { values.beta = beta }
    if let gamma { values.gamma = gamma }
    if let segRatio { values.segRatio = segRatio }
    if let bcSteps { values.bcSteps = bcSteps }
    if let steps { values.steps = steps }
    if let batchSize { values.batchSize = batchSize }
    if let lr { values.lr = lr }
    if let warmupSteps { values.warmupSteps = warmupSteps }
    if let tracLRScale { values.tracLRScale = tracLRScale }
    values.reference = ReferencePolicy(rawValue: reference ?? "bc") ?? .bc
    values.segments = SegmentSelection(rawValue: segments ?? "both") ?? .both
    return values
  }

  /// The run's inputs: the spec file's, or the options' (the dataset's digest is filled in by the run).
  private func runInputs() -> RunSpec {
    if let spec {
      do {
        let inputs = try RunSpecFile.read(URL(fileURLWithPath: spec))
        if let every = inputs.logEvery, every < 1 {
          failInput("the spec file \(spec) has log_every \(every); it must be at least 1")
        }
        if evaluate && inputs.evalEpisodes < 1 {
          failInput("--evaluate needs evaluation episodes, and the spec file \(spec) has eval_episodes 0")
        }
        return inputs
      } catch {
        failInput("\(error)")
      }
    }
    return RunSpec(
      task: task!, datasetSHA256: "", algorithm: Algorithm(rawValue: algorithm ?? "trac")!,
      hyperparameters: hyperparameters, costThreshold: costThreshold!, seed: seed ?? 0,
      evalEpisodes: evalEpisodes ?? 20, evalSeed: evalSeed ?? 0, blas: BLASMode(rawValue: blas ?? "fastest")!,
      batching: Batching(rawValue: batching ?? "full")!)
  }

  func run() throws {
    if ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil { BLASThreads.set(1) }
    let inputs = runInputs()
    let runtime = try blasKernel.prepare(mode: inputs.blas)
    let taskInfo: TaskInfo
    do { taskInfo = try TaskInfo.named(inputs.task) } catch { failInput("\(error)") }
    var datasetPath = dataset ?? ""
    if dataset == nil {
      do { datasetPath = try DSRLDatasetDirectory.resolve(task: taskInfo) } catch {
        failInput(error.description)
      }
    }
    var run = TrainingRun(
      datasetPath: datasetPath, task: taskInfo, algorithm: inputs.algorithm,
      hyperparameters: inputs.hyperparameters, costThreshold: inputs.costThreshold, seed: inputs.seed,
      outputDirectory: URL(fileURLWithPath: out))
    run.logEvery =
      logEvery ?? inputs.logEvery
      ?? TrainingRun.defaultLogEvery(steps: run.hyperparameters.steps, bcSteps: run.hyperparameters.bcSteps)
    run.evaluate = evaluate
    run.evalEpisodes = inputs.evalEpisodes
    run.evalSeed = inputs.evalSeed
    run.checkpointDirectory = checkpointDir.map { URL(fileURLWithPath: $0) }
    run.checkpointEvery = checkpointEvery ?? TrainingRun.defaultCheckpointEvery
    run.initialCheckpoint = initFromCheckpoint.map { URL(fileURLWithPath: $0) }
    run.blas = inputs.blas
    run.batching = inputs.batching
    run.specLogEvery = inputs.logEvery
    run.blasRuntime = runtime
    // A spec file names its run: the run trained must be that one (same dataset bytes, same inputs).
    if spec != nil { run.expectedSpec = inputs }
    let display = ProgressLine()
    do {
      let record = try run.run { display.show($0) }
      display.finish()
      print(
        "\(record.runID)  \(out)/policy.safetensors  \(String(format: "%.1f", record.timing.totalSeconds)) s")
      for result in record.evaluation?.byThreshold ?? [] {
        print(EvaluationTable.row(threshold: result))
      }
    } catch let error as TracError {
      display.finish()
      failInput(error.description)
    } catch let error as DatasetError {
      display.finish()
      failInput(error.description)
    } catch let error as CheckpointError {
      display.finish()
      failInput(error.description)
    } catch let error as EvaluatorError {
      display.finish()
      FileHandle.standardError.write(
        Data(
          "error: evaluation failed: \(error)\nhint: run scripts/setup.sh to install the evaluator's Python environment\n"
            .utf8))
      throw ExitCode.failure
    }
  }

  private func failInput(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(TracError.inputErrorExitStatus)
  }
}

/// `--blas-kernel NAME` of the commands that train, and the kernel set-up before their first BLAS call.
struct BLASKernelOption: ParsableArguments {
  @Option(
    name: .customLong("blas-kernel"),
    help: """
      The OpenBLAS kernel, e.g. Haswell, SkylakeX, Zen (default: this machine's fastest that passes the \
      self-check, probed once per machine). Checked before use; OPENBLAS_CORETYPE in the environment \
      is respected and checked the same way.
      """)
  var name: String?

  /// Applies the kernel (executing this program again with OPENBLAS_CORETYPE set when needed), or
  /// exits with a message naming the kernel and what is wrong with it.
  func prepare(mode: BLASMode) throws -> BLASRuntime {
    do {
      return try BLASSetup.prepare(mode: mode, kernelOption: name) {
        FileHandle.standardError.write(Data("note: \($0)\n".utf8))
      }
    } catch {
      FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
      throw ExitCode.failure
    }
  }
}

/// One progress line on a terminal, redrawn in place; silent when stderr is not a terminal.
final class ProgressLine {
  private let enabled = isatty(STDERR_FILENO) != 0

  func show(_ progress: TrainingProgress) {
    guard enabled else { return }
    let remaining = Double(progress.totalSteps - progress.step) / max(progress.stepsPerSecond, 1e-9)
    var line = String(
      format: "%@  step %d/%d  loss %.4f", progress.phase.rawValue, progress.step, progress.totalSteps,
      progress.loss)
    if let accuracy = progress.accuracy { line += String(format: "  acc %.3f", accuracy) }
    line += String(format: "  %.1f steps/s  ETA %@", progress.stepsPerSecond, formatDuration(remaining))
    FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
  }

  func finish() {
    if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
  }
}

func formatDuration(_ seconds: Double) -> String {
  guard seconds.isFinite else { return "?" }
  let total = Int(seconds.rounded())
  if total >= 3600 { return "\(total / 3600)h\(String(format: "%02d", total % 3600 / 60))m" }
  if total >= 60 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
  return "\(total)s"
}
