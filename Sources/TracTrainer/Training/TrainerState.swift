import TracCore

/// Everything the rest of a run depends on, at a step between two updates: the weights, the
/// optimizer, the step and warm-up counters, and every random stream that is still drawn from.
/// (The `segments` and `init` streams are used up before the first step; the labelled segments are
/// recomputed from the run's inputs.) A trainer restored from it makes exactly the updates the
/// trainer it was saved from would have made.
public struct TrainerState: Equatable, Sendable {
  /// Updates made so far, BC included.
  public var completedSteps: Int
  /// TraC updates made so far: the k of the learning-rate warm-up.
  public var tracUpdates: Int
  /// The policy's weights, in the flat buffer's order (PolicyShape.tensors).
  public var parameters: [Float]
  /// The optimizer of the current phase (BC's before the switch, TraC's fresh one after it).
  public var adamFirstMoment: [Float]
  public var adamSecondMoment: [Float]
  public var adamSteps: Int
  /// The batch stream: its generator, the permutation being cut into batches and the position in it.
  public var batchGenerator: [UInt64]
  public var batchPermutation: [Int32]
  public var batchPosition: Int
  /// The dropout masks' generator.
  public var dropoutGenerator: [UInt64]
  /// Per labelled segment, `sum_t gamma^t log pi_ref(a_t|s_t)`: the reference policy, as cached at
  /// the switch. Nil before the switch.
  public var referenceTerms: [Double]?

  public init(
    completedSteps: Int, tracUpdates: Int, parameters: [Float], adamFirstMoment: [Float],
    adamSecondMoment: [Float], adamSteps: Int, batchGenerator: [UInt64], batchPermutation: [Int32],
    batchPosition: Int, dropoutGenerator: [UInt64], referenceTerms: [Double]?
  ) {
    self.completedSteps = completedSteps
    self.tracUpdates = tracUpdates
    self.parameters = parameters
    self.adamFirstMoment = adamFirstMoment
    self.adamSecondMoment = adamSecondMoment
    self.adamSteps = adamSteps
    self.batchGenerator = batchGenerator
    self.batchPermutation = batchPermutation
    self.batchPosition = batchPosition
    self.dropoutGenerator = dropoutGenerator
    self.referenceTerms = referenceTerms
  }
}

/// A saved state that does not fit the trainer it is restored into.
public struct TrainerStateMismatch: Error, CustomStringConvertible, Sendable {
  public let reason: String
  public var description: String { reason }
}

extension Trainer {
  /// The trainer's state now, for a checkpoint.
  public func saveState() -> TrainerState {
    let adam = optimizerState
    let batches = batchStreamState
    return TrainerState(
      completedSteps: completedSteps, tracUpdates: tracUpdates, parameters: network.parameters.values,
      adamFirstMoment: adam.firstMoment, adamSecondMoment: adam.secondMoment, adamSteps: adam.steps,
      batchGenerator: batches.generator.stateWords, batchPermutation: batches.permutation,
      batchPosition: batches.position, dropoutGenerator: network.dropoutGenerator.stateWords,
      referenceTerms: hasSwitched ? referenceTermValues : nil)
  }

  /// Continues from `state`. Everything is checked before anything changes: a state of other data,
  /// another network shape or an impossible step leaves the trainer as it was.
  public func restore(_ state: TrainerState) throws(TrainerStateMismatch) {
    func require(_ ok: Bool, _ reason: @autoclosure () -> String) throws(TrainerStateMismatch) {
      if !ok { throw TrainerStateMismatch(reason: reason()) }
    }
    let parameterCount = shape.parameterCount
    try require(
      state.parameters.count == parameterCount && state.adamFirstMoment.count == parameterCount
        && state.adamSecondMoment.count == parameterCount,
      "it holds \(state.parameters.count) weights, but this run's policy has \(parameterCount)")
    try require(
      (0...totalSteps).contains(state.completedSteps),
      "it is at step \(state.completedSteps), outside this run's 0...\(totalSteps)")
    let expectedTraCUpdates = algorithm == .trac ? max(0, state.completedSteps - hyperparameters.bcSteps) : 0
    try require(
      state.tracUpdates == expectedTraCUpdates,
      "it counts \(state.tracUpdates) TraC updates at step \(state.completedSteps), expected \(expectedTraCUpdates)"
    )
    try require(
      state.adamSteps >= 0 && state.adamSteps <= state.completedSteps,
      "its optimizer step count is impossible")
    let labelled = labels.count
    let permutations = BatchStream.permutationsPerPass(batching)
    try require(
      state.batchPermutation.count == labelled * permutations,
      "its batch stream is over \(state.batchPermutation.count / permutations) labelled segments, but this run "
        + "has \(labelled)"
    )
    let end = BatchStream.end(count: labelled, batching: batching, batchSize: hyperparameters.batchSize)
    try require((0...end).contains(state.batchPosition), "its batch position is out of range")
    // A used-up pass (position at the end, as before the first batch) is never read again.
    if state.batchPosition < end {
      for part in 0..<permutations {
        var seen = [Bool](repeating: false, count: labelled)
        for index in state.batchPermutation[part * labelled..<(part + 1) * labelled] {
          try require(
            (0..<Int32(labelled)).contains(index) && !seen[Int(index)], "its batch permutation is not one")
          seen[Int(index)] = true
        }
      }
    }
    let batchGenerator = SeededGenerator(stateWords: state.batchGenerator)
    let dropoutGenerator = SeededGenerator(stateWords: state.dropoutGenerator)
    try require(batchGenerator != nil && dropoutGenerator != nil, "a random stream's state is invalid")
    let switched = state.tracUpdates > 0
    try require(
      (state.referenceTerms != nil) == switched,
      switched
        ? "it is past the switch but holds no reference policy"
        : "it holds a reference policy before the switch")
    if let terms = state.referenceTerms {
      try require(
        terms.count == labelled && terms.allSatisfy(\.isFinite),
        "its reference policy covers \(terms.count) segments, but this run has \(labelled)")
    }
    try require(state.parameters.allSatisfy(\.isFinite), "its weights are not all finite")

    for tensor in shape.tensors {
      network.parameters.setValues(
        Array(state.parameters[tensor.offset..<(tensor.offset + tensor.count)]), of: tensor)
    }
    restoreInternals(
      state, batchGenerator: batchGenerator!, dropoutGenerator: dropoutGenerator!)
  }
}
