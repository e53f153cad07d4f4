/// The body of a client's `request`. One shape for every command keeps the client simple; the
/// coordinator checks that the fields its command needs are there.
public struct ClientRequest: Codable, Equatable, Sendable {
  public enum Command: String, Codable, Sendable {
    case submit, status, cancel, retry, results, release, report
  }

  public var command: Command
  /// The sweep id or name, for `status`, `cancel`, `retry`, `results` and `report`.
  public var sweep: String?
  /// `submit`: the grid file's text, exactly as written (its canonical hash makes submit idempotent).
  public var grid: String?
  /// `submit`: the directory of the grid file, against which relative dataset paths resolve.
  public var gridDirectory: String?
  /// `retry`: only the failed runs.
  public var failedOnly: Bool?
  /// `release`: the worker to take out of quarantine.
  public var worker: String?

  public init(
    command: Command, sweep: String? = nil, grid: String? = nil, gridDirectory: String? = nil,
    failedOnly: Bool? = nil, worker: String? = nil
  ) {
    self.command = command
    self.sweep = sweep
    self.grid = grid
    self.gridDirectory = gridDirectory
    self.failedOnly = failedOnly
    self.worker = worker
  }

  enum CodingKeys: String, CodingKey {
    case command, sweep, grid
    case gridDirectory = "grid_directory"
    case failedOnly = "failed_only"
    case worker
  }
}
