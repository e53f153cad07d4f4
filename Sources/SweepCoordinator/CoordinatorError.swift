import TracCore

/// The error type of SweepCoordinator: every case says what is wrong in words a user can act on.
public enum CoordinatorError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A setting out of its range; `option` is the command-line name (`--heartbeat-interval`).
  case invalidConfiguration(option: String, message: String)
  /// No sweep has this id.
  case unknownSweep(SweepID)
  /// No worker has this id.
  case unknownWorker(WorkerID)
  /// A different grid was submitted under the name of an existing sweep; `differences` are
  /// `path: old -> new` lines (`GridFile.differences(from:)`).
  case sweepNameTaken(name: String, existing: SweepID, differences: [String])
  /// The same grid was submitted again but expands to other runs (its dataset file changed).
  case sweepChanged(SweepID, message: String)
  /// A request that cannot be carried out in the current state, e.g. retrying a cancelled sweep.
  case refused(String)
  /// No dataset with this sha256 is stored in full (a `fetch`, or a `submit` naming an unfinished upload).
  case unknownDataset(SHA256Digest)
  /// A `fetch` of bytes the coordinator does not hold in full: no dataset, checkpoint or BC stage.
  case unknownBlob(SHA256Digest)
  /// A grid names a dataset file on the coordinator's machine outside the directories it reads
  /// datasets from.
  case datasetNotAllowed(path: String, allowed: [String])
  /// The database could not be read or written; `operation` says what was being done.
  case storage(operation: String, message: String)
  /// The database holds something this version cannot read back.
  case corruptState(String)

  /// The identifier the error is about, for the `error` reply's `subject`.
  public var subject: String? {
    switch self {
    case .unknownSweep(let sweep): return sweep.rawValue
    case .unknownWorker(let worker): return worker.rawValue
    case .unknownDataset(let sha256), .unknownBlob(let sha256): return sha256.rawValue
    default: return nil
    }
  }

  public var description: String {
    switch self {
    case .invalidConfiguration(let option, let message):
      return "\(option): \(message)"
    case .unknownSweep(let sweep):
      return "no sweep has the id \(sweep)"
    case .unknownWorker(let worker):
      return "no worker has the id \(worker)"
    case .sweepNameTaken(let name, let existing, let differences):
      let shown = differences.prefix(20).map { "  \($0)" }.joined(separator: "\n")
      let more = differences.count > 20 ? "\n  ... and \(differences.count - 20) more" : ""
      return
        "the sweep name \"\(name)\" is taken by sweep \(existing) with a different grid; rename the new "
        + "grid or submit the old one. What differs (old -> new):\n\(shown)\(more)"
    case .sweepChanged(let sweep, let message):
      return "sweep \(sweep): \(message)"
    case .refused(let message):
      return message
    case .unknownDataset(let sha256):
      return "no dataset with sha256 \(sha256) is held by the coordinator"
    case .unknownBlob(let sha256):
      return "no dataset, checkpoint or BC stage with sha256 \(sha256) is held in full by the coordinator"
    case .datasetNotAllowed(let path, let allowed):
      let directories = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
      return
        "dataset \(path) is outside the directories this coordinator reads datasets from (\(directories)): "
        + "submit from a machine where the file is readable (trac-sweep submit uploads it), or start the "
        + "coordinator with --datasets DIR for the directory that holds it"
    case .storage(let operation, let message):
      return "the state database failed while \(operation): \(message)"
    case .corruptState(let message):
      return "the state database cannot be read back: \(message)"
    }
  }
}
