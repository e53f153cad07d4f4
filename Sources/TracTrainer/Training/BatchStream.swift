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

  /// Where the stream stands: the generator (before the next permutation), the current permutation
  /// and the position in it.
  var state: (generator: SeededGenerator, permutation: [Int32], position: Int) {
    (generator, permutation, position)
  }

  /// Continues from `state`; the permutation must be of the stream's segments.
  mutating func restore(generator: SeededGenerator, permutation: [Int32], position: Int) {
    precondition(permutation.count == self.permutation.count && (0...permutation.count).contains(position))
    self.generator = generator
    self.permutation = permutation
    self.position = position
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
