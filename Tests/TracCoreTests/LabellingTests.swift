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
