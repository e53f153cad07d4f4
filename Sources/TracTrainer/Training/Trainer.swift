import Foundation
import TracCore

/// One training run, start to finish in memory: segments, labels, BC, then TraC (docs/ALGORITHM.md).
///
/// Everything random draws from its own stream of the run's seed, and OpenBLAS with one thread is
/// deterministic, so the same inputs give a bit-identical policy.
public final class Trainer {
  public let task: TaskInfo
  public let algorithm: Algorithm
  public let hyperparameters: Hyperparameters
  public let costThreshold: Double
  public let dataset: OfflineDataset
  public let segments: SegmentSet
  public let labels: ContrastiveLabels
  /// How batches are cut (docs/ALGORITHM.md section 5).
  public let batching: Batching
  public let network: PolicyNetwork
  public var shape: PolicyShape { network.shape }

  private let optimizer: Adam
  private var batches: BatchStream
  private let batchSize: Int
  /// The segments of the batch the last step drew: `batchSize`, except at the end of an epoch with
  /// `epochs` batching.
  private var currentBatch: Int
  private let segmentLength: Int
  /// Segments that go forward and backward together: the loss is a sum over segments, so a batch
  /// can be processed a chunk at a time while its activations are still in cache.
  private let segmentsPerChunk: Int
  /// Rows (transitions) a chunk aims at: 2048 rows of 256 floats is 2 MiB an activation buffer.
  static let chunkRows = 2048
  /// The batch's indices into `labels`.
  private let batch: UnsafeMutableBufferPointer<Int32>
  /// [chunk rows, A] the dataset's actions of the chunk.
  private let targetActions: UnsafeMutablePointer<Float>
  /// Per labelled segment: `sum_t gamma^t log pi_ref(a_t|s_t)`, fixed at the switch.
  private var referenceTerms: [Double]
  /// TraC's segment score, `alpha * (sum_t gamma^t log pi(a_t|s_t) - ref)`.
  private let score: SegmentScore
  /// (B) the batch's labels and weights, and in TraC its scores and dLoss/dscore.
  private let batchLabels: UnsafeMutableBufferPointer<UInt8>
  private let batchWeights: UnsafeMutableBufferPointer<Float>
  private let batchScores: UnsafeMutableBufferPointer<Double>
  private let batchScoreGradients: UnsafeMutableBufferPointer<Double>

  public private(set) var completedSteps = 0
  /// TraC updates made so far (k of the warm-up).
  public private(set) var tracUpdates = 0

  public var phase: TrainingPhase {
    algorithm == .trac && completedSteps >= hyperparameters.bcSteps ? .trac : .bc
  }

  /// Labels the data and builds the network. Throws `TracError` for inputs no retry can fix
  /// (bad hyperparameters, no segments, no desirable segment, or no undesirable segment for a run
  /// that trains on those only). `segments` other than `both` keeps one kind of labelled segment,
  /// and BC and TraC both train on what is kept.
  public init(
    dataset: OfflineDataset, task: TaskInfo, algorithm: Algorithm, hyperparameters: Hyperparameters,
    costThreshold: Double, seed: UInt64, batching: Batching = .full
  ) throws(TracError) {
    try hyperparameters.validate(algorithm: algorithm)
    guard costThreshold.isFinite, costThreshold >= 0 else {
      throw .invalidHyperparameter(
        option: "--cost-threshold", message: "must be at least 0, got \(costThreshold)")
    }
    guard dataset.observationDim == task.observationDim, dataset.actionDim == task.actionDim else {
      throw .invalidInput(
        "the dataset has observations of width \(dataset.observationDim) and actions of width"
          + " \(dataset.actionDim), but \(task.dsrlID) has \(task.observationDim) and \(task.actionDim)")
    }
    self.task = task
    self.algorithm = algorithm
    self.hyperparameters = hyperparameters
    self.costThreshold = costThreshold
    self.dataset = dataset

    var segmentGenerator = SeededGenerator(seed: seed, stream: "segments")
    var episodes = Array(dataset.episodes.indices)
    if algorithm == .bcSafe {
      episodes = episodes.filter { dataset.episodeCosts[$0] <= costThreshold }
      guard !episodes.isEmpty else {
        throw .invalidInput(
          "no episode has a cost within the threshold \(formatNumber(costThreshold)) (bc_safe)")
      }
    }
    segments = try SegmentSet.sample(
      from: dataset, episodes: episodes, segRatio: hyperparameters.segRatio, generator: &segmentGenerator)
    switch algorithm {
    case .trac:
      labels = try ContrastiveLabels.label(
        segments, costThreshold: costThreshold, x: hyperparameters.x, y: hyperparameters.y,
        beta: hyperparameters.beta, selection: hyperparameters.segments)
    case .bcAll, .bcSafe:
      labels = ContrastiveLabels.all(segments)
    }

    batchSize = hyperparameters.batchSize
    currentBatch = batchSize
    segmentLength = segments.length
    let shape = PolicyShape(observationDim: dataset.observationDim, actionDim: dataset.actionDim)
    segmentsPerChunk = max(1, min(batchSize, Self.chunkRows / segmentLength))
    network = PolicyNetwork(
      shape: shape, capacity: segmentsPerChunk * segmentLength,
      dropoutGenerator: SeededGenerator(seed: seed, stream: "dropout"))
    var initGenerator = SeededGenerator(seed: seed, stream: "init")
    network.parameters.initializeOrthogonal(generator: &initGenerator)
    optimizer = Adam(shape: shape)
    self.batching = batching
    batches = BatchStream(
      count: labels.count, generator: SeededGenerator(seed: seed, stream: "batches"), batching: batching,
      batchSize: hyperparameters.batchSize)
    batch = .allocate(capacity: batchSize)
    targetActions = .allocate(capacity: segmentsPerChunk * segmentLength * shape.actionDim)
    referenceTerms = [Double](repeating: 0, count: labels.count)
    score = SegmentScore(
      alpha: hyperparameters.alpha, gamma: hyperparameters.gamma, length: segmentLength,
      actionDim: shape.actionDim)
    batchLabels = .allocate(capacity: batchSize)
    batchWeights = .allocate(capacity: batchSize)
    batchScores = .allocate(capacity: batchSize)
    batchScoreGradients = .allocate(capacity: batchSize)
  }

