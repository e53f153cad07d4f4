import Foundation
import TracCore
import TracTrainer
import XCTest

final class TrainingTests: XCTestCase {
  let task = try! TaskInfo.named("OfflineBallCircle-v0")

  func smallHyperparameters(bcSteps: Int, steps: Int) -> Hyperparameters {
    var values = Hyperparameters()
    values.batchSize = 8
    values.bcSteps = bcSteps
    values.steps = steps
    values.lr = 1e-3
    values.alpha = 1.0
    return values
  }

  /// TraC on a dataset where the desirable behaviour is learnable: the loss falls and the
  /// classification accuracy rises over training.
  func testTraCLossFallsAndAccuracyRises() throws {
    let (dataset, _) = learnableDataset()
    let trainer = try Trainer(
      dataset: dataset, task: task, algorithm: .trac,
      hyperparameters: smallHyperparameters(bcSteps: 300, steps: 12_000),
      costThreshold: 5, seed: 0)
    // 60 segments sampled (with replacement) from 20 good, 20 poor (both safe) and 20 unsafe
    // episodes: the top half of the safe ones are desirable, and with y = 0 the unsafe are the rest.
    XCTAssertEqual(trainer.labels.desirableCount, (trainer.labels.safeCount + 1) / 2)
    XCTAssertEqual(trainer.labels.undesirableCount, trainer.labels.unsafeCount)
    XCTAssertEqual(trainer.labels.safeCount + trainer.labels.unsafeCount, 60)
    var early: [(Double, Double)] = []
    var late: [(Double, Double)] = []
    while trainer.completedSteps < trainer.totalSteps {
      let (loss, accuracy) = trainer.step()
      guard let accuracy else { continue }
      if trainer.completedSteps <= 300 + 200 { early.append((loss, accuracy)) }
      if trainer.completedSteps > trainer.totalSteps - 500 { late.append((loss, accuracy)) }
    }
    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
    let (earlyLoss, earlyAccuracy) = (mean(early.map(\.0)), mean(early.map(\.1)))
    let (lateLoss, lateAccuracy) = (mean(late.map(\.0)), mean(late.map(\.1)))
    XCTAssertLessThan(lateLoss, 0.8 * earlyLoss, "loss \(earlyLoss) -> \(lateLoss)")
    XCTAssertGreaterThan(lateAccuracy, earlyAccuracy + 0.1, "accuracy \(earlyAccuracy) -> \(lateAccuracy)")
  }

  func testBehaviourCloningLossFalls() throws {
    let (dataset, _) = learnableDataset()
    let trainer = try Trainer(
      dataset: dataset, task: task, algorithm: .bcSafe,
      hyperparameters: smallHyperparameters(bcSteps: 0, steps: 400),
      costThreshold: 5, seed: 1)
    // BC-Safe keeps the 40 episodes within the threshold.
    XCTAssertEqual(trainer.segments.count, 40)
    let first = (0..<20).map { _ in trainer.step().loss }.reduce(0, +)
    while trainer.completedSteps < 380 { trainer.step() }
    let last = (0..<20).map { _ in trainer.step().loss }.reduce(0, +)
    XCTAssertLessThan(last, 0.7 * first)
  }

  func testLearningRateWarmsUpAfterTheSwitch() throws {
    let (dataset, _) = learnableDataset(episodes: 30)
    let trainer = try Trainer(
      dataset: dataset, task: task, algorithm: .trac,
      hyperparameters: smallHyperparameters(bcSteps: 2, steps: 5),
      costThreshold: 5, seed: 0)
    XCTAssertEqual(trainer.nextLearningRate, 1e-3)
    trainer.step()
    trainer.step()
    XCTAssertEqual(trainer.phase, .trac)
    XCTAssertEqual(trainer.nextLearningRate, 1e-3 * 0.1 / 10_000, accuracy: 1e-15)
    trainer.step()
    XCTAssertEqual(trainer.nextLearningRate, 1e-3 * 0.1 * 2 / 10_000, accuracy: 1e-15)
    trainer.step()
    trainer.step()
    XCTAssertEqual(trainer.completedSteps, 5)  // exactly `steps` updates, BC included
  }

  /// `warmup_steps` and `trac_lr_scale`: the k-th TraC update uses `lr * scale * min(1, k / W)`,
  /// reaching the full rate at update W and staying there; W = 0 starts at the full rate.
  func testWarmUpLengthAndTraCScaleAreHyperparameters() throws {
    let (dataset, _) = learnableDataset(episodes: 30)
    var values = smallHyperparameters(bcSteps: 1, steps: 6)
    values.warmupSteps = 3
    values.tracLRScale = 0.5
    let trainer = try Trainer(
      dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: 0)
    var rates: [Double] = []
    while trainer.completedSteps < trainer.totalSteps {
      rates.append(trainer.nextLearningRate)
      trainer.step()
    }
    let full = 1e-3 * 0.5
    XCTAssertEqual(rates.count, 6)
    XCTAssertEqual(rates[0], 1e-3)  // BC: lr itself
    for (rate, expected) in zip(rates.dropFirst(), [full / 3, full * 2 / 3, full, full, full]) {
      XCTAssertEqual(rate, expected, accuracy: 1e-15)
    }

    values.warmupSteps = 0
    let noWarmUp = try Trainer(
      dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: 0)
    noWarmUp.step()
    XCTAssertEqual(noWarmUp.phase, .trac)
    XCTAssertEqual(noWarmUp.nextLearningRate, full, accuracy: 1e-15)

    // A shorter warm-up trains a different policy from the same seed.
    values.warmupSteps = 3
    let short = try Trainer(
      dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: 0)
    values.warmupSteps = Hyperparameters.defaultWarmupSteps
    let long = try Trainer(
      dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: 0)
    for _ in 0..<6 {
      short.step()
      long.step()
    }
    XCTAssertNotEqual(short.network.parameters.values, long.network.parameters.values)
  }

