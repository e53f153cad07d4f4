/// An offline dataset in memory: every transition held once, in episode order (docs/ALGORITHM.md section 1).
///
/// Observations and actions are row-major `[transitionCount, width]` float32 arrays. Actions are
/// clipped to `[-(1 - 1e-5), 1 - 1e-5]` on construction.
public struct OfflineDataset: Sendable {
  public let observationDim: Int
  public let actionDim: Int
  public let observations: [Float]
  public let actions: [Float]
  public let rewards: [Float]
  public let costs: [Float]
  /// Episodes as ranges of transition indices, in order, covering every transition.
  public let episodes: [Range<Int>]
  /// Undiscounted reward and cost sums of each episode.
  public let episodeRewards: [Double]
  public let episodeCosts: [Double]

  public var transitionCount: Int { rewards.count }
  public var maxEpisodeLength: Int { episodes.lazy.map(\.count).max() ?? 0 }

  public static let actionBound: Float = 1 - 1e-5

  /// Builds a dataset from DSRL's arrays. `done[i]` is `terminals[i] || timeouts[i]`: an episode ends
  /// after each such transition; transitions after the last one form a final episode.
  /// Throws a `DatasetError` naming the key at fault.
  public init(
    observationDim: Int, actionDim: Int, observations: [Float], actions: [Float],
    rewards: [Float], costs: [Float], done: [Bool]
  ) throws(DatasetError) {
    let count = rewards.count
    guard count > 0 else { throw DatasetError(key: "rewards", message: "the dataset has no transitions") }
    guard observationDim > 0 else { throw DatasetError(key: "observations", message: "width is 0") }
    guard actionDim > 0 else { throw DatasetError(key: "actions", message: "width is 0") }
    func expect(_ key: String, _ actual: Int, _ expected: Int) throws(DatasetError) {
      guard actual == expected else {
        throw DatasetError(key: key, message: "has \(actual) values, expected \(expected)")
      }
    }
    try expect("observations", observations.count, count * observationDim)
    try expect("actions", actions.count, count * actionDim)
    try expect("costs", costs.count, count)
    try expect("terminals|timeouts", done.count, count)
    for (key, values) in [
      ("observations", observations), ("actions", actions), ("rewards", rewards), ("costs", costs),
    ] {
      if let bad = values.firstIndex(where: { !$0.isFinite }) {
        let row = key == "observations" ? bad / observationDim : key == "actions" ? bad / actionDim : bad
        throw DatasetError(key: key, message: "non-finite value \(values[bad]) at row \(row)")
      }
    }
    let bound = Self.actionBound
    self.observationDim = observationDim
    self.actionDim = actionDim
    self.observations = observations
    self.actions = actions.map { min(max($0, -bound), bound) }
    self.rewards = rewards
    self.costs = costs

    var episodes: [Range<Int>] = []
    var start = 0
    for index in 0..<count where done[index] {
      episodes.append(start..<(index + 1))
      start = index + 1
    }
    if start < count { episodes.append(start..<count) }
    self.episodes = episodes
    self.episodeRewards = episodes.map { range in range.reduce(0.0) { $0 + Double(rewards[$1]) } }
    self.episodeCosts = episodes.map { range in range.reduce(0.0) { $0 + Double(costs[$1]) } }
  }
}

/// A dataset that cannot be used, with the key at fault. The reader adds the file.
public struct DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
  public var file: String?
  public let key: String
  public let message: String

  public init(file: String? = nil, key: String, message: String) {
    self.file = file
    self.key = key
    self.message = message
  }

  public var description: String {
    let place = file.map { "\($0): " } ?? ""
    return "\(place)\(key): \(message)"
  }
}
