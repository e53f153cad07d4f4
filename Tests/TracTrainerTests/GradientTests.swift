import TracCore
import TracTrainer
import XCTest

/// The hand-written backward pass against central finite differences, for every parameter tensor,
/// with dropout on (the same masks replayed for every evaluation) and off.
final class GradientTests: XCTestCase {
  func testBackwardMatchesFiniteDifferencesForEveryTensor() {
    for dropout in [false, true] {
      checkGradients(dropout: dropout)
    }
  }

  private func checkGradients(dropout: Bool) {
    let shape = PolicyShape(observationDim: 5, actionDim: 3)
    let rows = 7
    let network = PolicyNetwork(
      shape: shape, capacity: rows, dropoutGenerator: SeededGenerator(seed: 9, stream: "dropout"))
    var generator = SeededGenerator(seed: 4)
    network.parameters.initializeOrthogonal(generator: &generator)
    // Non-zero biases so that every path is exercised.
    for index in 0..<shape.parameterCount where index % 5 == 0 {
      network.parameters.pointer[index] += Float(generator.gaussian() * 0.05)
    }
    for index in 0..<(rows * shape.observationDim) { network.input[index] = Float(generator.gaussian()) }
    // A scalar loss: L = sum over outputs of c[i] * output[i], so dL/doutput = c.
    let coefficients = (0..<(rows * shape.actionDim)).map { _ in generator.gaussian() }
    let masks = network.dropoutGenerator
    func loss() -> Double {
      network.dropoutGenerator = masks
      network.forward(rows: rows, dropout: dropout)
      return (0..<coefficients.count).reduce(0.0) { $0 + coefficients[$1] * Double(network.output[$1]) }
    }
    _ = loss()
    for index in coefficients.indices { network.outputGradient[index] = Float(coefficients[index]) }
    network.backward(rows: rows)
    assertMatchesFiniteDifferences(
      network.gradients.values, of: loss, parameters: network.parameters, "dropout \(dropout)")
    // The pass actually dropped units when asked: the dropout forward differs from the clean one.
    if dropout {
      network.forward(rows: rows, dropout: false)
      let clean = (0..<coefficients.count).map { network.output[$0] }
      _ = loss()
      XCTAssertNotEqual(clean, (0..<coefficients.count).map { network.output[$0] })
    }
  }

  func testEvaluationForwardIsTheDesignFormula() {
    // action = tanh(W2 relu(W1 relu(W0 s + b0) + b1) + b2), computed here by hand in Double.
    let shape = PolicyShape(observationDim: 3, actionDim: 2)
    let network = PolicyNetwork(shape: shape, capacity: 2, dropoutGenerator: SeededGenerator(seed: 1))
    var generator = SeededGenerator(seed: 2)
    network.parameters.initializeOrthogonal(generator: &generator)
    for index in 0..<shape.parameterCount where index % 3 == 0 {
      network.parameters.pointer[index] += Float(generator.gaussian() * 0.1)
    }
    let observation: [Float] = [0.3, -1.2, 0.8]
    for (index, value) in observation.enumerated() { network.input[index] = value }
    network.forward(rows: 1, dropout: false)
    let p = network.parameters
    let h = shape.hidden
    let layer0 = (0..<h).map { unit in
      max(
        0, (0..<3).reduce(Double(p.b0[unit])) { $0 + Double(p.w0[unit * 3 + $1]) * Double(observation[$1]) })
    }
    let layer1 = (0..<h).map { unit in
      max(0, (0..<h).reduce(Double(p.b1[unit])) { $0 + Double(p.w1[unit * h + $1]) * layer0[$1] })
    }
    for action in 0..<2 {
      let expected = tanh(
        (0..<h).reduce(Double(p.b2[action])) { $0 + Double(p.w2[action * h + $1]) * layer1[$1] })
      XCTAssertEqual(Double(network.output[action]), expected, accuracy: 1e-5)
    }
  }

