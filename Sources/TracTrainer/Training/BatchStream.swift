import TracCore

/// The labelled segments cut into batches (docs/ALGORITHM.md section 5); every segment is seen equally
/// often.
///
/// `full`: one stream of permutations, one after another, cut into full batches (a batch that reaches
/// the end of a permutation takes the rest from the next).
///
/// `epochs`: the official TraC code's loader, an iterable dataset read by two data-loader workers. A
/// pass draws two permutations (one per worker), cuts each into `ceil(N / batch_size)` batches whose
/// last holds what is left, and interleaves them: the first worker's first batch, the second's first,
/// the first's second, and so on; then the next pass. `permutation` holds the pass's two permutations
/// one after the other and `position` counts the pass's batches taken.
struct BatchStream {
  private let batching: Batching
  private let batchSize: Int
  private let count: Int
  private var generator: SeededGenerator
  private var permutation: [Int32]
  private var position: Int

  /// Data-loader workers of the official code's loader (its configs' `num_workers`).
  static let loaderWorkers = 2

  init(count: Int, generator: SeededGenerator, batching: Batching = .full, batchSize: Int) {
    self.batching = batching
    self.batchSize = batchSize
    self.count = count
    self.generator = generator
    permutation = [Int32](repeating: 0, count: count * Self.permutationsPerPass(batching))
    position = Self.end(count: count, batching: batching, batchSize: batchSize)
  }

  /// How many permutations a pass draws: 1 (`full`) or one per loader worker (`epochs`).
  static func permutationsPerPass(_ batching: Batching) -> Int { batching == .epochs ? loaderWorkers : 1 }

  /// The position at which a pass is used up (as before the first batch): the segments of a
  /// permutation (`full`) or the batches of a pass (`epochs`).
  static func end(count: Int, batching: Batching, batchSize: Int) -> Int {
    batching == .epochs ? loaderWorkers * ((count + batchSize - 1) / batchSize) : count
  }

  /// Where the stream stands: the generator (before the next pass), the pass's permutations and the
  /// position in it.
  var state: (generator: SeededGenerator, permutation: [Int32], position: Int) {
    (generator, permutation, position)
  }

  /// Continues from `state` (checked by `Trainer.checkRestorable`).
  mutating func restore(generator: SeededGenerator, permutation: [Int32], position: Int) {
    precondition(
      permutation.count == self.permutation.count
        && (0...Self.end(count: count, batching: batching, batchSize: batchSize)).contains(position))
    self.generator = generator
    self.permutation = permutation
    self.position = position
  }

  /// Fills `batch` (all of it, or with `epochs` at a permutation's end its first slots) with the next
  /// indices into the labelled set, and returns how many slots it filled.
  @discardableResult
  mutating func next(into batch: UnsafeMutableBufferPointer<Int32>) -> Int {
    if batching == .epochs { return nextOfPass(into: batch) }
    for slot in batch.indices {
      if position == permutation.count {
        generator.permutation(into: &permutation)
        position = 0
      }
      batch[slot] = permutation[position]
      position += 1
    }
    return batch.count
  }

  private mutating func nextOfPass(into batch: UnsafeMutableBufferPointer<Int32>) -> Int {
    if position == Self.end(count: count, batching: batching, batchSize: batchSize) {
      var one = [Int32](repeating: 0, count: count)
      for worker in 0..<Self.loaderWorkers {
        generator.permutation(into: &one)
        permutation.replaceSubrange(worker * count..<(worker + 1) * count, with: one)
      }
      position = 0
    }
    let worker = position % Self.loaderWorkers
    let first = (position / Self.loaderWorkers) * batchSize
    let filled = min(batchSize, count - first)
    for slot in 0..<filled { batch[slot] = permutation[worker * count + first + slot] }
    position += 1
    return filled
  }
}
