import Foundation

/// Where a task family's evaluator runs: its venv and the variable that overrides its Python.
public struct EvaluatorEnvironment: Sendable, Hashable {
  public let family: TaskFamily

  public init(family: TaskFamily) {
    self.family = family
  }

  /// The venv scripts/setup.sh builds for the family, relative to the checkout.
  public var venv: String {
    switch family {
    case .bulletGym: ".venv"
    case .safetyGymnasium: ".venv-safety-gymnasium"
    case .metadrive: ".venv-metadrive"
    }
  }

  /// The environment variable that names the family's Python instead of the venv's.
  public var pythonVariable: String {
    switch family {
    case .bulletGym: "TRAC_PYTHON"
    case .safetyGymnasium: "TRAC_SAFETY_GYMNASIUM_PYTHON"
    case .metadrive: "TRAC_METADRIVE_PYTHON"
    }
  }

  /// What to do when the family's Python is missing.
  public var missingHint: String {
    switch family {
    case .bulletGym:
      "run scripts/setup.sh, or set TRAC_PYTHON"
    case .safetyGymnasium:
      "the Safety-Gymnasium tasks need their own Python 3.10 environment: run scripts/setup.sh --simulators on a"
        + " machine"
        + " with a Python 3.10 interpreter (pyenv's 3.10, python3.10 on PATH, or TRAC_SETUP_PYTHON310), or set"
        + " TRAC_SAFETY_GYMNASIUM_PYTHON"
    case .metadrive:
      "the MetaDrive tasks need their own Python 3.9 environment: run scripts/setup.sh --simulators on a machine"
        + " with a Python 3.9 interpreter (pyenv's 3.9, python3.9 on PATH, or TRAC_SETUP_PYTHON39), or set"
        + " TRAC_METADRIVE_PYTHON"
    }
  }

  /// Whether this machine can evaluate the family's tasks: the evaluator script is found and its Python
  /// is there. A venv of the checkout must also have finished installing (scripts/setup.sh writes
  /// `.requirements.sha256` into it last); a Python named by the variable is taken as it is.
  public var isAvailable: Bool {
    guard
      case .success(let found) = ProjectScript.resolve(
        "scripts/evaluator.py", scriptVariable: "TRAC_EVALUATOR", venv: venv, pythonVariable: pythonVariable)
    else { return false }
    if ProcessInfo.processInfo.environment[pythonVariable] != nil { return true }
    let stamp = found.python.deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent(".requirements.sha256")
    return FileManager.default.fileExists(atPath: stamp.path)
  }

  /// The task families this machine can evaluate (what a worker offers in its hello). A machine
  /// without any evaluator returns an empty set.
  public static func availableFamilies() -> Set<TaskFamily> {
    Set(TaskFamily.allCases.filter { EvaluatorEnvironment(family: $0).isAvailable })
  }
}
