import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// Which worker gets the next run: the least loaded (running / slots), then the one assigned to least
/// recently, then by id. Checked against a plain model of that rule through hundreds of assignments,
/// results, a late joiner and a leaver, so that the scheduler's index of free workers never drifts from it.
final class AssignmentOrderTests: XCTestCase {
  /// The rule, written as a scan over every worker.
  struct Model {
    var slots: [WorkerID: Int] = [:]
    var running: [WorkerID: Int] = [:]
    var last: [WorkerID: Int] = [:]
    var count = 0

    func next() -> WorkerID? {
      slots.keys.filter { running[$0, default: 0] < slots[$0]! }.min { a, b in
        let lhs = running[a, default: 0] * slots[b]!
        let rhs = running[b, default: 0] * slots[a]!
        if lhs != rhs { return lhs < rhs }
        return (last[a, default: -1], a) < (last[b, default: -1], b)
      }
    }

    /// The workers the model expects `runs` assignments to go to, in order, applying them.
    mutating func assign(_ runs: Int) -> [WorkerID] {
      var chosen: [WorkerID] = []
      for _ in 0..<runs {
        guard let worker = next() else { break }
        running[worker, default: 0] += 1
        count += 1
        last[worker] = count
        chosen.append(worker)
      }
      return chosen
    }
  }

  func testEachRunGoesToTheLeastLoadedWorkerThenTheLongestIdle() throws {
    let harness = try SchedulerHarness()
    var model = Model()
    var held: [RunAssignment] = []
    var pending = 0

    func check(
      _ commands: [SchedulerCommand], freed: Int = 0, file: StaticString = #filePath, line: UInt = #line
    ) {
      let expected = model.assign(pending)
      XCTAssertEqual(commands.assignments.map(\.worker), expected, file: file, line: line)
      pending -= commands.assignments.count
      held += commands.assignments
    }

    for (index, slots) in [1, 2, 3, 4, 1, 2, 3, 4].enumerated() {
      let worker = WorkerID(stringLiteral: "w\(index)")
      model.slots[worker] = slots
      check(try harness.hello(worker, slots: slots))
    }
    // 21 points x 2 thresholds x 2 seeds = 84 runs for 20 slots.
    // (0.20 would be the base point again.)
    let alphas = (21...40).map { "0.\($0)" }.joined(separator: ", ")
    let grid = Grids.alphaStudy(name: "order", alphas: "[\(alphas)]")
    pending = 84
    XCTAssertEqual(Set(grid.runs.map { RunID(of: $0.spec(datasetSHA256: Grids.datasetSHA256)) }).count, 84)
    check(try harness.submit(grid))
    XCTAssertEqual(held.count, 20)

    var random: UInt64 = 42
    var step = 0
    while !held.isEmpty {
      step += 1
      random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let assignment = held.remove(at: Int((random >> 33) % UInt64(held.count)))
      model.running[assignment.worker, default: 0] -= 1
      harness.advance(milliseconds: 10)
      check(try harness.succeed(assignment))

      if step == 20 {  // a big worker joins late: it takes runs until it is as loaded as the others
        model.slots["w8"] = 8
        check(try harness.hello("w8", slots: 8))
      }
      if step == 40 {  // a worker leaves, handing its runs back: they go to the others at once
        let mine = held.filter { $0.worker == "w3" }
        held.removeAll { $0.worker == "w3" }
        model.slots["w3"] = nil
        model.running["w3"] = nil
        pending += mine.count
        check(try harness.send(.workerGoodbye(worker: "w3", released: mine.map(\.attempt))))
      }
    }
    XCTAssertEqual(pending, 0)
    XCTAssertEqual(harness.status.sweeps.first?.runs.done, 84)
  }
}
