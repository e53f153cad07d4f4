/// The evaluator's answer for one policy (DSRL protocol, docs/ALGORITHM.md section 9): per-episode returns
/// and, for each cost threshold asked, the normalized reward and cost and whether it is safe.
public struct EvaluationResult: Codable, Sendable, Equatable {
  public var task: String
  public var dsrlTask: String
  public var episodes: Int
  public var seed: UInt64
  public var rewardReturns: [Double]
  public var costReturns: [Double]
  public var episodeLengths: [Int]
  public var rewardReturn: MeanStd
  public var costReturn: MeanStd
  public var byThreshold: [ThresholdResult]
  public var wallSeconds: Double

  public struct MeanStd: Codable, Sendable, Equatable {
    public var mean: Double
    public var std: Double
  }

  public struct Distribution: Codable, Sendable, Equatable {
    public var mean: Double
    public var std: Double
    public var perEpisode: [Double]

    enum CodingKeys: String, CodingKey {
      case mean, std
      case perEpisode = "per_episode"
    }
  }

  public struct ThresholdResult: Codable, Sendable, Equatable {
    public var costThreshold: Double
    public var normalizedReward: Distribution
    public var normalizedCost: Distribution
    /// Normalized cost <= 1.
    public var safe: Bool

    enum CodingKeys: String, CodingKey {
      case costThreshold = "cost_threshold"
      case normalizedReward = "normalized_reward"
      case normalizedCost = "normalized_cost"
      case safe
    }
  }

  enum CodingKeys: String, CodingKey {
    case task
    case dsrlTask = "dsrl_task"
    case episodes, seed
    case rewardReturns = "reward_returns"
    case costReturns = "cost_returns"
    case episodeLengths = "episode_lengths"
    case rewardReturn = "reward_return"
    case costReturn = "cost_return"
    case byThreshold = "by_threshold"
    case wallSeconds = "wall_seconds"
  }
}
