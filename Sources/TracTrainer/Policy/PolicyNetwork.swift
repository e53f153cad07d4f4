import Foundation
import TracCore

/// The TraC policy, `tanh(W2 relu(W1 relu(W0 s + b0) + b1) + b2)` with dropout after each hidden
/// linear layer in training, written as explicit forward and backward passes over buffers that are
/// allocated once (llm.c style). Shapes: M rows (transitions), O = obs, H = 256, A = act.
public final class PolicyNetwork {
  public static let dropoutProbability: Float = 0.25

  public let shape: PolicyShape
  public let parameters: ParameterBuffer
  public let gradients: ParameterBuffer
  /// Rows the buffers hold: batch size x segment length.
  public let capacity: Int

  /// [M, O] observations in.
  public let input: UnsafeMutablePointer<Float>
  /// [M, H] hidden activations after bias, dropout and ReLU.
  let hidden0: UnsafeMutablePointer<Float>
  let hidden1: UnsafeMutablePointer<Float>
  /// [M, A] actions out (tanh).
  public let output: UnsafeMutablePointer<Float>
  /// [M, A] dLoss/dOutput in, set by the loss before `backward`.
  public let outputGradient: UnsafeMutablePointer<Float>
  /// [M, H] gradient scratch.
  let hiddenGradient0: UnsafeMutablePointer<Float>
  let hiddenGradient1: UnsafeMutablePointer<Float>
  /// [O, H] W0 transposed, refreshed at every forward pass.
  private let firstLayerTransposed: UnsafeMutablePointer<Float>
  /// [A] per-action partial sums of the output layer.
  private let outputScratch: UnsafeMutablePointer<Lanes>

  /// The stream of dropout masks; settable so a gradient check can replay the same masks.
  public var dropoutGenerator: SeededGenerator
  /// Whether the last forward pass used dropout (backward needs its scale).
  private var lastForwardDropout = false

  public init(shape: PolicyShape, capacity: Int, dropoutGenerator: SeededGenerator) {
    self.shape = shape
    self.capacity = capacity
    self.dropoutGenerator = dropoutGenerator
    parameters = ParameterBuffer(shape: shape)
    gradients = ParameterBuffer(shape: shape)
    func buffer(_ width: Int) -> UnsafeMutablePointer<Float> {
      let pointer = UnsafeMutablePointer<Float>.allocate(capacity: capacity * width)
      pointer.initialize(repeating: 0, count: capacity * width)
      return pointer
    }
    input = buffer(shape.observationDim)
    hidden0 = buffer(shape.hidden)
    hidden1 = buffer(shape.hidden)
    output = buffer(shape.actionDim)
    outputGradient = buffer(shape.actionDim)
    hiddenGradient0 = buffer(shape.hidden)
    hiddenGradient1 = buffer(shape.hidden)
    firstLayerTransposed = .allocate(capacity: shape.observationDim * shape.hidden)
    outputScratch = .allocate(capacity: shape.actionDim)
  }

  deinit {
    for pointer in [input, hidden0, hidden1, output, outputGradient, hiddenGradient0, hiddenGradient1] {
      pointer.deallocate()
    }
    firstLayerTransposed.deallocate()
    outputScratch.deallocate()
  }

  /// Forward pass over the first `rows` rows of `input` into `output`. Dropout only when training.
  ///
  /// Only the 256 x 256 product goes through sgemm; the narrow layers (obs -> 256, 256 -> act) are
  /// fused with the bias, dropout and ReLU passes, so each activation row is written once.
  public func forward(rows: Int, dropout: Bool) {
    precondition(rows <= capacity, "rows \(rows) exceed the buffers' capacity \(capacity)")
    let hidden = shape.hidden
    lastForwardDropout = dropout
    transposeFirstLayer()
    // hidden0[M, H] = dropout-ReLU(input[M, O] W0[H, O]^T + b0).
    firstLayerForward(rows: rows, dropout: dropout)
    // hidden1[M, H] = hidden0[M, H] W1[H, H]^T; bias, dropout, ReLU and the output layer follow.
    BLAS.gemm(
      transposeA: false, transposeB: true, m: rows, n: hidden, k: hidden,
      a: hidden0, lda: hidden, b: parameters.w1, ldb: hidden, c: hidden1, ldc: hidden)
    // output[M, A] = tanh(dropout-ReLU(hidden1 + b1) W2[A, H]^T + b2).
    secondLayerAndOutputForward(rows: rows, dropout: dropout)
  }

