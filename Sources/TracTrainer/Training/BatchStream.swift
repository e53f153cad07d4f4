import TracCore

/// The labelled segments as a stream of permutations, one after another, cut into full batches:
/// every segment is seen equally often and every batch is full (docs/ALGORITHM.md section 5).
struct BatchStream {
  private var generator: SeededGenerator
  private var permutation: [Int32]
  private var position: Int

  init(count: Int, generator: SeededGenerator) {
    self.generator = generator
    permutation = [Int32](repeating: 0, count: count)
    position = count
  }

  /// Fills `batch` with the next indices into the labelled set.
  mutating func next(into batch: UnsafeMutableBufferPointer<Int32>) {
    for slot in batch.indices {
      if position == permutation.count {
        generator.permutation(into: &permutation)
        position = 0
      }
      batch[slot] = permutation[position]
      position += 1
    }
  }
}
