import Foundation
import SweepWire
import XCTest
import trac_sweep

/// `submit --wait`'s loop, driven by scripted status replies: what it prints, when it stops, and
/// the outcome that sets the exit status.
final class SweepWaitTests: XCTestCase {
  func sweep(done: Int, running: Int, pending: Int, failed: Int = 0, total: Int = 4) -> StatusReply.Sweep {
    StatusReply.Sweep(
      id: "ab12cd34ef", name: "demo", total: total, pending: pending, running: running, done: done,
      failed: failed, cancelled: 0, duplicates: 0, lostAttempts: 0, ageSeconds: 5)
  }

  func failure(_ run: String, attempt: Int, inputError: Bool = false) -> StatusReply.Failure {
    StatusReply.Failure(
      runID: run, attempt: attempt, worker: "node1-aaaa", exitStatus: 1,
      stderrTail: "loading\nerror: out of memory", inputError: inputError)
  }

  /// Runs the wait over `replies`, one per poll; returns the outcome, the text written and the pauses.
  func wait(_ replies: [StatusReply], terminal: Bool = false) throws -> (SweepWait.Outcome, String, Int) {
    var remaining = replies[...]
    var output = ""
    var pauses = 0
    let clock = Date(timeIntervalSince1970: 1_000_000)
    let outcome = try SweepWait(
      sweepID: "ab12cd34ef", terminal: terminal,
      status: {
        guard let next = remaining.popFirst() else { throw CocoaError(.featureUnsupported) }
        return next
      },
      write: { output += $0 }, pause: { pauses += 1 }, now: { clock + Double(pauses) }
    ).run()
    XCTAssertTrue(remaining.isEmpty, "the wait stopped before the sweep finished")
    return (outcome, output, pauses)
  }

  func testWaitsUntilNothingIsPendingOrRunningAndPrintsALineWhenCountsChange() throws {
    let (outcome, output, pauses) = try wait([
      StatusReply(sweeps: [sweep(done: 0, running: 2, pending: 2)], workers: [], recentFailures: []),
      StatusReply(sweeps: [sweep(done: 0, running: 2, pending: 2)], workers: [], recentFailures: []),
      StatusReply(sweeps: [sweep(done: 2, running: 2, pending: 0)], workers: [], recentFailures: []),
      StatusReply(sweeps: [sweep(done: 4, running: 0, pending: 0)], workers: [], recentFailures: []),
    ])
    XCTAssertEqual(outcome, .finished)
    XCTAssertEqual(pauses, 3, "one pause between polls, none after the last")
    let lines = output.split(separator: "\n")
    // Without a terminal, a line only when the counts change: 3 of the 4 polls.
    XCTAssertEqual(lines.count, 3, output)
    XCTAssertTrue(lines[0].contains("0/4 done  2 running  0 failed"), output)
    XCTAssertTrue(lines[2].contains("4/4 done  0 running  0 failed  ETA 0s"), output)
  }

  /// With the workers' progress reports the ETA moves before any run finishes: two runs went from a
  /// quarter to half of their steps in a second (half a run's worth), 3 runs' worth is left: 6 s.
  func testTheETACountsTheStepsOfRunningRunsBeforeAnyFinishes() throws {
    func progress(_ run: String, step: Int) -> StatusReply.RunProgress {
      StatusReply.RunProgress(
        runID: run, attempt: 1, worker: "node1-aaaa", sweeps: ["ab12cd34ef"], phase: "trac", step: step,
        totalSteps: 1000, loss: 0.5)
    }
    let running = [sweep(done: 0, running: 2, pending: 2)]
    let (outcome, output, _) = try wait(
      [
        StatusReply(
          sweeps: running, workers: [], recentFailures: [],
          progress: [progress("1111aaaa2222", step: 250), progress("3333bbbb4444", step: 250)]),
        StatusReply(
          sweeps: running, workers: [], recentFailures: [],
          progress: [progress("1111aaaa2222", step: 500), progress("3333bbbb4444", step: 500)]),
        StatusReply(sweeps: [sweep(done: 4, running: 0, pending: 0)], workers: [], recentFailures: []),
      ], terminal: true)
    XCTAssertEqual(outcome, .finished)
    XCTAssertTrue(output.contains("0/4 done  2 running  0 failed  ETA ?"), output)
    XCTAssertTrue(output.contains("0/4 done  2 running  0 failed  ETA 6s"), output)
  }

