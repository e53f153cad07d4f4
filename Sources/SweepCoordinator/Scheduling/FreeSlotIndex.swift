import TracCore

/// The workers that can take a run now, least loaded first: a binary min-heap with lazy removal, so
/// that finding the next worker for a pending run costs O(log W) instead of a scan of every worker.
///
/// Order: load (`running / slots`, compared by cross-multiplying), then the one assigned to least
/// recently, then by id; the same order a scan of every worker would give. Whenever anything a worker's
/// place depends on changes, `set` bumps its version and pushes a fresh entry (or none, if it cannot take
/// work); entries of older versions are dropped when they reach the top.
struct FreeSlotIndex: Sendable {
  struct Candidate: Sendable, Equatable {
    var running: Int
    var slots: Int
    var lastAssignment: Int
  }

  private struct Entry: Sendable {
    let candidate: Candidate
    let worker: WorkerID
    let version: Int

    func precedes(_ other: Entry) -> Bool {
      let lhs = candidate.running * other.candidate.slots
      let rhs = other.candidate.running * candidate.slots
      if lhs != rhs { return lhs < rhs }
      if candidate.lastAssignment != other.candidate.lastAssignment {
        return candidate.lastAssignment < other.candidate.lastAssignment
      }
      return worker < other.worker
    }
  }

  private var heap: [Entry] = []
  /// The current version of every worker ever set; an entry of another version is stale.
  private var versions: [WorkerID: Int] = [:]

  /// Records `worker` as able to take work with `candidate`'s load, or (nil) as unable.
  mutating func set(_ worker: WorkerID, _ candidate: Candidate?) {
    let version = (versions[worker] ?? 0) + 1
    versions[worker] = version
    guard let candidate else { return }
    push(Entry(candidate: candidate, worker: worker, version: version))
    // At most one entry per worker is current: drop the stale ones before they outnumber them.
    if heap.count > 2 * versions.count + 64 { compact() }
  }

  /// The worker that should get the next run, or nil if none can take one.
  mutating func best() -> WorkerID? {
    while let top = heap.first {
      if versions[top.worker] == top.version { return top.worker }
      popTop()
    }
    return nil
  }

  private mutating func compact() {
    heap = heap.filter { versions[$0.worker] == $0.version }
    guard heap.count > 1 else { return }
    for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
  }

  private mutating func push(_ entry: Entry) {
    heap.append(entry)
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].precedes(heap[parent]) else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  private mutating func popTop() {
    let last = heap.removeLast()
    guard !heap.isEmpty else { return }
    heap[0] = last
    siftDown(0)
  }

  private mutating func siftDown(_ start: Int) {
    var parent = start
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < heap.count, heap[left].precedes(heap[smallest]) { smallest = left }
      if right < heap.count, heap[right].precedes(heap[smallest]) { smallest = right }
      if smallest == parent { return }
      heap.swapAt(parent, smallest)
      parent = smallest
    }
  }
}
