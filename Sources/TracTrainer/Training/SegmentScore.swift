/// A segment's score under the current policy (docs/ALGORITHM.md section 6):
///
///     score = alpha * ( sum_{t<L} gamma^t log pi(a_t|s_t)  -  ref ),   log pi(a|s) = -||mu(s) - a||^2
///
/// where `ref` is the same discounted sum under the frozen reference policy (`logLikelihood` of
/// its actions, computed once at the switch).
public struct SegmentScore: Sendable {
  public let alpha: Double
  /// gamma^t, t < L.
  public let discounts: [Double]
  public let actionDim: Int
  /// L.
  public var length: Int { discounts.count }

  public init(alpha: Double, gamma: Double, length: Int, actionDim: Int) {
    self.alpha = alpha
    self.actionDim = actionDim
    var discount = 1.0
    discounts = (0..<length).map { _ in
      defer { discount *= gamma }
      return discount
    }
  }

  /// mu (L,A), a (L,A) -> `sum_t gamma^t log pi(a_t|s_t) = -sum_t gamma^t ||mu_t - a_t||^2`.
  public func logLikelihood(mu: UnsafePointer<Float>, actions: UnsafePointer<Float>) -> Double {
    var total = 0.0
    for t in 0..<length {
      let base = t * actionDim
      var squaredError: Float = 0
      for column in 0..<actionDim {
        let difference = mu[base + column] - actions[base + column]
        squaredError += difference * difference
      }
      total -= discounts[t] * Double(squaredError)
    }
    return total
  }

  /// mu (L,A), a (L,A), ref -> score.
  public func forward(mu: UnsafePointer<Float>, actions: UnsafePointer<Float>, reference: Double) -> Double {
    alpha * (logLikelihood(mu: mu, actions: actions) - reference)
  }

  /// dscore, mu (L,A), a (L,A) -> dmu (L,A) = dscore * alpha * gamma^t * (-2) (mu_t - a_t).
  public func backward(
    scoreGradient: Double, mu: UnsafePointer<Float>, actions: UnsafePointer<Float>,
    muGradient: UnsafeMutablePointer<Float>
  ) {
    let scale = scoreGradient * alpha * -2
    for t in 0..<length {
      let rowScale = Float(scale * discounts[t])
      let base = t * actionDim
      for column in 0..<actionDim {
        muGradient[base + column] = rowScale * (mu[base + column] - actions[base + column])
      }
    }
  }
}
