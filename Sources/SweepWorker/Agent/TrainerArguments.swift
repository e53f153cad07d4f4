import Foundation
import TracCore

/// The command line of `trac-sweep train` for one run: the run's `RunSpec` as a file (`--spec`,
/// `RunSpecFile`: the canonical JSON its run id is the hash of), and where the trainer reads and writes.
public enum TrainerArguments {
  /// Arguments after the program name: `train --spec FILE --dataset PATH ... --out DIR`. The caller
  /// writes the spec to `specFile` (`RunSpecFile.write`). `--evaluate` is left out when `evaluate` is
  /// false (tests and demos without the simulator) or the run asks for no evaluation episodes.
  /// With `checkpointDirectory` the trainer writes checkpoints there (every `checkpointEvery` steps,
  /// its own default when nil) and resumes from the one it finds there. With `initFrom` (a shared BC
  /// stage's end-of-BC checkpoint) the TraC phase starts from it.
  public static func make(
    spec: RunSpec, specFile: URL, dataset: URL, outputDirectory: URL, evaluate: Bool,
    checkpointDirectory: URL? = nil, checkpointEvery: Int? = nil, initFrom: URL? = nil
  ) -> [String] {
    var arguments = ["train"]
    func option(_ name: String, _ value: String) {
      // A value that starts with '-' would be read as an option: pass it as --name=value.
      if value.hasPrefix("-") { arguments.append("\(name)=\(value)") } else { arguments += [name, value] }
    }
    option("--spec", specFile.path)
    option("--dataset", dataset.path)
    // A run of a grid with `"eval": {"episodes": 0}` trains only.
    if evaluate && spec.evalEpisodes > 0 { arguments.append("--evaluate") }
    option("--out", outputDirectory.path)
    if let checkpointDirectory {
      option("--checkpoint-dir", checkpointDirectory.path)
      if let checkpointEvery { option("--checkpoint-every", "\(checkpointEvery)") }
    }
    // The shared BC stage's end: the TraC phase starts from it (a checkpoint of the run itself wins).
    if let initFrom { option("--init-from-checkpoint", initFrom.path) }
    return arguments
  }
}