  /// Backward pass of the last `forward` (same rows): reads `outputGradient` = dLoss/dOutput and
  /// writes every parameter's gradient into `gradients`, or adds to them when `accumulate` (a batch
  /// processed in chunks of rows).
  public func backward(rows: Int, accumulate: Bool = false) {
    let (observationDim, hidden) = (shape.observationDim, shape.hidden)
    let scale: Float = lastForwardDropout ? 1 / (1 - Self.dropoutProbability) : 1
    // Output layer and layer 1's ReLU: dW2, db2, dZ1 = dHidden1 * relu'(..) * scale, db1.
    outputAndSecondLayerBackward(rows: rows, scale: scale, accumulate: accumulate)
    let gradientScale: Float = accumulate ? 1 : 0
    // dW1[H, H] = dZ1[M, H]^T hidden0[M, H];  dHidden0[M, H] = dZ1[M, H] W1[H, H].
    BLAS.gemm(
      transposeA: true, transposeB: false, m: hidden, n: hidden, k: rows,
      a: hiddenGradient1, lda: hidden, b: hidden0, ldb: hidden, beta: gradientScale, c: gradients.w1,
      ldc: hidden)
    BLAS.gemm(
      transposeA: false, transposeB: false, m: rows, n: hidden, k: hidden,
      a: hiddenGradient1, lda: hidden, b: parameters.w1, ldb: hidden, c: hiddenGradient0, ldc: hidden)
    // dZ0 = dHidden0 * relu'(..) * scale in place, db0; then dW0[H, O] = dZ0[M, H]^T input[M, O].
    reluDropoutBackward(
      hiddenGradient0, activations: hidden0, biasGradient: gradients.b0, rows: rows, scale: scale,
      accumulate: accumulate)
    BLAS.gemm(
      transposeA: true, transposeB: false, m: hidden, n: observationDim, k: rows,
      a: hiddenGradient0, lda: hidden, b: input, ldb: observationDim, beta: gradientScale, c: gradients.w0,
      ldc: observationDim)
  }

  /// W0 [H, O] -> W0^T [O, H], so the first layer's pass reads a row of weights per input.
  private func transposeFirstLayer() {
    let (observationDim, hidden) = (shape.observationDim, shape.hidden)
    let w0 = parameters.w0
    for unit in 0..<hidden {
      for feature in 0..<observationDim {
        firstLayerTransposed[feature * hidden + unit] = w0[unit * observationDim + feature]
      }
    }
  }

  /// hidden0[m, :] = dropout-ReLU(b0 + sum_k input[m, k] W0^T[k, :]), 8 units at a time.
  private func firstLayerForward(rows: Int, dropout: Bool) {
    let (observationDim, hidden) = (shape.observationDim, shape.hidden)
    let scale = Lanes(repeating: dropout ? 1 / (1 - Self.dropoutProbability) : 1)
    let (bias, weights) = (parameters.b0, firstLayerTransposed)
    for row in 0..<rows {
      let x = input + row * observationDim
      let out = hidden0 + row * hidden
      // 32 units at a time in four registers: one broadcast of x[k] feeds four FMAs.
      for group in 0..<(hidden / 32) {
        let unit = 32 * group
        var sum0 = bias.lanes(at: unit)
        var sum1 = bias.lanes(at: unit + 8)
        var sum2 = bias.lanes(at: unit + 16)
        var sum3 = bias.lanes(at: unit + 24)
        for feature in 0..<observationDim {
          let value = Lanes(repeating: x[feature])
          let w = weights + feature * hidden + unit
          sum0 += value * w.lanes(at: 0)
          sum1 += value * w.lanes(at: 8)
          sum2 += value * w.lanes(at: 16)
          sum3 += value * w.lanes(at: 24)
        }
        let keep = dropout ? DropoutBits.keepBits(dropoutGenerator.next()) : 0
        @inline(__always) func finish(_ sum: Lanes, _ block: Int) {
          let keepMask = dropout ? sum.positiveMask & DropoutBits.mask(keep, block: block) : sum.positiveMask
          out.store((sum * scale).masked(keepMask), at: unit + 8 * block)
        }
        finish(sum0, 0)
        finish(sum1, 1)
        finish(sum2, 2)
        finish(sum3, 3)
      }
    }
  }

