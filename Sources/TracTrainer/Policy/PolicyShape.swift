import TracCore

/// The policy network's shape: obs -> 256 -> 256 -> act (docs/ALGORITHM.md section 4), and where each tensor
/// lives in one flat parameter buffer, in PyTorch `nn.Linear` layout (`weight[out, in]`).
public struct PolicyShape: Hashable, Sendable {
  public static let hiddenWidth = PolicyLayout.hiddenWidth

  public let observationDim: Int
  public let actionDim: Int
  public var hidden: Int { Self.hiddenWidth }

  public init(observationDim: Int, actionDim: Int) {
    self.observationDim = observationDim
    self.actionDim = actionDim
  }

  /// One tensor of the policy: its safetensors name, shape and place in the flat buffer.
  public struct Tensor: Hashable, Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
  }

  /// `layers.0.weight, layers.0.bias, ..., layers.2.bias`, in buffer order (`PolicyLayout`).
  public var tensors: [Tensor] {
    var offset = 0
    return PolicyLayout.tensors(observationDim: observationDim, actionDim: actionDim).map { name, shape in
      defer { offset += shape.reduce(1, *) }
      return Tensor(name: name, shape: shape, offset: offset)
    }
  }

  public var parameterCount: Int {
    hidden * observationDim + hidden + hidden * hidden + hidden + actionDim * hidden + actionDim
  }

  /// Multiply-adds x2 of one forward pass over `rows` transitions.
  public func forwardFLOPs(rows: Int) -> Double {
    2 * Double(rows) * Double(hidden * observationDim + hidden * hidden + actionDim * hidden)
  }

  /// FLOPs of one training step over `rows` transitions: the forward, every weight gradient, and the
  /// input gradients of layers 1 and 2 (the observations need none). Elementwise work not counted.
  public func trainingStepFLOPs(rows: Int) -> Double {
    let inputGradients = 2 * Double(rows) * Double(hidden * hidden + actionDim * hidden)
    return 2 * forwardFLOPs(rows: rows) + inputGradients
  }
}