  func testNoDesirableSegmentStopsBeforeTraining() throws {
    // Every episode costs 20; at threshold 5 none is safe.
    let count = 200
    let dataset = try OfflineDataset(
      observationDim: 8, actionDim: 2, observations: [Float](repeating: 0, count: count * 8),
      actions: [Float](repeating: 0, count: count * 2), rewards: [Float](repeating: 1, count: count),
      costs: [Float](repeating: 1, count: count), done: (0..<count).map { ($0 + 1) % 20 == 0 })
    XCTAssertThrowsError(
      try Trainer(
        dataset: dataset, task: task, algorithm: .trac,
        hyperparameters: smallHyperparameters(bcSteps: 2, steps: 5),
        costThreshold: 5, seed: 0)
    ) { error in
      XCTAssertEqual("\(error)", "no desirable segments at cost threshold 5")
    }
  }

  /// The Figure 6 ablation: each selection trains on one kind of segment only, in BC and in TraC.
  func testSegmentSelectionChoosesWhatTrains() throws {
    let (dataset, _) = learnableDataset()
    func trainer(_ selection: SegmentSelection, bcSteps: Int = 2, steps: Int = 5) throws -> Trainer {
      var values = smallHyperparameters(bcSteps: bcSteps, steps: steps)
      values.segments = selection
      return try Trainer(
        dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: 0)
    }
    let both = try trainer(.both).labels
    let desirable = try trainer(.desirable).labels
    let undesirable = try trainer(.undesirable).labels
    XCTAssertEqual(desirable.labels, [UInt8](repeating: 1, count: both.desirableCount))
    XCTAssertEqual(desirable.segments, zip(both.segments, both.labels).filter { $0.1 == 1 }.map(\.0))
    XCTAssertEqual(undesirable.labels, [UInt8](repeating: 0, count: both.undesirableCount))
    XCTAssertEqual(undesirable.segments, zip(both.segments, both.labels).filter { $0.1 == 0 }.map(\.0))
    XCTAssertGreaterThan(desirable.count, 0)
    XCTAssertGreaterThan(undesirable.count, 0)

    // Undesirable-only TraC learns (lambda_U = 1, not eta * 0 / n = 0): its loss is positive and falls
    // as the policy moves away from the undesirable actions.
    let undesirableOnly = try trainer(.undesirable, bcSteps: 100, steps: 1100)
    var tracLosses: [Double] = []
    while undesirableOnly.completedSteps < undesirableOnly.totalSteps {
      let (loss, accuracy) = undesirableOnly.step()
      if accuracy != nil { tracLosses.append(loss) }
    }
    XCTAssertEqual(tracLosses.count, 1000)
    XCTAssertTrue(tracLosses.allSatisfy { $0 > 0 })
    let early = tracLosses.prefix(100).reduce(0, +)
    let late = tracLosses.suffix(100).reduce(0, +)
    XCTAssertLessThan(late, 0.8 * early, "loss \(early / 100) -> \(late / 100)")
  }

  func testUndesirableOnlyWithoutUndesirableSegmentsStopsBeforeTraining() throws {
    // Every episode is safe at threshold 5, and y = 0: no segment is undesirable.
    let count = 200
    let dataset = try OfflineDataset(
      observationDim: 8, actionDim: 2, observations: [Float](repeating: 0, count: count * 8),
      actions: [Float](repeating: 0, count: count * 2), rewards: (0..<count).map { Float($0 % 7) },
      costs: [Float](repeating: 0, count: count), done: (0..<count).map { ($0 + 1) % 20 == 0 })
    var values = smallHyperparameters(bcSteps: 2, steps: 5)
    values.segments = .undesirable
    XCTAssertThrowsError(
      try Trainer(
        dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: 0)
    ) { error in
      XCTAssertEqual(error as? TracError, .noUndesirableSegments(costThreshold: 5))
    }
    // The same data trains with both kinds or with the desirable ones.
    values.segments = .desirable
    XCTAssertNoThrow(
      try Trainer(
        dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: 0))
  }

  func testSameSeedGivesBitIdenticalPolicies() throws {
    let (dataset, _) = learnableDataset(episodes: 30)
    func train(seed: UInt64) throws -> [Float] {
      let trainer = try Trainer(
        dataset: dataset, task: task, algorithm: .trac,
        hyperparameters: smallHyperparameters(bcSteps: 20, steps: 40),
        costThreshold: 5, seed: seed)
      while trainer.completedSteps < trainer.totalSteps { trainer.step() }
      return trainer.network.parameters.values
    }
    let first = try train(seed: 3)
    XCTAssertEqual(first, try train(seed: 3))
    XCTAssertNotEqual(first, try train(seed: 4))
  }
}
