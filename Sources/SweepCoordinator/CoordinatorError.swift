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
  /// The database could not be read or written; `operation` says what was being done.
  case storage(operation: String, message: String)
  /// The database holds something this version cannot read back.
  case corruptState(String)

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
    case .storage(let operation, let message):
      return "the state database failed while \(operation): \(message)"
    case .corruptState(let message):
      return "the state database cannot be read back: \(message)"
    }
  }
}
