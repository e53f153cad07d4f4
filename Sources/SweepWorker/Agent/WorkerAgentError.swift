import TracCore

/// Why a worker agent cannot start or must stop.
public enum WorkerAgentError: Error, Equatable, Sendable, CustomStringConvertible {
  /// `WORKDIR/worker-id` holds something that is not a worker id.
  case invalidWorkerID(path: String, content: String)
  /// The coordinator speaks another protocol version (or said that this worker does).
  case versionMismatch(String)
  /// A configuration value out of range.
  case invalidConfiguration(String)
  /// With CURVE, the coordinator binds this worker id to another key (`key_mismatch`).
  case identityRefused(String)

  public var description: String {
    switch self {
    case .invalidWorkerID(let path, let content):
      return
        "\(path) holds '\(content.prefix(80))', not a worker id (1 to 128 visible ASCII characters);"
        + " remove the file to get a new id"
    case .versionMismatch(let message):
      return "cannot work with this coordinator: \(message)"
    case .invalidConfiguration(let message): return "invalid worker configuration: \(message)"
    case .identityRefused(let message):
      return "the coordinator does not accept this worker's key for its worker id: \(message)"
    }
  }
}
