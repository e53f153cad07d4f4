import Foundation
import SweepBenchmarks
import TracCore

/// A stand-in for `trac-sweep train` in tests of workers and the coordinator: a `/bin/sh` script
/// that takes the trainer's arguments, finds `--out DIR`, optionally waits, writes stub
/// `run.json`, `policy.safetensors` and `train.jsonl` into DIR, prints what it was told to, and
/// exits with the status it was told to. Every start appends its `--out` to `invocations.log`
/// beside the script, so a test can count how often a run was really started.
public enum FakeTrainer {
  public struct Behaviour: Sendable {
    /// How long the fake trains before writing its files and exiting.
    public var delay: Duration
    public var exitStatus: Int32
    /// Written to stderr just before exiting (after the delay).
    public var stderr: String
    /// Written to stdout just before exiting.
    public var stdout: String
    /// Whether it writes run.json, policy.safetensors and train.jsonl into `--out`.
    public var writesArtifacts: Bool
    /// Ignores SIGTERM (it and its `sleep`), so only SIGKILL stops it: for testing escalation.
    public var ignoresTermination: Bool
    /// The content of run.json; a small stub when nil.
    public var runJSON: String?

    public init(
      delay: Duration = .zero, exitStatus: Int32 = 0, stderr: String = "", stdout: String = "",
      writesArtifacts: Bool = true, ignoresTermination: Bool = false, runJSON: String? = nil
    ) {
      self.delay = delay
      self.exitStatus = exitStatus
      self.stderr = stderr
      self.stdout = stdout
      self.writesArtifacts = writesArtifacts
      self.ignoresTermination = ignoresTermination
      self.runJSON = runJSON
    }

    /// Trains for `delay`, writes its files, exits 0.
    public static func succeeds(after delay: Duration = .zero) -> Behaviour { Behaviour(delay: delay) }

    /// Exits with `status` (not 0, not 65) and `stderr`, writing no files.
    public static func fails(status: Int32 = 1, stderr: String = "error: the trainer failed\n") -> Behaviour {
      Behaviour(exitStatus: status, stderr: stderr, writesArtifacts: false)
    }

    /// Exits 65, the status `trac-sweep train` reserves for an error of its input.
    public static func inputError(
      _ message: String = "error: no desirable segments at cost threshold 20\n"
    ) -> Behaviour {
      Behaviour(exitStatus: 65, stderr: message, writesArtifacts: false)
    }

    /// Runs until stopped by a signal (up to an hour).
    public static var hangs: Behaviour { Behaviour(delay: .seconds(3600)) }
  }

  /// The line the fake prints on stdout once its signal handling is set up, before it "trains":
  /// a test that signals it should wait for this line first.
  public static let readyLine = "fake-trainer: ready"

  public static let scriptName = "train"
  static let invocationLogName = "invocations.log"

  /// Writes a fake trainer into a new subdirectory of `directory` and returns the executable.
  public static func make(in directory: URL, behaviour: Behaviour) throws -> URL {
    let home = directory.appendingPathComponent(
      "fake-trainer-\(UUID().uuidString.prefix(8))", isDirectory: true)
    try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    try Data(behaviour.stderr.utf8).write(to: home.appendingPathComponent("stderr.txt"))
    try Data(behaviour.stdout.utf8).write(to: home.appendingPathComponent("stdout.txt"))
    let runJSON = behaviour.runJSON ?? defaultRunJSON
    try Data(runJSON.utf8).write(to: home.appendingPathComponent(RunFiles.runJSON))
    try policyFile(observationDim: 8, actionDim: 2).write(
      to: home.appendingPathComponent(RunFiles.policy))
    try Data(script(home: home.path, behaviour: behaviour).utf8).write(
      to: home.appendingPathComponent(scriptName))
    let executable = home.appendingPathComponent(scriptName)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: executable.path)
    return executable
  }

  /// The `--out` directory of every start of the fake, in order.
  public static func invocations(of executable: URL) -> [String] {
    let log = executable.deletingLastPathComponent().appendingPathComponent(invocationLogName)
    guard let text = try? String(contentsOf: log, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").map(String.init)
  }

  static func script(home: String, behaviour: Behaviour) -> String {
    let seconds = behaviour.delay.seconds
    let quotedHome = shellQuoted(home)
    var lines = [
      "#!/bin/sh",
      "# A fake `trac-sweep train`, written by TracSweepTesting.FakeTrainer.",
      "home=\(quotedHome)",
      "out=''",
      "while [ $# -gt 0 ]; do",
      "  case \"$1\" in",
      "    --out) [ $# -ge 2 ] || { echo 'error: --out needs a value' >&2; exit 64; }; out=\"$2\"; shift 2 ;;",
      "    --out=*) out=\"${1#--out=}\"; shift ;;",
      "    *) shift ;;",
      "  esac",
      "done",
      "[ -n \"$out\" ] || { echo 'error: missing --out' >&2; exit 64; }",
      "echo \"$out\" >> \"$home/\(invocationLogName)\"",
    ]
    if behaviour.ignoresTermination { lines.append("trap '' TERM") }
    lines.append("echo '\(readyLine)'")
    if seconds > 0 { lines.append(String(format: "sleep %.3f", seconds)) }
    lines.append("mkdir -p \"$out\" || exit 1")
    if behaviour.writesArtifacts {
      lines += [
        // The run id is the name of the attempt directory's parent (WORKDIR/runs/<run id>/attempt-N).
        "run_id=$(basename \"$(dirname \"$out\")\")",
        "sed \"1s/^{/{\\\"run_id\\\": \\\"$run_id\\\", /\" \"$home/run.json\" > \"$out/run.json\" || exit 1",
        "cp \"$home/policy.safetensors\" \"$out/policy.safetensors\" || exit 1",
        "printf '{\"phase\":\"trac\",\"step\":1,\"loss\":0.5}\\n' > \"$out/train.jsonl\" || exit 1",
      ]
    }
    lines += [
      "cat \"$home/stdout.txt\"",
      "cat \"$home/stderr.txt\" >&2",
      "exit \(behaviour.exitStatus)",
    ]
    return lines.joined(separator: "\n") + "\n"
  }

  /// The fake's run.json (its `run_id` is added when it runs): an evaluation with finite numbers, so the
  /// coordinator records it.
  public static let defaultRunJSON = """
    {"fake_trainer": true, "format": "trac-run/stub", "evaluation": {"by_threshold": [{"cost_threshold": 5, \
    "normalized_reward": {"mean": 0.4, "std": 0.0}, "normalized_cost": {"mean": 0.5, "std": 0.0}, "safe": true}], \
    "reward_return": {"mean": 100}, "cost_return": {"mean": 2}}}

    """

  /// A policy.safetensors of zeros with the shapes of a task, as the coordinator checks them.
  public static func policyFile(observationDim: Int, actionDim: Int) -> Data {
    StubArtifacts.policyFile(observationDim: observationDim, actionDim: actionDim)
  }

  /// Single-quotes a string for /bin/sh.
  static func shellQuoted(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}
