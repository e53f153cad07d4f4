import TracCore

/// The pending runs, oldest submitted first (smallest `queueOrder`): a binary min-heap with lazy removal.
/// A run is in the heap at most once; whoever pops an entry checks that the run is still pending.
struct PendingQueue: Sendable {
  private struct Entry: Sendable {
    let queueOrder: Int
    let run: RunID
  }

  private var heap: [Entry] = []
  private var queued: Set<RunID> = []

  var isEmpty: Bool { heap.isEmpty }

  /// Adds `run` unless it is already queued.
  mutating func push(_ run: RunID, queueOrder: Int) {
    guard queued.insert(run).inserted else { return }
    heap.append(Entry(queueOrder: queueOrder, run: run))
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].queueOrder < heap[parent].queueOrder else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  /// The order of the first queued run for which `isValid` holds; the runs before it (no longer
  /// pending) are dropped.
  mutating func firstOrder(where isValid: (RunID) -> Bool) -> Int? {
    while let first = heap.first {
      if isValid(first.run) { return first.queueOrder }
      _ = pop()
    }
    return nil
  }

  /// The queued run with the smallest order, removed.
  mutating func pop() -> RunID? {
    guard let first = heap.first else { return nil }
    let last = heap.removeLast()
    if !heap.isEmpty {
      heap[0] = last
      var parent = 0
      while true {
        let left = 2 * parent + 1
        let right = left + 1
        var smallest = parent
        if left < heap.count, heap[left].queueOrder < heap[smallest].queueOrder { smallest = left }
        if right < heap.count, heap[right].queueOrder < heap[smallest].queueOrder { smallest = right }
        if smallest == parent { break }
        heap.swapAt(parent, smallest)
        parent = smallest
      }
    }
    queued.remove(first.run)
    return first.run
  }
}
