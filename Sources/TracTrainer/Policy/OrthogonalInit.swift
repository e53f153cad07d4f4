import TracCore

extension ParameterBuffer {
  /// PyTorch's `orthogonal_(gain=1)` for every weight, zero biases (docs/ALGORITHM.md section 4): a Gaussian
  /// matrix made orthonormal along its shorter side, with QR's sign convention (positive diagonal
  /// of R), which Gram-Schmidt gives directly.
  public func initializeOrthogonal(generator: inout SeededGenerator) {
    zero()
    for tensor in shape.tensors where tensor.shape.count == 2 {
      let rows = tensor.shape[0]
      let columns = tensor.shape[1]
      let tall = max(rows, columns)
      let narrow = min(rows, columns)
      // Columns of a tall x narrow Gaussian matrix, orthonormalised.
      var basis = (0..<narrow).map { _ in (0..<tall).map { _ in generator.gaussian() } }
      for column in 0..<narrow {
        for _ in 0..<2 {  // Gram-Schmidt twice keeps the basis orthogonal to float precision.
          for previous in 0..<column {
            let projection = zip(basis[column], basis[previous]).reduce(0.0) { $0 + $1.0 * $1.1 }
            for index in 0..<tall { basis[column][index] -= projection * basis[previous][index] }
          }
        }
        let norm = basis[column].reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        for index in 0..<tall { basis[column][index] /= norm }
      }
      let target = pointer + tensor.offset
      for row in 0..<rows {
        for column in 0..<columns {
          // Wide weights ([act, 256]) take the basis transposed: their rows are orthonormal.
          let value = rows >= columns ? basis[column][row] : basis[row][column]
          target[row * columns + column] = Float(value)
        }
      }
    }
  }
}