  deinit {
    batch.deallocate()
    targetActions.deallocate()
    batchLabels.deallocate()
    batchWeights.deallocate()
    batchScores.deallocate()
    batchScoreGradients.deallocate()
  }

  /// Whether the switch to TraC has happened (it happens in the first TraC step).
  var hasSwitched: Bool { algorithm == .trac && tracUpdates > 0 }
  var optimizerState: (firstMoment: [Float], secondMoment: [Float], steps: Int) { optimizer.state }
  var batchStreamState: (generator: SeededGenerator, permutation: [Int32], position: Int) { batches.state }
  var referenceTermValues: [Double] { referenceTerms }
  /// The labelled segments (indices into `labels`) of the batch the last step drew.
  public var lastBatch: [Int32] { Array(batch.prefix(currentBatch)) }

  /// Sets the counters, optimizer, streams and cached reference of a checked state (the weights
  /// are set by the caller, `restore`).
  func restoreInternals(
    _ state: TrainerState, batchGenerator: SeededGenerator, dropoutGenerator: SeededGenerator
  ) {
    completedSteps = state.completedSteps
    tracUpdates = state.tracUpdates
    optimizer.restore(
      firstMoment: state.adamFirstMoment, secondMoment: state.adamSecondMoment, steps: state.adamSteps)
    batches.restore(
      generator: batchGenerator, permutation: state.batchPermutation, position: state.batchPosition)
    network.dropoutGenerator = dropoutGenerator
    referenceTerms = state.referenceTerms ?? [Double](repeating: 0, count: labels.count)
  }

  /// The learning rate of the next update: `lr` in BC; in TraC `lr * trac_lr_scale * min(1, k /
  /// warmup_steps)` for the k-th TraC update (k = 1, 2, ...), or `lr * trac_lr_scale` with no warm-up.
  public var nextLearningRate: Double {
    if phase == .bc { return hyperparameters.lr }
    let full = hyperparameters.lr * hyperparameters.tracLRScale
    guard hyperparameters.warmupSteps > 0 else { return full }
    return full * min(1, Double(tracUpdates + 1) / Double(hyperparameters.warmupSteps))
  }

  /// Makes one update and returns its loss and (TraC only) accuracy.
  @discardableResult
  public func step() -> (loss: Double, accuracy: Double?) {
    precondition(completedSteps < totalSteps, "training is complete")
    if algorithm == .trac, completedSteps == hyperparameters.bcSteps, tracUpdates == 0 {
      switchToTraC()
    }
    let learningRate = nextLearningRate
    drawNextBatch()
    let result = computeLossAndGradients()
    if phase == .trac { tracUpdates += 1 }
    optimizer.step(parameters: network.parameters, gradients: network.gradients, learningRate: learningRate)
    completedSteps += 1
    return result
  }

  /// The loss of the batch the last `step` drew, in the current phase, and its gradient with respect
  /// to every parameter (into `network.gradients`): what a step computes before the optimizer moves.
  /// Dropout draws its masks from `network.dropoutGenerator`, so a caller that resets the generator
  /// evaluates the same function again, as a finite-difference check of the gradient does.
  public func lossAndGradients() -> (loss: Double, accuracy: Double?) {
    precondition(completedSteps > 0, "no batch drawn yet")
    precondition(phase == .bc || hasSwitched, "the switch to TraC happens in the first TraC step")
    return computeLossAndGradients()
  }

  private func computeLossAndGradients() -> (loss: Double, accuracy: Double?) {
    if phase == .bc { return (behaviourCloningLossAndGradients(), nil) }
    let (loss, accuracy) = tracLossAndGradients()
    return (loss, accuracy)
  }

  public var totalSteps: Int { hyperparameters.steps }

