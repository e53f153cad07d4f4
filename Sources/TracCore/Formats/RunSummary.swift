import Foundation

/// What the coordinator keeps of a result's `run.json` (`RunRecord`), typed: decoded once, when the
/// result arrives, and stored with it, so the rows of `results` and `report` are built from it with no
/// JSON read per row. Every field is optional and read on its own (one of another type is nil): a
/// recorded result's run.json is checked for its run id and its evaluation (`ResultCheck`), not for
/// being a whole `RunRecord` (a train-only run has no evaluation; test stubs carry only the run id).
public struct RunSummary: Equatable, Sendable {
  /// `evaluation.by_threshold[0]`: the normalized reward and cost, and whether the policy is safe.
  public var rewardMean: Double?
  public var rewardStd: Double?
  public var costMean: Double?
  public var costStd: Double?
  public var safe: Bool?
  /// `evaluation.reward_return.mean` and `evaluation.cost_return.mean`.
  public var rewardReturnMean: Double?
  public var costReturnMean: Double?
  /// `timing.total_seconds` and `timing.bc_seconds`.
  public var totalSeconds: Double?
  public var bcSeconds: Double?
  /// `bc_stage` and `resumed_from_run`.
  public var bcStage: String?
  public var resumedFromRun: String?

  public init() {}

  /// The summary of a run.json; nil when it is not a JSON object.
  public init?(runJSON: Data) {
    guard let decoded = try? JSONCodec.decoder.decode(Decoded.self, from: runJSON) else { return nil }
    self = decoded.summary
  }

  /// Reads with `RunRecord`'s keys; a field that is missing or of another type is nil.
  private struct Decoded: Decodable {
    var summary = RunSummary()

    typealias Record = RunRecord.CodingKeys
    typealias Timing = RunRecord.Timing.CodingKeys
    typealias Evaluation = EvaluationResult.CodingKeys
    typealias Threshold = EvaluationResult.ThresholdResult.CodingKeys
    enum Distribution: String, CodingKey { case mean, std }

    init(from decoder: any Decoder) throws {
      let record = try decoder.container(keyedBy: Record.self)
      summary.bcStage = try? record.decodeIfPresent(String.self, forKey: .bcStage)
      summary.resumedFromRun = try? record.decodeIfPresent(String.self, forKey: .resumedFromRun)
      if let timing = try? record.nestedContainer(keyedBy: Timing.self, forKey: .timing) {
        summary.totalSeconds = try? timing.decodeIfPresent(Double.self, forKey: .totalSeconds)
        summary.bcSeconds = try? timing.decodeIfPresent(Double.self, forKey: .bcSeconds)
      }
      guard let evaluation = try? record.nestedContainer(keyedBy: Evaluation.self, forKey: .evaluation) else {
        return
      }
      func number<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key, _ field: Distribution)
        -> Double?
      {
        let values = try? container.nestedContainer(keyedBy: Distribution.self, forKey: key)
        return values.flatMap { try? $0.decodeIfPresent(Double.self, forKey: field) }
      }
      summary.rewardReturnMean = number(evaluation, .rewardReturn, .mean)
      summary.costReturnMean = number(evaluation, .costReturn, .mean)
      guard var thresholds = try? evaluation.nestedUnkeyedContainer(forKey: .byThreshold),
        !thresholds.isAtEnd,
        let first = try? thresholds.nestedContainer(keyedBy: Threshold.self)
      else { return }
      summary.rewardMean = number(first, .normalizedReward, .mean)
      summary.rewardStd = number(first, .normalizedReward, .std)
      summary.costMean = number(first, .normalizedCost, .mean)
      summary.costStd = number(first, .normalizedCost, .std)
      summary.safe = try? first.decodeIfPresent(Bool.self, forKey: .safe)
    }
  }
}

/// What a report shows of a run folder's `run.json` (`RunRecord`): the training setup. Like
/// `RunSummary`, every field is read on its own, nil where the file does not say.
public struct RunSetup: Equatable, Sendable {
  public var datasetSHA256: String?
  public var datasetPath: String?
  public var episodes: Int?
  public var transitions: Int?
  public var trainerFormatVersion: Int?
  public var trainerVersion: String?
  public var evalEpisodes: Int?
  public var evalSeed: UInt64?

  public init() {}

  /// The setup in a run.json; nil when it is not a JSON object.
  public init?(runJSON: Data) {
    guard let decoded = try? JSONCodec.decoder.decode(Decoded.self, from: runJSON) else { return nil }
    self = decoded.setup
  }

  private struct Decoded: Decodable {
    var setup = RunSetup()

    init(from decoder: any Decoder) throws {
      let record = try decoder.container(keyedBy: RunRecord.CodingKeys.self)
      setup.datasetPath = try? record.decodeIfPresent(String.self, forKey: .datasetPath)
      setup.trainerVersion = try? record.decodeIfPresent(String.self, forKey: .trainerVersion)
      if let data = try? record.nestedContainer(keyedBy: RunRecord.DataSummary.CodingKeys.self, forKey: .data)
      {
        setup.episodes = try? data.decodeIfPresent(Int.self, forKey: .episodes)
        setup.transitions = try? data.decodeIfPresent(Int.self, forKey: .transitions)
      }
      if let spec = try? record.nestedContainer(keyedBy: RunSpec.CodingKeys.self, forKey: .spec) {
        setup.datasetSHA256 = try? spec.decodeIfPresent(String.self, forKey: .datasetSHA256)
        setup.trainerFormatVersion = try? spec.decodeIfPresent(Int.self, forKey: .trainerFormatVersion)
        setup.evalEpisodes = try? spec.decodeIfPresent(Int.self, forKey: .evalEpisodes)
        setup.evalSeed = try? spec.decodeIfPresent(UInt64.self, forKey: .evalSeed)
      }
    }
  }
}
