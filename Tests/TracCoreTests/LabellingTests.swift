import TracCore
import XCTest

/// A dataset of whole episodes of length `length`, each with constant reward and cost per step.
func episodeDataset(rewards: [Float], costs: [Float], length: Int = 4) -> OfflineDataset {
  let count = rewards.count * length
  return try! OfflineDataset(
    observationDim: 8, actionDim: 2,
    observations: [Float](repeating: 0.5, count: count * 8),
    actions: [Float](repeating: 0.1, count: count * 2),
    rewards: rewards.flatMap { [Float](repeating: $0, count: length) },
    costs: costs.flatMap { [Float](repeating: $0, count: length) },
    done: (0..<count).map { ($0 + 1) % length == 0 })
}

/// One segment per episode, in episode order.
func wholeEpisodeSegments(_ dataset: OfflineDataset) -> SegmentSet {
  SegmentSet(
    length: dataset.maxEpisodeLength, maxEpisodeLength: dataset.maxEpisodeLength,
    starts: dataset.episodes.map { Int32($0.lowerBound) }, dataset: dataset)
}

final class LabellingTests: XCTestCase {
  // Ten episodes of 4 steps. Segment reward sums are 4 * reward, cost sums 4 * cost.
  // Threshold 10 per episode = 10 per whole-episode segment: cost sums 0, 8 are safe; 12, 40 are not.
  let rewards: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  let costs: [Float] = [0, 0, 2, 0, 3, 2, 0, 10, 0, 0]

  func testLabelCountsAndWeightsMatchAHandCount() throws {
    let dataset = episodeDataset(rewards: rewards, costs: costs)
    let labels = try ContrastiveLabels.label(
      wholeEpisodeSegments(dataset), costThreshold: 10, x: 0.5, y: 0.25, beta: 0.7)
    // Safe: episodes 0,1,2,3,5,6,8,9 (8 of them; 4 and 7 have cost sums 12 and 40).
    XCTAssertEqual(labels.safeCount, 8)
    XCTAssertEqual(labels.unsafeCount, 2)
    // Desirable: top ceil(0.5 * 8) = 4 by reward: episodes 5,6,8,9 (rewards 24,28,36,40).
    // Undesirable: bottom ceil(0.25 * 8) = 2: episodes 0,1; plus unsafe 4 and 7. Episodes 2, 3 dropped.
    XCTAssertEqual(labels.segments, [0, 1, 4, 5, 6, 7, 8, 9])
    XCTAssertEqual(labels.labels, [0, 0, 0, 1, 1, 0, 1, 1])
    XCTAssertEqual(labels.desirableCount, 4)
    XCTAssertEqual(labels.undesirableCount, 4)
    // Rmin = 4, Rmax = 40 over the safe segments. w = 0.7 + 0.3 (R - 4) / 36; w_rev = 0.7 + 0.3 (1 - ...).
    let expected: [Float] = [
      0.7 + 0.3 * (1 - 0), 0.7 + 0.3 * (1 - 4.0 / 36), 1, 0.7 + 0.3 * 20.0 / 36, 0.7 + 0.3 * 24.0 / 36, 1,
      0.7 + 0.3 * 32.0 / 36, 1.0,
    ]
    for (actual, wanted) in zip(labels.weights, expected) { XCTAssertEqual(actual, wanted, accuracy: 1e-6) }
  }

