import Foundation
import TracCore

/// What a report reads from a run's folder (`artifacts/runs/<run id>/` on the coordinator's machine:
/// `run.json`, `train.jsonl` and `policy.safetensors` side by side): the training setup the run
/// recorded and its TraC learning curve. Either may be missing; the problem says why.
public struct RunFolder: Sendable, Equatable {
  public var directory: String?
  public var record: RunFileRecord?
  public var recordProblem: String?
  /// The TraC phase of `train.jsonl`, in step order.
  public var trac: [TrainingLogPoint]?
  public var tracProblem: String?

  public init(
    directory: String?, record: RunFileRecord? = nil, recordProblem: String? = nil,
    trac: [TrainingLogPoint]? = nil, tracProblem: String? = nil
  ) {
    self.directory = directory
    self.record = record
    self.recordProblem = recordProblem
    self.trac = trac
    self.tracProblem = tracProblem
  }
}

/// The parts of a `run.json` that describe the training setup (`RunSetup`: run.json is read in one
/// place, TracCore/Formats); nil where the file does not say.
public typealias RunFileRecord = RunSetup

extension RunSetup {
  /// Reads what it can of a run.json; nil when `data` is not a JSON object.
  public init?(json data: Data) { self.init(runJSON: data) }
}

/// One line of `train.jsonl`: the mean loss (and TraC's accuracy) over the steps since the line before.
public struct TrainingLogPoint: Sendable, Equatable {
  public var step: Int
  public var loss: Double
  public var accuracy: Double?

  public init(step: Int, loss: Double, accuracy: Double?) {
    self.step = step
    self.loss = loss
    self.accuracy = accuracy
  }
}

public enum RunFolders {
  /// The folder of a run: beside its policy (the `policy` column of the results), else
  /// `<root>/runs/<run id>` or `<root>/<run id>` for each of `roots` (copies of the coordinator's
  /// `artifacts` folder). The first that holds a run.json or train.jsonl is read.
  public static func read(policyPath: String?, runID: String?, roots: [URL]) -> RunFolder {
    var candidates: [URL] = []
    if let policyPath, !policyPath.isEmpty {
      candidates.append(URL(fileURLWithPath: policyPath).deletingLastPathComponent())
    }
    if let runID, !runID.isEmpty, !runID.contains("/") {
      for root in roots {
        candidates += [root.appendingPathComponent("runs/\(runID)"), root.appendingPathComponent(runID)]
      }
    }
    let manager = FileManager.default
    guard
      let directory = candidates.first(where: {
        manager.fileExists(atPath: $0.appendingPathComponent(RunFiles.runJSON).path)
          || manager.fileExists(atPath: $0.appendingPathComponent(RunFiles.trainLog).path)
      })
    else {
      let looked = candidates.first.map { "no run.json or train.jsonl in \($0.path)" }
      return RunFolder(
        directory: candidates.first?.path,
        recordProblem: looked ?? "the report's input names no folder for this run",
        tracProblem: looked ?? "the report's input names no folder for this run")
    }
    var folder = RunFolder(directory: directory.path)
    let runJSON = directory.appendingPathComponent(RunFiles.runJSON)
    if let data = manager.contents(atPath: runJSON.path) {
      folder.record = RunFileRecord(json: data)
      if folder.record == nil { folder.recordProblem = "\(runJSON.path) is not a JSON object" }
    } else {
      folder.recordProblem = "cannot read \(runJSON.path)"
    }
    let log = directory.appendingPathComponent(RunFiles.trainLog)
    if let data = manager.contents(atPath: log.path) {
      do {
        folder.trac = try tracPoints(jsonl: data, source: log.path)
      } catch {
        folder.tracProblem = error.description
      }
    } else {
      folder.tracProblem = "cannot read \(log.path)"
    }
    return folder
  }

  /// The `trac` lines of a train.jsonl, in step order. A line that is not a JSON object with a step and
  /// a finite loss is an error naming the file and the line.
  static func tracPoints(jsonl data: Data, source: String) throws(ReportError) -> [TrainingLogPoint] {
    var points: [TrainingLogPoint] = []
    for (number, line) in zip(
      1..., data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false))
    where !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
      guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
        let step = (object["step"] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
        let loss = (object["loss"] as? NSNumber)?.doubleValue, loss.isFinite
      else {
        throw .badInput("\(source), line \(number): not a training log line (step, phase, loss)")
      }
      guard object["phase"] as? String == "trac" else { continue }
      let accuracy = (object["accuracy"] as? NSNumber)?.doubleValue
      points.append(
        TrainingLogPoint(step: step, loss: loss, accuracy: accuracy.flatMap { $0.isFinite ? $0 : nil }))
    }
    return points.sorted { $0.step < $1.step }
  }
}
