import Foundation

/// A Python script of this checkout (`scripts/...`) and the Python of its venv (`.venv/bin/python`),
/// found the same way for every script the Swift code runs: the evaluator, the report's figures.
public struct ProjectScript: Sendable, Equatable {
  public var python: URL
  public var script: URL

  public init(python: URL, script: URL) {
    self.python = python
    self.script = script
  }

  /// `$<scriptVariable>` and `$<pythonVariable>` when set; otherwise `relativePath` and `<venv>/bin/python`
  /// of the first checkout found above the executable or the working directory. The error message says
  /// what is missing and how to get it (`missingPythonHint`, after the path).
  public static func resolve(
    _ relativePath: String, scriptVariable: String, venv: String = ".venv",
    pythonVariable: String = "TRAC_PYTHON",
    missingPythonHint: String? = nil
  ) -> Result<ProjectScript, Missing> {
    let environment = ProcessInfo.processInfo.environment
    var roots: [URL] = []
    for start in [
      executableURL.resolvingSymlinksInPath().deletingLastPathComponent(),
      URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
    ] {
      var directory = start
      for _ in 0..<6 {
        roots.append(directory)
        directory = directory.deletingLastPathComponent()
      }
    }
    let script =
      environment[scriptVariable].map { URL(fileURLWithPath: $0) }
      ?? roots.lazy.map { $0.appendingPathComponent(relativePath) }
      .first { FileManager.default.fileExists(atPath: $0.path) }
    guard let script, FileManager.default.fileExists(atPath: script.path) else {
      return .failure(Missing(message: "\(relativePath) was not found; set \(scriptVariable) to its path"))
    }
    let root = script.deletingLastPathComponent().deletingLastPathComponent()
    let python =
      environment[pythonVariable].map { URL(fileURLWithPath: $0) }
      ?? root.appendingPathComponent("\(venv)/bin/python")
    guard FileManager.default.isExecutableFile(atPath: python.path) else {
      let hint = missingPythonHint ?? "run scripts/setup.sh, or set \(pythonVariable)"
      return .failure(Missing(message: "the project's Python (\(python.path)) is missing; \(hint)"))
    }
    return .success(ProjectScript(python: python, script: script))
  }

  /// The running program's file. `argv[0]` is only the name typed when the program was found on
  /// `PATH` (`trac-sweep`, no folder), so Linux's `/proc/self/exe` comes first.
  static var executableURL: URL {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      return URL(fileURLWithPath: path)
    }
    return URL(fileURLWithPath: CommandLine.arguments[0])
  }

  /// Why a script or its Python was not found.
  public struct Missing: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
  }
}