  /// Draws the next batch: its indices into the labelled set, labels and weights.
  private func drawNextBatch() {
    currentBatch = batches.next(into: batch)
    for slot in 0..<currentBatch {
      let labelled = Int(batch[slot])
      batchLabels[slot] = labels.labels[labelled]
      batchWeights[slot] = labels.weights[labelled]
    }
  }

  /// Copies the observations of batch slots `slots` into the network's input and their actions
  /// into `targetActions`; segments are windows of the dataset, so this is the only copy.
  private func gather(_ slots: Range<Int>) {
    let (observationDim, actionDim, length) = (shape.observationDim, shape.actionDim, segmentLength)
    dataset.observations.withUnsafeBufferPointer { observations in
      dataset.actions.withUnsafeBufferPointer { actions in
        for (row, slot) in slots.enumerated() {
          let start = Int(segments.starts[Int(labels.segments[Int(batch[slot])])])
          (network.input + row * length * observationDim).update(
            from: observations.baseAddress! + start * observationDim, count: length * observationDim)
          (targetActions + row * length * actionDim).update(
            from: actions.baseAddress! + start * actionDim, count: length * actionDim)
        }
      }
    }
  }

  /// The batch's slots in chunks of `segmentsPerChunk`.
  private var chunks: StrideTo<Int> { stride(from: 0, to: currentBatch, by: segmentsPerChunk) }

  /// BC: `mean over the batch's transitions of ||mu(s) - a||^2`, a chunk at a time.
  private func behaviourCloningLossAndGradients() -> Double {
    let totalRows = currentBatch * segmentLength
    var loss = 0.0
    for first in chunks {
      let slots = first..<min(first + segmentsPerChunk, currentBatch)
      let rows = slots.count * segmentLength
      gather(slots)
      network.forward(rows: rows, dropout: true)
      loss += BehaviourCloningLoss.forwardBackward(
        mu: network.output, actions: targetActions, rows: rows, actionDim: shape.actionDim,
        meanOver: totalRows, muGradient: network.outputGradient)
      network.backward(rows: rows, accumulate: first > 0)
    }
    return loss
  }

  /// TraC, a chunk of segments at a time: parameters -> mu -> segment scores -> loss, and back.
  /// A segment's dLoss/dscore depends on the rest of the batch only through lambda_0, so each
  /// chunk goes backward while its activations are still in the network's buffers.
  private func tracLossAndGradients() -> (Double, Double) {
    let (actionDim, length) = (shape.actionDim, segmentLength)
    let loss = TracLoss(
      labels: batchLabels.baseAddress!, count: currentBatch, eta: hyperparameters.eta,
      selection: hyperparameters.segments)
    for first in chunks {
      let slots = first..<min(first + segmentsPerChunk, currentBatch)
      gather(slots)
      network.forward(rows: slots.count * length, dropout: true)
      for (row, slot) in slots.enumerated() {
        let offset = row * length * actionDim
        batchScores[slot] = score.forward(
          mu: network.output + offset, actions: targetActions + offset,
          reference: referenceTerms[Int(batch[slot])])
      }
      loss.backward(
        scores: batchScores.baseAddress! + first, labels: batchLabels.baseAddress! + first,
        weights: batchWeights.baseAddress! + first, count: slots.count,
        scoreGradients: batchScoreGradients.baseAddress! + first)
      for (row, slot) in slots.enumerated() {
        let offset = row * length * actionDim
        score.backward(
          scoreGradient: batchScoreGradients[slot], mu: network.output + offset,
          actions: targetActions + offset, muGradient: network.outputGradient + offset)
      }
      network.backward(rows: slots.count * length, accumulate: first > 0)
    }
    return loss.forward(
      scores: batchScores.baseAddress!, labels: batchLabels.baseAddress!, weights: batchWeights.baseAddress!)
  }

  /// The switch (docs/ALGORITHM.md section 6): the current policy becomes the frozen reference. Its
  /// log-probabilities never change, so each labelled segment's discounted sum is computed once
  /// here (dropout off). With no BC phase or a uniform reference, log pi_ref is the constant 0.
  private func switchToTraC() {
    optimizer.reset()
    guard hyperparameters.bcSteps > 0, hyperparameters.reference == .bc else { return }
    let (observationDim, actionDim, length) = (shape.observationDim, shape.actionDim, segmentLength)
    var first = 0
    while first < labels.count {
      let chunk = min(segmentsPerChunk, labels.count - first)
      for slot in 0..<chunk {
        let start = Int(segments.starts[Int(labels.segments[first + slot])])
        dataset.observations.withUnsafeBufferPointer {
          (network.input + slot * length * observationDim).update(
            from: $0.baseAddress! + start * observationDim, count: length * observationDim)
        }
      }
      network.forward(rows: chunk * length, dropout: false)
      dataset.actions.withUnsafeBufferPointer { actions in
        for slot in 0..<chunk {
          let start = Int(segments.starts[Int(labels.segments[first + slot])])
          referenceTerms[first + slot] = score.logLikelihood(
            mu: network.output + slot * length * actionDim, actions: actions.baseAddress! + start * actionDim)
        }
      }
      first += chunk
    }
  }
}
