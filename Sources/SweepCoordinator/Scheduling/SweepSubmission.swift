import Foundation
import TracCore

/// A grid as the scheduler takes it: its id and name, its canonical JSON (kept, so that a different grid
/// under the same name can be refused with what differs) and its runs in the grid's order.
public struct SweepSubmission: Equatable, Sendable {
  public var id: SweepID
  public var name: String
  /// `GridFile.canonicalJSON` as text.
  public var gridJSON: String
  public var runs: [RunRecordInput]

  public init(id: SweepID, name: String, gridJSON: String, runs: [RunRecordInput]) {
    self.id = id
    self.name = name
    self.gridJSON = gridJSON
    self.runs = runs
  }

  /// Every run of `grid`. `datasetSHA256` gives the content hash of each of the grid's datasets (the
  /// coordinator reads the files; this stays pure); it is called once per task and dataset.
  public init<Failure: Error>(
    grid: GridFile, datasetSHA256: (GridFile.TaskDataset) throws(Failure) -> String
  ) throws(Failure) {
    var hashes: [GridFile.TaskDataset: String] = [:]
    for target in grid.tasks where hashes[target] == nil {
      hashes[target] = try datasetSHA256(target)
    }
    let runs = grid.runs.map { run in
      RunRecordInput(
        run,
        datasetSHA256: hashes[GridFile.TaskDataset(task: run.task, datasetPath: run.datasetPath)] ?? "")
    }
    self.init(
      id: SweepID(of: grid), name: grid.name,
      gridJSON: String(decoding: grid.canonicalJSON, as: UTF8.self),
      runs: runs)
  }
}
