import Foundation
import TracCore

/// The worker's per-run work directories: `WORKDIR/runs/<run id>/attempt-<n>/`.
///
/// One attempt of a run lives here at a time: preparing attempt n removes every other attempt's
/// directory of that run, so a retried run never leaves a second copy of its artifacts behind
/// on the worker's disk. Finished results live in the `ResultSpool`, not here, so removing an
/// attempt's directory never loses a result.
public struct RunDirectory: Sendable {
  /// `WORKDIR/runs`: every path below is built through it, so no run id can name a place outside.
  public let contained: ContainedDirectory
  public var root: URL { contained.url }

  public init(root: URL) throws {
    contained = try ContainedDirectory(root)
  }

  public init(workDirectory: URL) throws {
    try self.init(root: workDirectory.appendingPathComponent("runs", isDirectory: true))
  }

  public func runURL(_ run: RunID) throws(PathOutsideRoot) -> URL {
    try contained.path(run.rawValue)
  }

  public func directory(for key: AttemptID) throws(PathOutsideRoot) -> AttemptDirectory {
    AttemptDirectory(key: key, url: try contained.path(key.run.rawValue, "attempt-\(key.number)"))
  }

  /// Makes an empty directory for the attempt, after removing every other attempt's directory of
  /// the same run and anything a previous try of this attempt left. The caller stops any older
  /// attempt of the run it still runs before preparing a new one.
  public func prepare(_ key: AttemptID) throws -> AttemptDirectory {
    let runURL = try runURL(key.run)
    for attempt in attempts(ofRun: key.run) where attempt != key.number {
      try DurableFiles.remove(runURL.appendingPathComponent("attempt-\(attempt)", isDirectory: true))
    }
    let directory = try directory(for: key)
    try DurableFiles.remove(directory.url)
    try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
    return directory
  }

  /// The attempt numbers that have a directory for the run, ascending.
  public func attempts(ofRun run: RunID) -> [Int] {
    guard let runURL = try? runURL(run),
      let names = try? FileManager.default.contentsOfDirectory(atPath: runURL.path)
    else { return [] }
    return names.compactMap(Self.attemptNumber(ofDirectoryNamed:)).sorted()
  }

  /// Removes an attempt's directory, and the run's directory when no attempt is left in it.
  public func remove(_ key: AttemptID) throws {
    try DurableFiles.remove(try directory(for: key).url)
    let runURL = try runURL(key.run)
    if (try? FileManager.default.contentsOfDirectory(atPath: runURL.path))?.isEmpty == true {
      try DurableFiles.remove(runURL)
    }
  }

  /// Removes everything but the given attempts' directories: at startup, nothing else is running
  /// (the children of a previous worker process died with it), and its results are in the spool.
  /// Returns the names of what was removed.
  @discardableResult
  public func removeAll(except keep: Set<AttemptID> = []) throws -> [String] {
    var removed: [String] = []
    let runNames = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
    for runName in runNames.sorted() {
      let runURL = root.appendingPathComponent(runName, isDirectory: true)
      let kept = keep.filter { $0.run.rawValue == runName }
      if kept.isEmpty {
        try DurableFiles.remove(runURL)
        removed.append(runName)
        continue
      }
      let attemptNames = (try? FileManager.default.contentsOfDirectory(atPath: runURL.path)) ?? []
      for attemptName in attemptNames.sorted()
      where !kept.contains(where: { "attempt-\($0.number)" == attemptName }) {
        try DurableFiles.remove(runURL.appendingPathComponent(attemptName))
        removed.append("\(runName)/\(attemptName)")
      }
    }
    return removed
  }

  static func attemptNumber(ofDirectoryNamed name: String) -> Int? {
    guard name.hasPrefix("attempt-"), let number = Int(name.dropFirst("attempt-".count)), number >= 1 else {
      return nil
    }
    return number
  }
}

/// One attempt's work directory: the trainer's `--out`, and its stdout and stderr logs.
public struct AttemptDirectory: Sendable, Equatable {
  /// The files `trac-sweep train` writes into `--out`, in the order a result carries them.
  /// `bc-stage.safetensors` only for a run that ends with its BC stage (a shared stage's unit).
  public static let artifactNames = [RunFiles.runJSON, RunFiles.policy, RunFiles.trainLog, RunFiles.bcStage]

  public let key: AttemptID
  public let url: URL

  /// Where the trainer writes its artifacts (`--out`).
  public var outputDirectory: URL { url }
  /// The trainer's live progress (`progress.json`) and its log (`train.jsonl`).
  public var progressFile: URL { outputDirectory.appendingPathComponent(RunFiles.progress) }
  public var trainLog: URL { outputDirectory.appendingPathComponent(RunFiles.trainLog) }
  public var stdoutLog: URL { url.appendingPathComponent("stdout.log") }
  public var stderrLog: URL { url.appendingPathComponent("stderr.log") }
  /// The trainer's `--checkpoint-dir`: it writes `checkpoint.safetensors` there, and resumes from one
  /// the worker put there (the run's newest, fetched from the coordinator).
  public var checkpointDirectory: URL { url.appendingPathComponent("checkpoints") }
  public var checkpointFile: URL { checkpointDirectory.appendingPathComponent(RunFiles.checkpoint) }
  /// The run's spec, as the worker hands it to the trainer (`train --spec`; not an artifact).
  public var specFile: URL { url.appendingPathComponent(RunFiles.spec) }

  /// The artifacts the trainer left, in `artifactNames` order (a failed run may have left none).
  public func existingArtifacts() -> [URL] {
    AttemptDirectory.artifactNames.map { outputDirectory.appendingPathComponent($0) }
      .filter { DurableFiles.fileSize($0) != nil }
  }
}
