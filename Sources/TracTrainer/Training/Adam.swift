import Foundation

/// Adam (betas 0.9/0.999, eps 1e-8, no weight decay), with PyTorch's arithmetic:
/// `p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)`.
public final class Adam {
  public let beta1: Float = 0.9
  public let beta2: Float = 0.999
  public let epsilon: Float = 1e-8
  private let firstMoment: ParameterBuffer
  private let secondMoment: ParameterBuffer
  public private(set) var stepCount = 0

  public init(shape: PolicyShape) {
    firstMoment = ParameterBuffer(shape: shape)
    secondMoment = ParameterBuffer(shape: shape)
  }

  /// Forgets every moment: the TraC phase starts with a fresh optimizer.
  public func reset() {
    firstMoment.zero()
    secondMoment.zero()
    stepCount = 0
  }

  /// The moments and step count, for a checkpoint.
  public var state: (firstMoment: [Float], secondMoment: [Float], steps: Int) {
    (firstMoment.values, secondMoment.values, stepCount)
  }

  /// Continues from a checkpoint's state; the moments must have the parameters' count.
  public func restore(firstMoment first: [Float], secondMoment second: [Float], steps: Int) {
    precondition(first.count == firstMoment.count && second.count == secondMoment.count && steps >= 0)
    first.withUnsafeBufferPointer { firstMoment.pointer.update(from: $0.baseAddress!, count: $0.count) }
    second.withUnsafeBufferPointer { secondMoment.pointer.update(from: $0.baseAddress!, count: $0.count) }
    stepCount = steps
  }

  public func step(parameters: ParameterBuffer, gradients: ParameterBuffer, learningRate: Double) {
    stepCount += 1
    let biasCorrection1 = 1 - pow(Double(beta1), Double(stepCount))
    let biasCorrection2 = 1 - pow(Double(beta2), Double(stepCount))
    let stepSize = Float(learningRate / biasCorrection1)
    let correction2Root = Float(biasCorrection2.squareRoot())
    let (beta1, beta2, epsilon) = (self.beta1, self.beta2, self.epsilon)
    let p = parameters.pointer
    let g = gradients.pointer
    let m = firstMoment.pointer
    let v = secondMoment.pointer
    for index in 0..<parameters.count {
      let gradient = g[index]
      m[index] = beta1 * m[index] + (1 - beta1) * gradient
      v[index] = beta2 * v[index] + (1 - beta2) * gradient * gradient
      let denominator = v[index].squareRoot() / correction2Root + epsilon
      p[index] -= stepSize * m[index] / denominator
    }
  }
}
