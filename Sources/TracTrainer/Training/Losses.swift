import Foundation
import TracCore

/// Behaviour cloning's loss (docs/ALGORITHM.md section 5).
public enum BehaviourCloningLoss {
  /// `mean over the M transitions of ||mu(s) - a||^2` (= -log pi up to a constant), and its gradient:
  /// mu (M,A), a (M,A) -> loss, dmu (M,A) = 2 (mu - a) / M.
  ///
  /// A batch processed in chunks passes the batch's transition count as `meanOver`, so each chunk
  /// returns its share of the batch's mean.
  public static func forwardBackward(
    mu: UnsafePointer<Float>, actions: UnsafePointer<Float>, rows: Int, actionDim: Int,
    meanOver: Int? = nil, muGradient: UnsafeMutablePointer<Float>
  ) -> Double {
    let count = Double(meanOver ?? rows)
    var total = 0.0
    let scale = Float(2.0 / count)
    for index in 0..<(rows * actionDim) {
      let difference = mu[index] - actions[index]
      total += Double(difference * difference)
      muGradient[index] = scale * difference
    }
    return total / count
  }
}

/// TraC's loss of one batch of B segments (docs/ALGORITHM.md section 6), with label l, weight w
/// and score s:
///
///     loss = -(1/B) sum_i lambda_{l_i} * w_i * ( l_i log(max(sigma(s_i), 1e-6))
///                                              + (1 - l_i) log(max(1 - sigma(s_i), 1e-6)) )
///
/// `lambda_1 = 1`, `lambda_0 = eta * n_desirable / n_undesirable` of the batch (see
/// `undesirableLambda`). The batch enters a segment's gradient only through lambda_0 and B, so
/// `backward` can run on a chunk of the batch's segments at a time.
public struct TracLoss: Sendable {
  /// Lower clamp of `sigma(s)` and `1 - sigma(s)` inside the log.
  public static let probabilityFloor = 1e-6

  /// lambda_0 of this batch.
  public let undesirableLambda: Double
  /// B.
  public let batchSize: Int

  /// The loss of the batch with these labels (B).
  public init(labels: UnsafePointer<UInt8>, count: Int, eta: Double, selection: SegmentSelection = .both) {
    undesirableLambda = Self.undesirableLambda(labels: labels, count: count, eta: eta, selection: selection)
    batchSize = count
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

  /// scores (B), labels (B), weights (B) -> the loss, and the accuracy: the share of segments
  /// where `sigma(s) > 0.5` agrees with l.
  public func forward(
    scores: UnsafePointer<Double>, labels: UnsafePointer<UInt8>, weights: UnsafePointer<Float>
  ) -> (loss: Double, accuracy: Double) {
    var loss = 0.0
    var correct = 0
    for index in 0..<batchSize {
      let isDesirable = labels[index] == 1
      let probability = sigmoid(scores[index])
      let coefficient = self.coefficient(isDesirable: isDesirable, weight: weights[index])
      let likelihood = isDesirable ? probability : 1 - probability
      loss += -coefficient * log(max(likelihood, Self.probabilityFloor))
      if (probability > 0.5) == isDesirable { correct += 1 }
    }
    return (loss, Double(correct) / Double(batchSize))
  }

  /// scores (N), labels (N), weights (N) -> dscores (N) = dLoss/dscore, for N of the batch's
  /// segments (all of them, or a chunk). Zero where the clamp holds, as for PyTorch's `clamp`.
  public func backward(
    scores: UnsafePointer<Double>, labels: UnsafePointer<UInt8>, weights: UnsafePointer<Float>, count: Int,
    scoreGradients: UnsafeMutablePointer<Double>
  ) {
    for index in 0..<count {
      let isDesirable = labels[index] == 1
      let probability = sigmoid(scores[index])
      let coefficient = self.coefficient(isDesirable: isDesirable, weight: weights[index])
      if isDesirable {
        // d/ds -log(sigma(s)) = -(1 - sigma(s)).
        scoreGradients[index] = probability < Self.probabilityFloor ? 0 : -coefficient * (1 - probability)
      } else {
        // d/ds -log(1 - sigma(s)) = sigma(s).
        scoreGradients[index] = 1 - probability < Self.probabilityFloor ? 0 : coefficient * probability
      }
    }
  }

  /// `lambda_l * w / B`.
  @inline(__always)
  private func coefficient(isDesirable: Bool, weight: Float) -> Double {
    (isDesirable ? 1 : undesirableLambda) * Double(weight) / Double(batchSize)
  }

  @inline(__always)
  private func sigmoid(_ score: Double) -> Double { 1 / (1 + exp(-score)) }
}
