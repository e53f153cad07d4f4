/// Trajectory segments of one length `L`, each a window `(episode, start)` into the dataset's arrays:
/// never a copy (docs/ALGORITHM.md section 2).
public struct SegmentSet: Sendable {
  /// `L = floor(maxEpisodeLength * segRatio)`.
  public let length: Int
  public let maxEpisodeLength: Int
  /// Index of each segment's first transition in the dataset.
  public let starts: [Int32]
  /// Undiscounted reward and cost sums of each segment.
  public let rewardSums: [Double]
  public let costSums: [Double]

  public var count: Int { starts.count }

  /// `L = floor(maxEpisodeLength * segRatio)`: the trainer's segment length (0 when the ratio is too
  /// small, which `sample` refuses), and what `trac-sweep plan` prices.
  public static func length(maxEpisodeLength: Int, segRatio: Double) -> Int {
    Int((Double(maxEpisodeLength) * segRatio).rounded(.down))
  }

  public init(length: Int, maxEpisodeLength: Int, starts: [Int32], dataset: OfflineDataset) {
    self.length = length
    self.maxEpisodeLength = maxEpisodeLength
    self.starts = starts
    var rewardSums = [Double](repeating: 0, count: starts.count)
    var costSums = [Double](repeating: 0, count: starts.count)
    for (index, start) in starts.enumerated() {
      var reward = 0.0
      var cost = 0.0
      for transition in Int(start)..<(Int(start) + length) {
        reward += Double(dataset.rewards[transition])
        cost += Double(dataset.costs[transition])
      }
      rewardSums[index] = reward
      costSums[index] = cost
    }
    self.rewardSums = rewardSums
    self.costSums = costSums
  }

  /// Samples segments as docs/ALGORITHM.md section 2 says, from `episodes` (indices into `dataset.episodes`;
  /// BC-Safe passes only the safe ones). `L` and `max_len` always come from the whole dataset.
  ///
  /// - seg_ratio < 1: `((max_len - L) / 6) * n_episodes` segments, capped at 1,000,000;
  /// - seg_ratio == 1: one per episode of length exactly `max_len`.
  /// Each picks an episode uniformly among those at least `L` long, then a start so it fits.
  public static func sample(
    from dataset: OfflineDataset, episodes: [Int], segRatio: Double,
    generator: inout SeededGenerator
  ) throws(TracError) -> SegmentSet {
    let maxLength = dataset.maxEpisodeLength
    let length = length(maxEpisodeLength: maxLength, segRatio: segRatio)
    guard length >= 1 else {
      throw .invalidInput(
        "seg_ratio \(segRatio) of the longest episode (\(maxLength)) gives segments of length 0")
    }
    let count: Int
    if segRatio < 1 {
      count = min(((maxLength - length) / 6) * episodes.count, 1_000_000)
    } else {
      count = episodes.count { dataset.episodes[$0].count == maxLength }
    }
    let eligible = episodes.filter { dataset.episodes[$0].count >= length }
    guard count > 0, !eligible.isEmpty else {
      throw .invalidInput(
        "no segments: none of the \(episodes.count) episodes is \(length) transitions long"
          + " (longest episode \(maxLength), seg_ratio \(segRatio))")
    }
    var starts = [Int32](repeating: 0, count: count)
    for index in 0..<count {
      let episode = dataset.episodes[eligible[generator.uniformInt(below: eligible.count)]]
      let offset = generator.uniformInt(below: episode.count - length + 1)
      starts[index] = Int32(episode.lowerBound + offset)
    }
    return SegmentSet(length: length, maxEpisodeLength: maxLength, starts: starts, dataset: dataset)
  }
}