  func testOrthogonalInitialisationIsOrthonormal() {
    let shape = PolicyShape(observationDim: 8, actionDim: 2)
    let parameters = ParameterBuffer(shape: shape)
    var generator = SeededGenerator(seed: 0)
    parameters.initializeOrthogonal(generator: &generator)
    // W0 [256, 8]: its 8 columns are orthonormal. W2 [2, 256]: its 2 rows are.
    let w0 = parameters.w0
    for a in 0..<8 {
      for b in 0..<8 {
        let dot = (0..<256).reduce(0.0) { $0 + Double(w0[$1 * 8 + a]) * Double(w0[$1 * 8 + b]) }
        XCTAssertEqual(dot, a == b ? 1 : 0, accuracy: 1e-5)
      }
    }
    let w2 = parameters.w2
    let cross = (0..<256).reduce(0.0) { $0 + Double(w2[$1]) * Double(w2[256 + $1]) }
    XCTAssertEqual(cross, 0, accuracy: 1e-5)
    XCTAssertEqual(parameters.values(of: shape.tensors[1]), [Float](repeating: 0, count: 256))
  }
}

/// Checks `analytic`, the gradient of `loss` with respect to every parameter, against central finite
/// differences: per tensor, the `largest` entries by gradient and `spread` others across the tensor.
/// `loss` must be a deterministic function of `parameters` (dropout masks replayed).
func assertMatchesFiniteDifferences(
  _ analytic: [Float], of loss: () -> Double, parameters: ParameterBuffer, largest: Int = 12, spread: Int = 8,
  _ message: String, file: StaticString = #filePath, line: UInt = #line
) {
  for tensor in parameters.shape.tensors {
    let entries = (0..<tensor.count).sorted {
      abs(analytic[tensor.offset + $0]) > abs(analytic[tensor.offset + $1])
    }
    var checked = 0
    var skipped = 0
    for entry in entries.prefix(largest)
      + stride(from: 0, to: tensor.count, by: max(1, tensor.count / spread))
    {
      let index = tensor.offset + entry
      let original = parameters.pointer[index]
      func centralDifference(_ step: Float) -> Double {
        parameters.pointer[index] = original + step
        let plus = loss()
        parameters.pointer[index] = original - step
        let minus = loss()
        parameters.pointer[index] = original
        return (plus - minus) / Double(2 * step)
      }
      let numeric = centralDifference(1e-3)
      let tolerance = 1e-3 + 1e-2 * abs(numeric)
      // A ReLU kink inside the step makes the difference quotient depend on the step: skip those.
      if abs(centralDifference(5e-4) - numeric) > tolerance {
        skipped += 1
        continue
      }
      XCTAssertEqual(
        Double(analytic[index]), numeric, accuracy: tolerance, "\(tensor.name)[\(entry)] \(message)",
        file: file, line: line)
      checked += 1
    }
    XCTAssertGreaterThan(
      checked, 4 * skipped, "\(tensor.name): too many entries near a kink", file: file, line: line)
  }
}

/// The whole chain a training step differentiates, through `Trainer`: parameters -> actions ->
/// segment scores against the reference terms -> TraC loss (or BC's loss), over a batch that goes
/// through the network in two chunks, with dropout on and its masks replayed.
final class TrainerGradientTests: XCTestCase {
  /// 30 episodes of 100 steps: segments of 100 transitions, 20 to a chunk, so a batch of 24 is two chunks.
  func trainer(bcSteps: Int) throws -> Trainer {
    let (dataset, _) = learnableDataset(episodes: 30, length: 100)
    var values = Hyperparameters()
    values.batchSize = 24
    values.bcSteps = bcSteps
    values.steps = 10
    values.lr = 1e-3
    values.alpha = 0.5
    values.warmupSteps = 0
    values.tracLRScale = 1
    return try Trainer(
      dataset: dataset, task: TaskInfo.named("OfflineBallCircle-v0"), algorithm: .trac,
      hyperparameters: values, costThreshold: 5, seed: 3)
  }

  func checkStepGradient(_ trainer: Trainer, _ message: String) {
    let masks = trainer.network.dropoutGenerator
    func loss() -> Double {
      trainer.network.dropoutGenerator = masks
      return trainer.lossAndGradients().loss
    }
    _ = loss()
    let analytic = trainer.network.gradients.values
    assertMatchesFiniteDifferences(
      analytic, of: loss, parameters: trainer.network.parameters, largest: 4, spread: 4, message)
  }

  func testTraCLossGradientMatchesFiniteDifferences() throws {
    let trainer = try trainer(bcSteps: 3)
    // Past the switch, with a BC reference, and a few TraC updates away from it.
    for _ in 0..<6 { trainer.step() }
    XCTAssertEqual(trainer.phase, .trac)
    checkStepGradient(trainer, "trac")
  }

  func testBehaviourCloningLossGradientMatchesFiniteDifferences() throws {
    let trainer = try trainer(bcSteps: 10)
    trainer.step()
    XCTAssertEqual(trainer.phase, .bc)
    checkStepGradient(trainer, "bc")
  }
}

