import Crypto
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

  public init(
    task: String, datasetSHA256: String, algorithm: Algorithm, hyperparameters: Hyperparameters,
    costThreshold: Double, seed: UInt64, evalEpisodes: Int = 20, evalSeed: UInt64 = 0
  ) {
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
  }

  /// The first 16 hex digits of the SHA-256 of the spec's canonical JSON (sorted keys).
  public var runID: String {
    let canonical = try! JSONCodec.canonicalEncoder.encode(self)
    return SHA256.hash(data: canonical).prefix(8).map { String(format: "%02x", $0) }.joined()
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