  /// In place on hidden1: `dropout-ReLU(hidden1 + b1)`, and while each row is in cache,
  /// `output[m, j] = tanh(b2[j] + hidden1[m, :] . W2[j, :])`.
  private func secondLayerAndOutputForward(rows: Int, dropout: Bool) {
    let (hidden, actionDim) = (shape.hidden, shape.actionDim)
    let scale = Lanes(repeating: dropout ? 1 / (1 - Self.dropoutProbability) : 1)
    let (bias, w2, b2) = (parameters.b1, parameters.w2, parameters.b2)
    let sums = outputScratch
    for row in 0..<rows {
      let h = hidden1 + row * hidden
      for action in 0..<actionDim { sums[action] = Lanes() }
      var keep: UInt64 = 0
      for block in 0..<(hidden / 8) {
        if dropout, block % 4 == 0 { keep = DropoutBits.keepBits(dropoutGenerator.next()) }
        let sum = h.lanes(at: 8 * block) + bias.lanes(at: 8 * block)
        let keepMask =
          dropout ? sum.positiveMask & DropoutBits.mask(keep, block: block % 4) : sum.positiveMask
        let value = (sum * scale).masked(keepMask)
        h.store(value, at: 8 * block)
        for action in 0..<actionDim {
          sums[action] += value * w2.lanes(at: action * hidden + 8 * block)
        }
      }
      let out = output + row * actionDim
      for action in 0..<actionDim { out[action] = tanhf(b2[action] + sums[action].sum()) }
    }
  }

  /// From dLoss/dOutput: through tanh (db2), the output layer (dW2) and layer 1's dropout-ReLU
  /// (dZ1 into hiddenGradient1, db1), one pass over the rows.
  private func outputAndSecondLayerBackward(rows: Int, scale: Float, accumulate: Bool) {
    let (hidden, actionDim) = (shape.hidden, shape.actionDim)
    let (w2, dW2, db1, db2) = (parameters.w2, gradients.w2, gradients.b1, gradients.b2)
    if !accumulate {
      dW2.update(repeating: 0, count: actionDim * hidden)
      db1.update(repeating: 0, count: hidden)
      db2.update(repeating: 0, count: actionDim)
    }
    let scaleLanes = Lanes(repeating: scale)
    for row in 0..<rows {
      let gradient = outputGradient + row * actionDim
      let out = output + row * actionDim
      for action in 0..<actionDim {
        let value = gradient[action] * (1 - out[action] * out[action])
        gradient[action] = value
        db2[action] += value
      }
      let h = hidden1 + row * hidden
      let dz = hiddenGradient1 + row * hidden
      for block in 0..<(hidden / 8) {
        let activation = h.lanes(at: 8 * block)
        var upstream = Lanes()
        for action in 0..<actionDim {
          let outputGradientLanes = Lanes(repeating: gradient[action])
          upstream += outputGradientLanes * w2.lanes(at: action * hidden + 8 * block)
          dW2.store(
            dW2.lanes(at: action * hidden + 8 * block) + outputGradientLanes * activation,
            at: action * hidden + 8 * block)
        }
        let value = (upstream * scaleLanes).masked(activation.positiveMask)
        dz.store(value, at: 8 * block)
        db1.store(db1.lanes(at: 8 * block) + value, at: 8 * block)
      }
    }
  }

  /// In place on [rows, H]: `dZ = activation > 0 ? dA * scale : 0`, and `biasGradient` = column
  /// sums of dZ. The post-ReLU activation alone tells which units passed (dropout's kept units with
  /// a positive input), so no mask is stored.
  private func reluDropoutBackward(
    _ gradient: UnsafeMutablePointer<Float>, activations: UnsafeMutablePointer<Float>,
    biasGradient: UnsafeMutablePointer<Float>, rows: Int, scale: Float, accumulate: Bool
  ) {
    let hidden = shape.hidden
    let scaleLanes = Lanes(repeating: scale)
    if !accumulate { biasGradient.update(repeating: 0, count: hidden) }
    for row in 0..<rows {
      let g = gradient + row * hidden
      let a = activations + row * hidden
      for block in 0..<(hidden / 8) {
        let value = (g.lanes(at: 8 * block) * scaleLanes).masked(a.lanes(at: 8 * block).positiveMask)
        g.store(value, at: 8 * block)
        biasGradient.store(biasGradient.lanes(at: 8 * block) + value, at: 8 * block)
      }
    }
  }
}