final class LossTests: XCTestCase {
  /// `TracLoss` over a whole batch: the loss, the accuracy and dLoss/dscore.
  func trac(
    _ scores: [Double], labels: [UInt8], weights: [Float], eta: Double, selection: SegmentSelection = .both
  ) -> (loss: Double, accuracy: Double, gradients: [Double]) {
    let loss = TracLoss(labels: labels, count: scores.count, eta: eta, selection: selection)
    let (value, accuracy) = loss.forward(scores: scores, labels: labels, weights: weights)
    var gradients = [Double](repeating: .nan, count: scores.count)
    loss.backward(
      scores: scores, labels: labels, weights: weights, count: scores.count, scoreGradients: &gradients)
    return (value, accuracy, gradients)
  }

  /// The TraC loss of a hand-made batch against the formula of docs/ALGORITHM.md section 6, computed here.
  func testTraCLossMatchesTheFormula() {
    let scores: [Double] = [0.8, -0.3, 2.5, -1.7, 0.1, 20]
    let labels: [UInt8] = [1, 0, 1, 0, 0, 0]
    let weights: [Float] = [0.9, 1.0, 0.75, 0.8, 1.0, 1.0]
    let eta = 0.25
    // lambda_D = 1, lambda_U = eta * 2 / 4.
    let lambdaU = eta * 2.0 / 4.0
    var expected = 0.0
    for index in scores.indices {
      let sigmoid = 1 / (1 + exp(-scores[index]))
      let term =
        labels[index] == 1
        ? log(max(sigmoid, 1e-6)) : lambdaU * log(max(1 - sigmoid, 1e-6))
      expected -= Double(weights[index]) * term
    }
    expected /= Double(scores.count)
    let (loss, accuracy, gradients) = trac(scores, labels: labels, weights: weights, eta: eta)
    XCTAssertEqual(loss, expected, accuracy: 1e-12)
    // Correct: 0 (0.8 > 0 and desirable), 1, 2, 3; wrong: 4 (0.1 > 0 but undesirable), 5.
    XCTAssertEqual(accuracy, 4.0 / 6.0, accuracy: 1e-12)
    // Gradients by finite differences of the same formula; the clamped score (20) has none.
    for index in scores.indices {
      var shifted = scores
      let step = 1e-6
      shifted[index] += step
      let plus = trac(shifted, labels: labels, weights: weights, eta: eta).loss
      shifted[index] -= 2 * step
      let minus = trac(shifted, labels: labels, weights: weights, eta: eta).loss
      XCTAssertEqual(gradients[index], (plus - minus) / (2 * step), accuracy: 1e-6)
    }
    XCTAssertEqual(gradients[5], 0)
    // A chunk of the batch gets the gradients the whole batch gives it (the trainer's chunks).
    let whole = TracLoss(labels: labels, count: scores.count, eta: eta)
    var chunk = [Double](repeating: .nan, count: 3)
    whole.backward(
      scores: Array(scores[2...4]), labels: Array(labels[2...4]), weights: Array(weights[2...4]), count: 3,
      scoreGradients: &chunk)
    XCTAssertEqual(chunk, Array(gradients[2...4]))
  }

