import Foundation
import TracCore

/// DSRL's HDF5 dataset files (docs/FORMATS.md), read through libhdf5.
public enum DSRLDataset {
  public static let keys = [
    "observations", "next_observations", "actions", "rewards", "costs", "terminals", "timeouts",
  ]

  /// Loads a dataset file. Every problem is a `DatasetError` naming the file and the key.
  /// `next_observations` is checked for shape but not kept: TraC does not use it.
  public static func load(path: String, task: TaskInfo? = nil) throws(DatasetError) -> OfflineDataset {
    do {
      let file = try HDF5File(path: path)
      for key in keys where !file.contains(key) {
        throw DatasetError(
          file: path, key: key, message: "missing (a DSRL dataset has \(keys.joined(separator: ", ")))")
      }
      let (observations, observationDims) = try file.readFloats("observations")
      guard observationDims.count == 2, observationDims[1] > 0 else {
        throw DatasetError(
          file: path, key: "observations", message: "has shape \(observationDims), expected [N, obs_dim]")
      }
      let count = observationDims[0]
      let observationDim = observationDims[1]
      let (actions, actionDims) = try file.readFloats("actions")
      guard actionDims.count == 2, actionDims[0] == count, actionDims[1] > 0 else {
        throw DatasetError(
          file: path, key: "actions", message: "has shape \(actionDims), expected [\(count), act_dim]")
      }
      let nextDims = try file.dimensions(of: "next_observations")
      guard nextDims == observationDims else {
        throw DatasetError(
          file: path, key: "next_observations", message: "has shape \(nextDims), expected \(observationDims)")
      }
      func vector(_ key: String) throws -> [Float] {
        let (values, dims) = try file.readFloats(key)
        guard dims.count == 1 && dims[0] == count || dims == [count, 1] else {
          throw DatasetError(file: path, key: key, message: "has shape \(dims), expected [\(count)]")
        }
        return values
      }
      func flags(_ key: String) throws -> [Bool] {
        let (values, dims) = try file.readFlags(key)
        guard dims.count == 1 && dims[0] == count || dims == [count, 1] else {
          throw DatasetError(file: path, key: key, message: "has shape \(dims), expected [\(count)]")
        }
        return values
      }
      let rewards = try vector("rewards")
      let costs = try vector("costs")
      let terminals = try flags("terminals")
      let timeouts = try flags("timeouts")
      if let task {
        guard observationDim == task.observationDim else {
          throw DatasetError(
            file: path, key: "observations",
            message: "has width \(observationDim), but \(task.dsrlID) observes \(task.observationDim) values")
        }
        guard actionDims[1] == task.actionDim else {
          throw DatasetError(
            file: path, key: "actions",
            message: "has width \(actionDims[1]), but \(task.dsrlID) acts with \(task.actionDim)")
        }
      }
      do {
        return try OfflineDataset(
          observationDim: observationDim, actionDim: actionDims[1], observations: observations,
          actions: actions,
          rewards: rewards, costs: costs, done: zip(terminals, timeouts).map { $0 || $1 })
      } catch {
        var located = error
        located.file = path
        throw located
      }
    } catch let error as DatasetError {
      throw error
    } catch let error as HDF5Error {
      throw DatasetError(
        file: path, key: error.key ?? "file", message: "\(error.detail) (\(error.call) failed)")
    } catch {
      throw DatasetError(file: path, key: "file", message: "\(error)")
    }
  }

  /// Writes a dataset in DSRL's layout (float32, bool enums, gzip): for tests and small tools.
  public static func write(_ dataset: OfflineDataset, terminals: [Bool], timeouts: [Bool], to path: String)
    throws
  {
    let file = try HDF5File(path: path, create: true)
    let count = dataset.transitionCount
    try file.write("observations", floats: dataset.observations, dimensions: [count, dataset.observationDim])
    try file.write(
      "next_observations", floats: dataset.observations, dimensions: [count, dataset.observationDim])
    try file.write("actions", floats: dataset.actions, dimensions: [count, dataset.actionDim])
    try file.write("rewards", floats: dataset.rewards, dimensions: [count])
    try file.write("costs", floats: dataset.costs, dimensions: [count])
    try file.write("terminals", flags: terminals, dimensions: [count])
    try file.write("timeouts", flags: timeouts, dimensions: [count])
  }
}
