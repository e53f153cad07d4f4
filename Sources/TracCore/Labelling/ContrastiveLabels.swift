/// The contrastive dataset (docs/ALGORITHM.md section 3): which segments are desirable (label 1) or
/// undesirable (label 0), and the weight of each.
public struct ContrastiveLabels: Sendable, Equatable {
  /// Indices into the `SegmentSet`, in increasing order.
  public let segments: [Int32]
  /// 1 desirable, 0 undesirable.
  public let labels: [UInt8]
  public let weights: [Float]
  public let safeCount: Int
  public let unsafeCount: Int
  /// Desirable segments kept for training (0 when only the undesirable ones are kept).
  public let desirableCount: Int
  /// Undesirable segments kept for training: the low-reward safe ones and every unsafe one (0 when
  /// only the desirable ones are kept).
  public let undesirableCount: Int

  public var count: Int { segments.count }

  /// Labels segments at episode cost threshold `costThreshold`.
  ///
  /// - A segment is safe when its cost sum is at most `C * L / max_len`.
  /// - Among the safe ones, sorted by reward (stable, so ties keep segment order): the top
  ///   `ceil(x n_safe)` are desirable with weight `w`, the bottom `ceil(y n_safe)` undesirable with
  ///   weight `w_rev`; where the two overlap, undesirable wins. Every unsafe segment is undesirable
  ///   with weight 1. Other safe segments are dropped.
  /// - `w = beta + (1 - beta) (R - Rmin) / (Rmax - Rmin)`, `w_rev = beta + (1 - beta) (1 - ...)`,
  ///   over the safe segments; 1 when `Rmax == Rmin`.
  /// - `selection` keeps both sets (TraC), or only one of them (the paper's Figure 6); the labels
  ///   and weights of the kept segments are the same either way.
  ///
  /// Throws `noDesirableSegments` when a run that trains on desirable segments has none, and
  /// `noUndesirableSegments` when an undesirable-only run has no undesirable segment.
  public static func label(
    _ segments: SegmentSet, costThreshold: Double, x: Double, y: Double, beta: Double,
    selection: SegmentSelection = .both
  ) throws(TracError) -> ContrastiveLabels {
    let segmentThreshold = costThreshold * Double(segments.length) / Double(segments.maxEpisodeLength)
    let safe = (0..<segments.count).filter { segments.costSums[$0] <= segmentThreshold }
    // Ascending by reward; equal rewards keep segment order.
    let ascending = safe.enumerated().sorted { lhs, rhs in
      let (left, right) = (segments.rewardSums[lhs.element], segments.rewardSums[rhs.element])
      return left < right || (left == right && lhs.offset < rhs.offset)
    }.map(\.element)
    let safeCount = safe.count
    let desirableCount = shareCount(x, of: safeCount)
    let lowRewardCount = shareCount(y, of: safeCount)
    let needsDesirable = selection != .undesirable
    if needsDesirable, desirableCount == 0 { throw .noDesirableSegments(costThreshold: costThreshold) }

    let rewardMin = ascending.first.map { segments.rewardSums[$0] } ?? 0
    let rewardMax = ascending.last.map { segments.rewardSums[$0] } ?? 0
    func position(_ segment: Int) -> Double {
      rewardMax == rewardMin ? 1 : (segments.rewardSums[segment] - rewardMin) / (rewardMax - rewardMin)
    }

    // 2 = not chosen, 1 = desirable, 0 = undesirable. Desirable first, then undesirable overrides.
    var label = [UInt8](repeating: 2, count: segments.count)
    var weight = [Float](repeating: 1, count: segments.count)
    for segment in ascending.suffix(desirableCount) {
      label[segment] = 1
      weight[segment] = Float(beta + (1 - beta) * position(segment))
    }
    for segment in ascending.prefix(lowRewardCount) {
      label[segment] = 0
      weight[segment] = rewardMax == rewardMin ? 1 : Float(beta + (1 - beta) * (1 - position(segment)))
    }
    let desirableAfterOverlap = ascending.suffix(desirableCount).count { label[$0] == 1 }
    for segment in 0..<segments.count where segments.costSums[segment] > segmentThreshold {
      label[segment] = 0
      weight[segment] = 1
    }
    if needsDesirable, desirableAfterOverlap == 0 {
      throw .noDesirableSegments(costThreshold: costThreshold)
    }

    let kept: Set<UInt8>
    switch selection {
    case .both: kept = [0, 1]
    case .desirable: kept = [1]
    case .undesirable: kept = [0]
    }
    var chosen: [Int32] = []
    var labels: [UInt8] = []
    var weights: [Float] = []
    for segment in 0..<segments.count where kept.contains(label[segment]) {
      chosen.append(Int32(segment))
      labels.append(label[segment])
      weights.append(weight[segment])
    }
    let desirableKept = labels.count { $0 == 1 }
    if selection == .undesirable, chosen.isEmpty {
      throw .noUndesirableSegments(costThreshold: costThreshold)
    }
    return ContrastiveLabels(
      segments: chosen, labels: labels, weights: weights, safeCount: safeCount,
      unsafeCount: segments.count - safeCount, desirableCount: desirableKept,
      undesirableCount: chosen.count - desirableKept)
  }

  /// Every segment, all with label 1 and weight 1: the training set of the BC baselines.
  public static func all(_ segments: SegmentSet) -> ContrastiveLabels {
    ContrastiveLabels(
      segments: (0..<segments.count).map { Int32($0) },
      labels: [UInt8](repeating: 1, count: segments.count),
      weights: [Float](repeating: 1, count: segments.count), safeCount: segments.count, unsafeCount: 0,
      desirableCount: segments.count, undesirableCount: 0)
  }

  /// `ceil(share * n)`, computed so that a share that is exactly representable in decimal gives
  /// the count a person would (0.7 of 10 is 7, not 8 as `ceil(0.7 * 10.0)` says in binary).
  public static func shareCount(_ share: Double, of count: Int) -> Int {
    let exact = share * Double(count)
    return min(count, Int((exact - 1e-9 * max(1, exact)).rounded(.up)))
  }
}
