/// The names of the files in a run's folder (docs/FORMATS.md): what `trac-sweep train --out DIR`
/// writes, what a worker ships and keeps, and what the coordinator and the report read. Stated once.
public enum RunFiles {
  /// Every input, the data's shape after labelling, timing and the evaluation (`RunRecord`).
  public static let runJSON = "run.json"
  /// The trained policy (`PolicyLayout`).
  public static let policy = "policy.safetensors"
  /// One line of training progress every `--log-every` steps.
  public static let trainLog = "train.jsonl"
  /// The step in hand, replaced every couple of seconds while the trainer runs.
  public static let progress = "progress.json"
  /// The end-of-BC checkpoint of a run that ends with its BC stage (a shared stage's unit), and the
  /// copy of it in a checkpoint directory.
  public static let bcStage = "bc-stage.safetensors"
  /// The newest checkpoint, in a checkpoint directory (`--checkpoint-dir`).
  public static let checkpoint = "checkpoint.safetensors"
  /// The run's spec as its canonical JSON (`RunSpecFile`), as a worker hands it to `train --spec`.
  public static let spec = "spec.json"
}