  /// The two one-sided losses of the Figure 6 ablation against their formulas, with dLoss/dscore
  /// checked by finite differences as for the full loss.
  func testOneSidedLossesMatchTheirFormulas() {
    let scores: [Double] = [0.8, -0.3, 2.5, -1.7, -20]
    let weights: [Float] = [0.9, 1.0, 0.75, 0.8, 1.0]
    let desirable = [UInt8](repeating: 1, count: scores.count)
    let undesirable = [UInt8](repeating: 0, count: scores.count)
    func sigmoid(_ score: Double) -> Double { 1 / (1 + exp(-score)) }
    // Only l = 1: loss = -mean w log(sigmoid(s)); eta never enters.
    let desirableExpected =
      -scores.indices.reduce(0.0) { $0 + Double(weights[$1]) * log(max(sigmoid(scores[$1]), 1e-6)) }
      / Double(scores.count)
    // Only l = 0, lambda_U = 1: loss = -mean w log(1 - sigmoid(s)); eta never enters either.
    let undesirableExpected =
      -scores.indices.reduce(0.0) { $0 + Double(weights[$1]) * log(max(1 - sigmoid(scores[$1]), 1e-6)) }
      / Double(scores.count)
    for (labels, selection, expected) in [
      (desirable, SegmentSelection.desirable, desirableExpected),
      (undesirable, .undesirable, undesirableExpected),
    ] {
      func loss(_ scores: [Double], eta: Double = 0.25) -> (Double, Double, [Double]) {
        trac(scores, labels: labels, weights: weights, eta: eta, selection: selection)
      }
      let (value, accuracy, gradients) = loss(scores)
      XCTAssertEqual(value, expected, accuracy: 1e-12, "\(selection)")
      XCTAssertGreaterThan(value, 0, "\(selection)")
      XCTAssertEqual(loss(scores, eta: 1.0).0, value, "\(selection): eta has no say")
      let correct = scores.count { (sigmoid($0) > 0.5) == (selection == .desirable) }
      XCTAssertEqual(accuracy, Double(correct) / Double(scores.count), "\(selection)")
      for index in scores.indices {
        var shifted = scores
        let step = 1e-6
        shifted[index] += step
        let plus = loss(shifted).0
        shifted[index] -= 2 * step
        let minus = loss(shifted).0
        XCTAssertEqual(gradients[index], (plus - minus) / (2 * step), accuracy: 1e-6, "\(selection) \(index)")
      }
    }
    // TraC with both kinds gives an all-undesirable batch no weight; undesirable-only gives it weight 1.
    XCTAssertEqual(
      TracLoss.undesirableLambda(labels: undesirable, count: scores.count, eta: 0.25, selection: .both), 0)
    XCTAssertEqual(
      TracLoss.undesirableLambda(
        labels: undesirable, count: scores.count, eta: 0.25, selection: .undesirable),
      1)
    XCTAssertEqual(
      TracLoss.undesirableLambda(labels: [1, 1, 0, 0, 0], count: 5, eta: 0.25, selection: .both), 0.25 * 2 / 3
    )
  }

  func testBatchWithoutDesirableSegmentsHasZeroLoss() {
    let (loss, _, gradients) = trac([0.5, -0.5], labels: [0, 0], weights: [1, 1], eta: 0.25)
    XCTAssertEqual(loss, 0)
    XCTAssertEqual(gradients, [0, 0])
  }

  func testBehaviourCloningLoss() {
    var gradient = [Float](repeating: 0, count: 4)
    let loss = BehaviourCloningLoss.forwardBackward(
      mu: [0.5, -0.5, 0, 1], actions: [0, 0, 0, 0.5], rows: 2, actionDim: 2, muGradient: &gradient)
    // mean over 2 rows of ||mu - a||^2: (0.25 + 0.25 + 0 + 0.25) / 2.
    XCTAssertEqual(loss, 0.375, accuracy: 1e-7)
    XCTAssertEqual(gradient, [0.5, -0.5, 0, 0.5])
  }

  /// A segment's score against `alpha * (sum_t gamma^t (-||mu_t - a_t||^2) - ref)` computed here, and
  /// dscore/dmu against finite differences.
  func testSegmentScoreMatchesTheFormula() {
    let score = SegmentScore(alpha: 0.7, gamma: 0.9, length: 3, actionDim: 2)
    let mu: [Float] = [0.5, -0.25, 0.75, 0.0, -0.5, 0.125]
    let actions: [Float] = [0.25, 0.25, 0.5, -0.5, -0.25, 0.0]
    let reference = -0.3
    func expected(_ mu: [Float]) -> Double {
      var sum = 0.0
      for t in 0..<3 {
        let squared = (0..<2).reduce(0.0) {
          $0 + pow(Double(mu[2 * t + $1]) - Double(actions[2 * t + $1]), 2)
        }
        sum += pow(0.9, Double(t)) * -squared
      }
      return 0.7 * (sum - reference)
    }
    XCTAssertEqual(
      score.forward(mu: mu, actions: actions, reference: reference), expected(mu), accuracy: 1e-7)
    XCTAssertEqual(score.logLikelihood(mu: actions, actions: actions), 0)
    var gradient = [Float](repeating: .nan, count: 6)
    score.backward(scoreGradient: 1.5, mu: mu, actions: actions, muGradient: &gradient)
    for index in mu.indices {
      var shifted = mu
      shifted[index] += 1e-3
      let plus = expected(shifted)
      shifted[index] -= 2e-3
      let minus = expected(shifted)
      XCTAssertEqual(Double(gradient[index]), 1.5 * (plus - minus) / 2e-3, accuracy: 1e-4, "mu[\(index)]")
    }
  }
}