  func testShowsEachFailedAttemptOnceAndEndsWithTheFailedCount() throws {
    let first = failure("1111aaaa2222", attempt: 1)
    let second = failure("3333bbbb4444", attempt: 1, inputError: true)
    let (outcome, output, _) = try wait([
      StatusReply(sweeps: [sweep(done: 0, running: 2, pending: 2)], workers: [], recentFailures: [first]),
      StatusReply(
        sweeps: [sweep(done: 1, running: 1, pending: 1, failed: 1)], workers: [],
        recentFailures: [first, second]),
      StatusReply(
        sweeps: [sweep(done: 2, running: 0, pending: 0, failed: 2)], workers: [],
        recentFailures: [first, second]),
    ])
    XCTAssertEqual(outcome, .failed(runs: 2))
    XCTAssertEqual(
      output.components(separatedBy: "failed: run 1111aaaa attempt 1: loading | error: out of memory").count,
      2, output)
    XCTAssertEqual(output.components(separatedBy: "input error: run 3333bbbb attempt 1").count, 2, output)
    XCTAssertTrue(output.hasSuffix("2 runs failed; see trac-sweep status ab12cd34ef\n"), output)
  }

  func testOnATerminalTheLineIsRedrawnInPlace() throws {
    let (outcome, output, _) = try wait(
      [
        StatusReply(sweeps: [sweep(done: 2, running: 2, pending: 0)], workers: [], recentFailures: []),
        StatusReply(sweeps: [sweep(done: 2, running: 2, pending: 0)], workers: [], recentFailures: []),
        StatusReply(sweeps: [sweep(done: 4, running: 0, pending: 0)], workers: [], recentFailures: []),
      ], terminal: true)
    XCTAssertEqual(outcome, .finished)
    XCTAssertEqual(output.components(separatedBy: "\r\u{1B}[K").count - 1, 3, "every poll redraws")
    XCTAssertTrue(output.hasSuffix("\n"))
  }

  func testASweepTheCoordinatorNoLongerListsEndsTheWait() throws {
    let (outcome, output, _) = try wait([StatusReply(sweeps: [], workers: [], recentFailures: [])])
    XCTAssertEqual(outcome, .vanished)
    XCTAssertEqual(output, "")
  }

  // MARK: - The status text

  func testStatusNeverCutsASentenceAndKeepsToTheWidth() {
    let status = StatusReply(
      sweeps: [sweep(done: 8, running: 0, pending: 0, total: 8)],
      workers: [
        StatusReply.Worker(
          id: "node1-aaaa", host: "node1", slots: 2, running: [], state: "online", quarantined: false,
          consecutiveFailures: 0)
      ],
      recentFailures: [],
      stages: StatusReply.Stages(
        units: 2, done: 2, running: 0, failed: 0, runs: 8, runsDone: 8, bytes: 1_600_000, secondsSaved: 7200))
    for width in [80, 200] {
      let text = StatusView.render(status, width: width)
      XCTAssertTrue(text.split(separator: "\n").allSatisfy { $0.count <= width }, text)
      let joined = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        .joined(separator: " ")
      XCTAssertTrue(
        joined.contains(
          "BC stages: 2 units (2 done), shared by 8 runs (8 done); BC training not repeated: 2.0 CPU-hours"),
        text)
    }
  }

  /// One line per BLAS kernel of the online workers, naming a mixed cluster; offline workers are left out.
  func testStatusNamesEachWorkersKernelAndAMixedCluster() {
    func worker(_ id: String, _ blas: String?, state: String = "online") -> StatusReply.Worker {
      StatusReply.Worker(
        id: id, host: "h", slots: 1, running: [], state: state, quarantined: false, consecutiveFailures: 0,
        blas: blas)
    }
    let mixed = StatusView.kernelLines([
      worker("b", "Zen (AVX2+FMA; probed)"), worker("a", "Zen (AVX2+FMA; probed)"),
      worker("c", "SkylakeX (AVX-512; probed)"), worker("d", "Prescott (SSE3)", state: "offline"),
    ])
    XCTAssertEqual(mixed.count, 2, "\(mixed)")
    XCTAssertTrue(mixed[1].hasPrefix("BLAS Zen (AVX2+FMA; probed): a, b (mixed"), "\(mixed)")
    XCTAssertTrue(mixed[0].hasPrefix("BLAS SkylakeX (AVX-512; probed): c"), "\(mixed)")
    XCTAssertEqual(StatusView.kernelLines([worker("a", "Zen"), worker("b", nil)]).count, 2)
    XCTAssertEqual(StatusView.kernelLines([worker("a", "Zen")]), ["BLAS Zen: a"])
  }

  func testWrapBreaksBetweenWordsAndIndentsWhatFollows() {
    XCTAssertEqual(
      StatusView.wrap("  alpha beta gamma delta", width: 12), ["  alpha beta", "    gamma", "    delta"])
    XCTAssertEqual(StatusView.wrap("short", width: 80), ["short"])
  }
}
