import Foundation

/// Where DSRL keeps its dataset files, and which file is a task's.
public enum DSRLDatasetDirectory {
  /// `$DSRL_DATASET_DIR`, else `~/.dsrl/datasets`.
  public static var directory: URL {
    if let path = ProcessInfo.processInfo.environment["DSRL_DATASET_DIR"], !path.isEmpty {
      return URL(fileURLWithPath: path)
    }
    return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".dsrl/datasets")
  }

  /// The task's DSRL file in `directory`, named like `SafetyBallCircle-v0-80-886.hdf5`.
  public static func resolve(task: TaskInfo, in directory: URL = directory) throws(TracError) -> String {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    let matches = names.filter { $0.hasPrefix(task.simulatorID + "-") && $0.hasSuffix(".hdf5") }.sorted()
    guard let match = matches.first else {
      throw .invalidInput(
        "no dataset for \(task.dsrlID) in \(directory.path) (expected a file named like \(task.simulatorID)-80-886.hdf5);"
          + " pass --dataset FILE or set DSRL_DATASET_DIR")
    }
    guard matches.count == 1 else {
      throw .invalidInput(
        "several datasets for \(task.dsrlID) in \(directory.path): \(matches.joined(separator: ", ")); pass --dataset FILE"
      )
    }
    return directory.appendingPathComponent(match).path
  }
}
