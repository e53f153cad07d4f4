import Foundation

/// Everything that determines a run's result. Its content hash is the run id (docs/FORMATS.md):
/// two sweeps containing the same run share one result.
public struct RunSpec: Codable, Hashable, Sendable {
  /// Bumped whenever the trainer would produce a different result from the same inputs, so that a
  /// cached result of an older trainer is never served for a run of this one.
  /// 1: the first trainer. 2: the BC loss is scaled by the batch's transition count in the same pass
  /// (float rounding differs from 1's rescaling of each chunk's gradient: weights move by ~1e-3
  /// after 1,500 steps, evaluation numbers in the third decimal).
  public static let trainerFormatVersion = 2

  public var task: String
  public var datasetSHA256: String
  public var algorithm: Algorithm
  public var hyperparameters: Hyperparameters
  public var costThreshold: Double
  public var seed: UInt64
  public var evalEpisodes: Int
  public var evalSeed: UInt64
  public var trainerFormatVersion: Int = RunSpec.trainerFormatVersion
  /// Which BLAS kernel computes the run (docs/PERFORMANCE.md). Left out of the JSON at its default,
  /// `fastest`, so every run id of the runs before this setting is unchanged.
  public var blas: BLASMode = .fastest
  /// How batches are cut (docs/ALGORITHM.md section 5). Left out of the JSON at its default, `full`,
  /// so every run id of the runs before this setting is unchanged.
  public var batching: Batching = .full
  /// Steps between lines of the run's train.jsonl (its learning curve); nil: the trainer's default
  /// (about steps / 100). It changes the run's files, not its policy. Left out of the JSON when nil.
  public var logEvery: Int?

  public init(
    task: String, datasetSHA256: String, algorithm: Algorithm, hyperparameters: Hyperparameters,
    costThreshold: Double, seed: UInt64, evalEpisodes: Int = 20, evalSeed: UInt64 = 0,
    blas: BLASMode = .fastest, batching: Batching = .full, logEvery: Int? = nil
  ) {
    self.blas = blas
    self.batching = batching
    self.logEvery = logEvery
    self.task = task
    self.datasetSHA256 = datasetSHA256
    self.algorithm = algorithm
    self.hyperparameters = hyperparameters
    self.costThreshold = costThreshold
    self.seed = seed
    self.evalEpisodes = evalEpisodes
    self.evalSeed = evalSeed
  }

  enum CodingKeys: String, CodingKey {
    case task
    case datasetSHA256 = "dataset_sha256"
    case algorithm, hyperparameters
    case costThreshold = "cost_threshold"
    case seed
    case evalEpisodes = "eval_episodes"
    case evalSeed = "eval_seed"
    case trainerFormatVersion = "trainer_format_version"
    case blas, batching
    case logEvery = "log_every"
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    task = try container.decode(String.self, forKey: .task)
    datasetSHA256 = try container.decode(String.self, forKey: .datasetSHA256)
    algorithm = try container.decode(Algorithm.self, forKey: .algorithm)
    hyperparameters = try container.decode(Hyperparameters.self, forKey: .hyperparameters)
    costThreshold = try container.decode(Double.self, forKey: .costThreshold)
    seed = try container.decode(UInt64.self, forKey: .seed)
    evalEpisodes = try container.decode(Int.self, forKey: .evalEpisodes)
    evalSeed = try container.decode(UInt64.self, forKey: .evalSeed)
    trainerFormatVersion = try container.decode(Int.self, forKey: .trainerFormatVersion)
    blas = try container.decodeIfPresent(BLASMode.self, forKey: .blas) ?? .fastest
    batching = try container.decodeIfPresent(Batching.self, forKey: .batching) ?? .full
    logEvery = try container.decodeIfPresent(Int.self, forKey: .logEvery)
  }

  /// `blas` only when it is not `fastest`, `batching` only when it is not `full`, `log_every` only when
  /// set: the run id hashes this encoding.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(task, forKey: .task)
    try container.encode(datasetSHA256, forKey: .datasetSHA256)
    try container.encode(algorithm, forKey: .algorithm)
    try container.encode(hyperparameters, forKey: .hyperparameters)
    try container.encode(costThreshold, forKey: .costThreshold)
    try container.encode(seed, forKey: .seed)
    try container.encode(evalEpisodes, forKey: .evalEpisodes)
    try container.encode(evalSeed, forKey: .evalSeed)
    try container.encode(trainerFormatVersion, forKey: .trainerFormatVersion)
    if blas != .fastest { try container.encode(blas, forKey: .blas) }
    if batching != .full { try container.encode(batching, forKey: .batching) }
    if let logEvery { try container.encode(logEvery, forKey: .logEvery) }
  }

  /// The first 16 hex digits of the SHA-256 of the spec's canonical JSON (sorted keys).
  public var runID: String { Self.id(ofCanonicalJSON: canonicalJSON) }

  /// The bytes the run id hashes, and `train --spec` reads (`RunSpecFile`).
  public var canonicalJSON: Data { try! JSONCodec.canonicalEncoder.encode(self) }

  /// The first 16 hex digits of the SHA-256 of `bytes`: a run id, or a stage id, of its canonical JSON.
  public static func id(ofCanonicalJSON bytes: Data) -> String {
    shortSHA256Hex(bytes)
  }
}

/// The project's one JSON codec configuration.
public enum JSONCodec {
  /// Sorted keys, no whitespace: the same value always gives the same bytes.
  public static var canonicalEncoder: JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return encoder
  }

  /// Sorted keys, indented: files people read (run.json).
  public static var prettyEncoder: JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
  }

  public static var decoder: JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return decoder
  }
}
