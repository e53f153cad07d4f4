import TracCore

/// The body of a client's `request`. One shape for every command keeps the client simple; the
/// coordinator checks that the fields its command needs are there.
public struct ClientRequest: Codable, Equatable, Sendable {
  public enum Command: String, Codable, Sendable {
    case submit, status, cancel, retry, results, release, report
    /// How much of a dataset (by sha256) the coordinator holds; `upload` sends the rest.
    case dataset, upload
    /// The coordinator's own counters and loop timings, for monitoring (`MetricsReply`). Read-only.
    case metrics
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
  public var worker: WorkerID?
  /// `submit`: the sha256 of datasets the client uploaded, by the `dataset` string of the grid file.
  /// The coordinator uses its stored copy instead of reading the path.
  public var datasetHashes: [String: SHA256Digest]?
  /// `dataset` and `upload`: the dataset's sha256 and size in bytes; `upload`: where its one
  /// attachment goes.
  public var sha256: SHA256Digest?
  public var total: Int?
  public var offset: Int?

  public init(
    command: Command, sweep: String? = nil, grid: String? = nil, gridDirectory: String? = nil,
    failedOnly: Bool? = nil, worker: WorkerID? = nil, datasetHashes: [String: SHA256Digest]? = nil,
    sha256: SHA256Digest? = nil, total: Int? = nil, offset: Int? = nil
  ) {
    self.command = command
    self.sweep = sweep
    self.grid = grid
    self.gridDirectory = gridDirectory
    self.failedOnly = failedOnly
    self.worker = worker
    self.datasetHashes = datasetHashes
    self.sha256 = sha256
    self.total = total
    self.offset = offset
  }

  /// Decodes `command` and only the fields it uses (docs/PROTOCOL.md: a field not listed for a command
  /// is ignored, whatever its value).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    command = try container.decode(Command.self, forKey: .command)
    let uses = Self.fields[command] ?? []
    func field<Value: Decodable>(_ key: CodingKeys, _: Value.Type) throws -> Value? {
      guard uses.contains(key) else { return nil }
      return try container.decodeIfPresent(Value.self, forKey: key)
    }
    sweep = try field(.sweep, String.self)
    grid = try field(.grid, String.self)
    gridDirectory = try field(.gridDirectory, String.self)
    failedOnly = try field(.failedOnly, Bool.self)
    worker = try field(.worker, WorkerID.self)
    datasetHashes = try field(.datasetHashes, [String: SHA256Digest].self)
    sha256 = try field(.sha256, SHA256Digest.self)
    total = try field(.total, Int.self)
    offset = try field(.offset, Int.self)
  }

  /// The fields each command reads.
  static let fields: [Command: Set<CodingKeys>] = [
    .submit: [.grid, .gridDirectory, .datasetHashes], .status: [.sweep], .cancel: [.sweep],
    .retry: [.sweep, .failedOnly], .results: [.sweep], .report: [.sweep], .release: [.worker],
    .dataset: [.sha256, .total], .upload: [.sha256, .total, .offset], .metrics: [],
  ]

  enum CodingKeys: String, CodingKey {
    case command, sweep, grid
    case gridDirectory = "grid_directory"
    case failedOnly = "failed_only"
    case worker
    case datasetHashes = "dataset_hashes"
    case sha256, total, offset
  }
}
