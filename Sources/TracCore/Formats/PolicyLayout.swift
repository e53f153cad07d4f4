/// The tensors of a policy (docs/FORMATS.md, `policy.safetensors`; docs/ALGORITHM.md section 4): an
/// MLP obs -> 256 -> 256 -> act in PyTorch `nn.Linear` layout (`weight[out, in]`), float32, in this
/// order. Stated once: the trainer lays out its parameters by it, the coordinator checks a result's
/// policy against it, and the benchmarks' stub policies are made of it.
public enum PolicyLayout {
  public static let hiddenWidth = 256
  /// The safetensors dtype of every tensor.
  public static let dtype = "F32"

  /// `layers.0.weight, layers.0.bias, ..., layers.2.bias` with their shapes, in file and buffer order.
  public static func tensors(observationDim: Int, actionDim: Int) -> [(name: String, shape: [Int])] {
    let hidden = hiddenWidth
    return [
      ("layers.0.weight", [hidden, observationDim]), ("layers.0.bias", [hidden]),
      ("layers.1.weight", [hidden, hidden]), ("layers.1.bias", [hidden]),
      ("layers.2.weight", [actionDim, hidden]), ("layers.2.bias", [actionDim]),
    ]
  }
}