  /// The Figure 6 ablation keeps one kind of segment, with the labels and weights TraC gives it.
  func testSegmentSelectionKeepsOneKindWithTheSameWeights() throws {
    let segments = wholeEpisodeSegments(episodeDataset(rewards: rewards, costs: costs))
    func label(_ selection: SegmentSelection, x: Double = 0.5) throws -> ContrastiveLabels {
      try ContrastiveLabels.label(
        segments, costThreshold: 10, x: x, y: 0.25, beta: 0.7, selection: selection)
    }
    let both = try label(.both)
    XCTAssertEqual(try ContrastiveLabels.label(segments, costThreshold: 10, x: 0.5, y: 0.25, beta: 0.7), both)
    func weight(_ labels: ContrastiveLabels, _ segment: Int32) -> Float {
      labels.weights[labels.segments.firstIndex(of: segment)!]
    }

    let desirable = try label(.desirable)
    XCTAssertEqual(desirable.segments, [5, 6, 8, 9])
    XCTAssertEqual(desirable.labels, [1, 1, 1, 1])
    XCTAssertEqual(desirable.desirableCount, 4)
    XCTAssertEqual(desirable.undesirableCount, 0)
    XCTAssertEqual(
      desirable.segments.map { weight(desirable, $0) }, desirable.segments.map { weight(both, $0) })

    let undesirable = try label(.undesirable)
    XCTAssertEqual(undesirable.segments, [0, 1, 4, 7])  // the bottom ceil(0.25 * 8) safe ones and the unsafe
    XCTAssertEqual(undesirable.labels, [0, 0, 0, 0])
    XCTAssertEqual(undesirable.desirableCount, 0)
    XCTAssertEqual(undesirable.undesirableCount, 4)
    XCTAssertEqual(
      undesirable.segments.map { weight(undesirable, $0) }, undesirable.segments.map { weight(both, $0) })
    // The data's counts do not depend on the selection.
    XCTAssertEqual([desirable.safeCount, undesirable.safeCount], [8, 8])
    XCTAssertEqual([desirable.unsafeCount, undesirable.unsafeCount], [2, 2])
    // Undesirable-only needs no desirable segment: x = 0 is fine there, and an error otherwise.
    XCTAssertEqual(try label(.undesirable, x: 0), undesirable)
    XCTAssertThrowsError(try label(.desirable, x: 0)) { error in
      XCTAssertEqual(error as? TracError, .noDesirableSegments(costThreshold: 10))
    }
  }

  func testEachSelectionStopsWithoutTheSegmentsItTrainsOn() throws {
    // Every episode unsafe at threshold 10: nothing desirable, everything undesirable.
    let unsafe = wholeEpisodeSegments(episodeDataset(rewards: [1, 2, 3], costs: [5, 6, 7]))
    for selection in [SegmentSelection.both, .desirable] {
      XCTAssertThrowsError(
        try ContrastiveLabels.label(unsafe, costThreshold: 10, x: 0.5, y: 0, beta: 0.7, selection: selection)
      ) { error in
        XCTAssertEqual("\(error)", "no desirable segments at cost threshold 10")
      }
    }
    let onlyUnsafe = try ContrastiveLabels.label(
      unsafe, costThreshold: 10, x: 0.5, y: 0, beta: 0.7, selection: .undesirable)
    XCTAssertEqual(onlyUnsafe.segments, [0, 1, 2])
    XCTAssertEqual(onlyUnsafe.weights, [1, 1, 1])

    // Every episode safe and y = 0: nothing undesirable.
    let safe = wholeEpisodeSegments(episodeDataset(rewards: [1, 2, 3], costs: [0, 0, 0]))
    XCTAssertEqual(
      try ContrastiveLabels.label(safe, costThreshold: 10, x: 0.5, y: 0, beta: 0.7, selection: .desirable)
        .segments, [1, 2])
    XCTAssertThrowsError(
      try ContrastiveLabels.label(safe, costThreshold: 10, x: 0.5, y: 0, beta: 0.7, selection: .undesirable)
    ) { error in
      XCTAssertEqual(error as? TracError, .noUndesirableSegments(costThreshold: 10))
      XCTAssertTrue("\(error)".hasPrefix("no undesirable segments at cost threshold 10"), "\(error)")
    }
  }

  func testOverlapOfDesirableAndUndesirableMakesTheMiddleUndesirable() throws {
    // Five safe segments, x = y = 0.5: ceil(2.5) = 3 each, so the middle one is in both: undesirable.
    let dataset = episodeDataset(rewards: [1, 2, 3, 4, 5], costs: [0, 0, 0, 0, 0])
    let labels = try ContrastiveLabels.label(
      wholeEpisodeSegments(dataset), costThreshold: 0, x: 0.5, y: 0.5, beta: 0.7)
    XCTAssertEqual(labels.labels, [0, 0, 0, 1, 1])
    XCTAssertEqual(labels.desirableCount, 2)
    XCTAssertEqual(labels.weights[2], 0.7 + 0.3 * 0.5, accuracy: 1e-6)  // w_rev of the middle
  }

  func testEqualRewardsGiveWeightOneAndStableOrder() throws {
    let dataset = episodeDataset(rewards: [3, 3, 3, 3], costs: [0, 0, 0, 0])
    let labels = try ContrastiveLabels.label(
      wholeEpisodeSegments(dataset), costThreshold: 5, x: 0.5, y: 0.25, beta: 0.7)
    // Ties keep segment order: ascending = 0,1,2,3; bottom 1 = {0}, top 2 = {2, 3}.
    XCTAssertEqual(labels.segments, [0, 2, 3])
    XCTAssertEqual(labels.labels, [0, 1, 1])
    XCTAssertEqual(labels.weights, [1, 1, 1])
  }

