import Foundation
import TracCore

/// The TraC policy (docs/ALGORITHM.md section 4), written as explicit forward and backward passes
/// over buffers that are allocated once, one pair of kernels per layer (llm.c style):
///
///     layer 0:  h0  = relu(dropout(inp W0^T + b0))     inp (M,O), W0 (H,O), b0 (H) -> h0 (M,H)
///     layer 1:  h1  = relu(dropout(h0 W1^T + b1))      h0 (M,H),  W1 (H,H), b1 (H) -> h1 (M,H)
///     layer 2:  out = tanh(h1 W2^T + b2)               h1 (M,H),  W2 (A,H), b2 (A) -> out (M,A)
///
/// M rows (transitions), O = observation width, H = 256, A = action width; weights in PyTorch's
/// `nn.Linear` layout. Dropout is on only in training.
public final class PolicyNetwork {
  public static let dropoutProbability: Float = 0.25

  public let shape: PolicyShape
  public let parameters: ParameterBuffer
  public let gradients: ParameterBuffer
  /// Rows the buffers hold: batch size x segment length.
  public let capacity: Int

  /// inp (M,O): observations in.
  public let input: UnsafeMutablePointer<Float>
  /// h0, h1 (M,H): hidden activations after bias, dropout and ReLU.
  let hidden0: UnsafeMutablePointer<Float>
  let hidden1: UnsafeMutablePointer<Float>
  /// out (M,A): actions (tanh).
  public let output: UnsafeMutablePointer<Float>
  /// dout (M,A): dLoss/dout in, set by the loss before `backward`.
  public let outputGradient: UnsafeMutablePointer<Float>
  /// dh0, dh1 (M,H): gradient scratch.
  let hiddenGradient0: UnsafeMutablePointer<Float>
  let hiddenGradient1: UnsafeMutablePointer<Float>
  /// W0^T (O,H), refreshed by every `layer0Forward`.
  private let w0Transposed: UnsafeMutablePointer<Float>
  /// (A) per-action partial sums of layer 2.
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
    w0Transposed = .allocate(capacity: shape.observationDim * shape.hidden)
    outputScratch = .allocate(capacity: shape.actionDim)
  }

  deinit {
    for pointer in [input, hidden0, hidden1, output, outputGradient, hiddenGradient0, hiddenGradient1] {
      pointer.deallocate()
    }
    w0Transposed.deallocate()
    outputScratch.deallocate()
  }

  /// Forward pass over the first `rows` rows of `input` into `output`. Dropout only when training.
  public func forward(rows: Int, dropout: Bool) {
    precondition(rows <= capacity, "rows \(rows) exceed the buffers' capacity \(capacity)")
    lastForwardDropout = dropout
    layer0Forward(rows: rows, dropout: dropout)
    layer1Forward(rows: rows, dropout: dropout)
    layer2Forward(rows: rows)
  }

  /// Backward pass of the last `forward` (same rows): reads `outputGradient` = dLoss/dout and
  /// writes every parameter's gradient into `gradients`, or adds to them when `accumulate` (a batch
  /// processed in chunks of rows).
  public func backward(rows: Int, accumulate: Bool = false) {
    layer2Backward(rows: rows, accumulate: accumulate)
    layer1Backward(rows: rows, accumulate: accumulate)
    layer0Backward(rows: rows, accumulate: accumulate)
  }

  /// Inverted dropout's scale of kept units in the last forward pass: 1 / (1 - p), or 1 without dropout.
  private var dropoutScale: Float { lastForwardDropout ? 1 / (1 - Self.dropoutProbability) : 1 }

  // MARK: Layer 0

  /// inp (M,O), W0 (H,O), b0 (H) -> h0 (M,H) = relu(dropout(inp W0^T + b0)).
  ///
  /// The input is narrow, so the product is not an sgemm: each row's 256 sums stay in registers,
  /// 32 units at a time, and get their bias, dropout and ReLU before the one write.
  private func layer0Forward(rows: Int, dropout: Bool) {
    let (observationDim, hidden) = (shape.observationDim, shape.hidden)
    // W0 (H,O) -> W0^T (O,H), so the pass reads one row of weights per input feature.
    let w0 = parameters.w0
    for unit in 0..<hidden {
      for feature in 0..<observationDim {
        w0Transposed[feature * hidden + unit] = w0[unit * observationDim + feature]
      }
    }
    let scale = Lanes(repeating: dropout ? 1 / (1 - Self.dropoutProbability) : 1)
    let (bias, weights) = (parameters.b0, w0Transposed)
    for row in 0..<rows {
      let x = input + row * observationDim
      let out = hidden0 + row * hidden
      // One broadcast of x[k] feeds four FMAs.
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

  /// dh0 (M,H) -> dW0 (H,O), db0 (H); dh0 becomes dz0 in place. The observations need no gradient.
  private func layer0Backward(rows: Int, accumulate: Bool) {
    let (observationDim, hidden) = (shape.observationDim, shape.hidden)
    // dz0 = dh0 * relu'(..) * dropout scale; db0 = column sums of dz0.
    dropoutReLUBackward(
      hiddenGradient0, activations: hidden0, biasGradient: gradients.b0, rows: rows, accumulate: accumulate)
    // dW0 (H,O) = dz0 (M,H)^T inp (M,O).
    BLAS.gemm(
      transposeA: true, transposeB: false, m: hidden, n: observationDim, k: rows,
      a: hiddenGradient0, lda: hidden, b: input, ldb: observationDim, beta: accumulate ? 1 : 0,
      c: gradients.w0, ldc: observationDim)
  }

  // MARK: Layer 1

  /// h0 (M,H), W1 (H,H), b1 (H) -> h1 (M,H) = relu(dropout(h0 W1^T + b1)).
  private func layer1Forward(rows: Int, dropout: Bool) {
    let hidden = shape.hidden
    // h1 (M,H) = h0 (M,H) W1 (H,H)^T.
    BLAS.gemm(
      transposeA: false, transposeB: true, m: rows, n: hidden, k: hidden,
      a: hidden0, lda: hidden, b: parameters.w1, ldb: hidden, c: hidden1, ldc: hidden)
    // In place: h1 = relu(dropout(h1 + b1)).
    let scale = Lanes(repeating: dropout ? 1 / (1 - Self.dropoutProbability) : 1)
    let bias = parameters.b1
    for row in 0..<rows {
      let h = hidden1 + row * hidden
      var keep: UInt64 = 0
      for block in 0..<(hidden / 8) {
        if dropout, block % 4 == 0 { keep = DropoutBits.keepBits(dropoutGenerator.next()) }
        let sum = h.lanes(at: 8 * block) + bias.lanes(at: 8 * block)
        let keepMask =
          dropout ? sum.positiveMask & DropoutBits.mask(keep, block: block % 4) : sum.positiveMask
        h.store((sum * scale).masked(keepMask), at: 8 * block)
      }
    }
  }

  /// dh1 (M,H) -> dW1 (H,H), db1 (H), dh0 (M,H); dh1 becomes dz1 in place.
  private func layer1Backward(rows: Int, accumulate: Bool) {
    let hidden = shape.hidden
    // dz1 = dh1 * relu'(..) * dropout scale; db1 = column sums of dz1.
    dropoutReLUBackward(
      hiddenGradient1, activations: hidden1, biasGradient: gradients.b1, rows: rows, accumulate: accumulate)
    // dW1 (H,H) = dz1 (M,H)^T h0 (M,H).
    BLAS.gemm(
      transposeA: true, transposeB: false, m: hidden, n: hidden, k: rows,
      a: hiddenGradient1, lda: hidden, b: hidden0, ldb: hidden, beta: accumulate ? 1 : 0, c: gradients.w1,
      ldc: hidden)
    // dh0 (M,H) = dz1 (M,H) W1 (H,H).
    BLAS.gemm(
      transposeA: false, transposeB: false, m: rows, n: hidden, k: hidden,
      a: hiddenGradient1, lda: hidden, b: parameters.w1, ldb: hidden, c: hiddenGradient0, ldc: hidden)
  }

  // MARK: Layer 2

  /// h1 (M,H), W2 (A,H), b2 (A) -> out (M,A) = tanh(h1 W2^T + b2). A is small: one pass over h1,
  /// 8 units at a time into one partial sum per action.
  private func layer2Forward(rows: Int) {
    let (hidden, actionDim) = (shape.hidden, shape.actionDim)
    let (w2, b2) = (parameters.w2, parameters.b2)
    let sums = outputScratch
    for row in 0..<rows {
      let h = hidden1 + row * hidden
      for action in 0..<actionDim { sums[action] = Lanes() }
      for block in 0..<(hidden / 8) {
        let value = h.lanes(at: 8 * block)
        for action in 0..<actionDim {
          sums[action] += value * w2.lanes(at: action * hidden + 8 * block)
        }
      }
      let out = output + row * actionDim
      for action in 0..<actionDim { out[action] = tanhf(b2[action] + sums[action].sum()) }
    }
  }

  /// dout (M,A) -> dW2 (A,H), db2 (A), dh1 (M,H); dout becomes dLoss/d(pre-tanh) in place.
  private func layer2Backward(rows: Int, accumulate: Bool) {
    let (hidden, actionDim) = (shape.hidden, shape.actionDim)
    let (w2, dW2, db2) = (parameters.w2, gradients.w2, gradients.b2)
    if !accumulate {
      dW2.update(repeating: 0, count: actionDim * hidden)
      db2.update(repeating: 0, count: actionDim)
    }
    for row in 0..<rows {
      // Through tanh: d(pre) = dout * (1 - out^2); db2 += d(pre).
      let gradient = outputGradient + row * actionDim
      let out = output + row * actionDim
      for action in 0..<actionDim {
        let value = gradient[action] * (1 - out[action] * out[action])
        gradient[action] = value
        db2[action] += value
      }
      // dh1[m, :] = sum_j d(pre)[m, j] W2[j, :];  dW2[j, :] += d(pre)[m, j] h1[m, :].
      let h = hidden1 + row * hidden
      let dh = hiddenGradient1 + row * hidden
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
        dh.store(upstream, at: 8 * block)
      }
    }
  }

  // MARK: Shared by layers 0 and 1

  /// The backward of `relu(dropout(z))` and the bias before it, in place on (M,H):
  /// `dz = h > 0 ? dh * scale : 0`, and `biasGradient` (H) = column sums of dz. The post-ReLU
  /// activation alone tells which units passed (dropout's kept units with a positive input), so no
  /// mask is stored.
  private func dropoutReLUBackward(
    _ gradient: UnsafeMutablePointer<Float>, activations: UnsafeMutablePointer<Float>,
    biasGradient: UnsafeMutablePointer<Float>, rows: Int, accumulate: Bool
  ) {
    let hidden = shape.hidden
    let scaleLanes = Lanes(repeating: dropoutScale)
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
