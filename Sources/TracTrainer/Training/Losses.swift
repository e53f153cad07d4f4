import Foundation
import TracCore

/// The two training objectives, each a short function next to its formula (docs/ALGORITHM.md sections 5-6).
public enum Losses {
  /// Lower clamp of `sigmoid(score)` and `1 - sigmoid(score)` inside the log.
  public static let probabilityFloor = 1e-6

  /// Behaviour cloning: `mean over the M transitions of ||mu(s) - a||^2` (= -log pi up to a constant).
  /// Writes dLoss/dmu into `gradient` [M, A] and returns the loss. A batch processed in chunks passes
  /// the batch's transition count as `meanOver`, so each chunk returns its share of the batch's mean.
  public static func behaviourCloning(
    actions mu: UnsafePointer<Float>, targets: UnsafePointer<Float>, rows: Int, actionDim: Int,
    meanOver: Int? = nil, gradient: UnsafeMutablePointer<Float>
  ) -> Double {
    let count = Double(meanOver ?? rows)
    var total = 0.0
    let scale = Float(2.0 / count)
    for index in 0..<(rows * actionDim) {
      let difference = mu[index] - targets[index]
      total += Double(difference * difference)
      gradient[index] = scale * difference
    }
    return total / count
  }

  /// The TraC loss of one batch of segments, with label l, weight w and score s:
  ///
  ///     loss = - mean_i  lambda_l * w * ( l log(clamp(sigmoid(s), 1e-6))
  ///                                      + (1 - l) log(clamp(1 - sigmoid(s), 1e-6)) )
  ///
  /// `lambda_1 = 1`, `lambda_0 = eta * n_desirable / n_undesirable` (0 with no desirable segment);
  /// see `undesirableLambda` for the batches of a run that keeps only one kind of segment.
  /// Writes dLoss/dscore into `scoreGradients`; returns the loss and the classification accuracy
  /// (`sigmoid(s) > 0.5` agrees with l).
  public static func trac(
    scores: UnsafePointer<Double>, labels: UnsafePointer<UInt8>, weights: UnsafePointer<Float>,
    count: Int, eta: Double, selection: SegmentSelection = .both,
    scoreGradients: UnsafeMutablePointer<Double>
  ) -> (loss: Double, accuracy: Double) {
    let undesirableLambda = undesirableLambda(labels: labels, count: count, eta: eta, selection: selection)
    var loss = 0.0
    var correct = 0
    for index in 0..<count {
      let term = tracTerm(
        score: scores[index], isDesirable: labels[index] == 1, weight: weights[index],
        undesirableLambda: undesirableLambda, batchSize: count)
      loss += term.loss
      scoreGradients[index] = term.gradient
      if term.correct { correct += 1 }
    }
    return (loss, Double(correct) / Double(count))
  }

  /// `lambda_0 = eta * n_desirable / n_undesirable` of a batch; 0 without undesirable segments
  /// (then it is never used) or without desirable ones (then the loss is 0).
  ///
  /// A run that keeps only the undesirable segments (`selection == .undesirable`, the paper's
  /// Figure 6) uses `lambda_0 = 1`: eta balances the undesirable term against the desirable
  /// segments of the batch, and there are none, so the formula would make every loss 0. With only
  /// desirable segments lambda_0 is never used, and the formula above already gives that.
  public static func undesirableLambda(
    labels: UnsafePointer<UInt8>, count: Int, eta: Double, selection: SegmentSelection = .both
  ) -> Double {
    if selection == .undesirable { return 1 }
    var desirable = 0
    for index in 0..<count where labels[index] == 1 { desirable += 1 }
    let undesirable = count - desirable
    return undesirable == 0 ? 0 : eta * Double(desirable) / Double(undesirable)
  }

  /// One segment's share of the batch loss, its dLoss/dscore, and whether it is classified right.
  /// Depends on the batch only through `undesirableLambda` and `batchSize`, so a batch can be
  /// processed in chunks of segments.
  @inline(__always)
  public static func tracTerm(
    score: Double, isDesirable: Bool, weight: Float, undesirableLambda: Double, batchSize: Int
  ) -> (loss: Double, gradient: Double, correct: Bool) {
    let probability = 1 / (1 + exp(-score))
    let coefficient = (isDesirable ? 1 : undesirableLambda) * Double(weight) / Double(batchSize)
    let correct = (probability > 0.5) == isDesirable
    if isDesirable {
      // d/ds -log(sigmoid(s)) = -(1 - sigmoid(s)); zero where the clamp holds.
      let clamped = probability < probabilityFloor
      return (
        -coefficient * log(max(probability, probabilityFloor)),
        clamped ? 0 : -coefficient * (1 - probability), correct
      )
    }
    // d/ds -log(1 - sigmoid(s)) = sigmoid(s).
    let complement = 1 - probability
    let clamped = complement < probabilityFloor
    return (
      -coefficient * log(max(complement, probabilityFloor)), clamped ? 0 : coefficient * probability, correct
    )
  }
}