  func testShareCountsAreExactForDecimalShares() {
    XCTAssertEqual(ContrastiveLabels.shareCount(0.7, of: 10), 7)
    XCTAssertEqual(ContrastiveLabels.shareCount(0.25, of: 7), 2)
    XCTAssertEqual(ContrastiveLabels.shareCount(0.0, of: 7), 0)
    XCTAssertEqual(ContrastiveLabels.shareCount(1.0, of: 7), 7)
    XCTAssertEqual(ContrastiveLabels.shareCount(0.1, of: 3), 1)
  }

  func testNoSafeSegmentIsTheNamedInputError() {
    let dataset = episodeDataset(rewards: [1, 2], costs: [5, 6])
    XCTAssertThrowsError(
      try ContrastiveLabels.label(wholeEpisodeSegments(dataset), costThreshold: 10, x: 0.5, y: 0, beta: 0.7)
    ) { error in
      XCTAssertEqual((error as? TracError)?.description, "no desirable segments at cost threshold 10")
    }
  }

  func testZeroDesirableShareSelectsNone() {
    let dataset = episodeDataset(rewards: [1, 2], costs: [0, 0])
    XCTAssertThrowsError(
      try ContrastiveLabels.label(wholeEpisodeSegments(dataset), costThreshold: 10, x: 0, y: 0.5, beta: 0.7))
  }
}

final class SegmentTests: XCTestCase {
  func testFullLengthSegmentsOnePerLongestEpisode() throws {
    // Episodes of lengths 4, 2, 4, 3: seg_ratio 1 gives L = 4 and one segment per episode of length 4.
    let done = [false, false, false, true, false, true, false, false, false, true, false, false, true]
    let dataset = try OfflineDataset(
      observationDim: 1, actionDim: 1, observations: (0..<13).map(Float.init),
      actions: [Float](repeating: 0, count: 13),
      rewards: [Float](repeating: 1, count: 13), costs: [Float](repeating: 0, count: 13), done: done)
    XCTAssertEqual(dataset.episodes, [0..<4, 4..<6, 6..<10, 10..<13])
    var generator = SeededGenerator(seed: 1)
    let segments = try SegmentSet.sample(
      from: dataset, episodes: [0, 1, 2, 3], segRatio: 1, generator: &generator)
    XCTAssertEqual(segments.length, 4)
    XCTAssertEqual(segments.count, 2)
    XCTAssertTrue(segments.starts.allSatisfy { $0 == 0 || $0 == 6 })
  }

  func testShortSegmentsFollowTheCountFormulaAndFitTheirEpisodes() throws {
    // 20 episodes of length 100; seg_ratio 0.25 gives L = 25 and ((100 - 25) / 6) * 20 = 12 * 20 = 240.
    let count = 2000
    let dataset = try OfflineDataset(
      observationDim: 1, actionDim: 1, observations: [Float](repeating: 0, count: count),
      actions: [Float](repeating: 0, count: count), rewards: [Float](repeating: 1, count: count),
      costs: [Float](repeating: 0, count: count), done: (0..<count).map { ($0 + 1) % 100 == 0 })
    var generator = SeededGenerator(seed: 3)
    let segments = try SegmentSet.sample(
      from: dataset, episodes: Array(0..<20), segRatio: 0.25, generator: &generator)
    XCTAssertEqual(segments.length, 25)
    XCTAssertEqual(segments.count, 240)
    for start in segments.starts { XCTAssertEqual(Int(start) / 100, (Int(start) + 24) / 100) }
    XCTAssertEqual(segments.rewardSums.first, 25)
  }

  func testDatasetRejectsNonFiniteValuesNamingTheKey() {
    XCTAssertThrowsError(
      try OfflineDataset(
        observationDim: 2, actionDim: 1, observations: [0, .nan], actions: [0], rewards: [1], costs: [0],
        done: [true])
    ) { error in
      XCTAssertEqual((error as? DatasetError)?.key, "observations")
    }
  }

  func testActionsAreClipped() throws {
    let dataset = try OfflineDataset(
      observationDim: 1, actionDim: 2, observations: [0], actions: [3, -1], rewards: [1], costs: [0],
      done: [true])
    XCTAssertEqual(dataset.actions, [1 - 1e-5, -(1 - 1e-5)])
  }
}
