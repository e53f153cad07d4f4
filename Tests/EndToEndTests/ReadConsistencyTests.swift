import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// Reads agree (docs/PROTOCOL.md, "Reads agree"): `status`, `results` and `report` answer from the same
/// committed state, so a run one read shows done has its row in every later read of any kind. Polled
/// together, in process, while two workers finish a sweep run after run.
final class ReadConsistencyTests: XCTestCase {
  /// A reply cell of any JSON type.
  struct Cell: Decodable {
    var text: String?
    init(from decoder: any Decoder) throws {
      let container = try decoder.singleValueContainer()
      text = (try? container.decode(String.self)) ?? (try? container.decode(Double.self)).map { "\($0)" }
    }
  }
  struct Table: Decodable {
    var columns: [String]
    var rows: [[Cell]]
  }

  func testStatusResultsAndReportNeverDisagreeOverAThousandPolls() throws {
    let cluster = ClusterHarness("reads")
    try cluster.startCoordinator()
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .milliseconds(30)))
    try cluster.startWorker("a", trainer: trainer, slots: 2)
    try cluster.startWorker("b", trainer: trainer, slots: 2)
    let alphas = (1...20).map { Double($0) / 100 }
    let grid = try cluster.writeGrid(
      name: "reads", alphas: alphas, seeds: [0, 1, 2], dataset: try CLI.datasetFile())
    let submitted = try cluster.client(["submit", grid.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr)
    let sweep = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let total = alphas.count * 3

    let client = try RequestClient(endpoint: cluster.endpoint)
    var polls = 0
    var inversions: [String] = []
    var lastSeen = 0  // runs seen done by the latest read of any kind
    func observe(_ done: Int, _ what: String) {
      if done < lastSeen { inversions.append("\(what) saw \(done) done after a read saw \(lastSeen)") }
      lastSeen = max(lastSeen, done)
    }
    var underWay = 0  // polls while the sweep was half done
    while polls < 1000 || lastSeen < total {
      let status = try client.call(
        ClientRequest(command: .status, sweep: sweep), expecting: StatusReply.self)
      observe(status.sweeps.first?.done ?? 0, "status")
      let results = try client.call(ClientRequest(command: .results, sweep: sweep), expecting: Table.self)
      observe(results.rows.count, "results")
      let report = try client.call(ClientRequest(command: .report, sweep: sweep), expecting: Table.self)
      let state = try XCTUnwrap(report.columns.firstIndex(of: "state"))
      observe(report.rows.filter { $0[state].text == "done" }.count, "report")
      if lastSeen > 0 && lastSeen < total { underWay += 1 }
      polls += 1
      XCTAssertLessThan(polls, 100_000, "the sweep did not finish:\n\(cluster.logs())")
      if polls >= 100_000 { break }
    }
    XCTAssertGreaterThan(underWay, 0, "the polls never saw the sweep half done: nothing was tested under way")
    XCTAssertEqual(inversions, [], "\(inversions.count) inversions in \(polls) polls")
    print(
      "reads agree: \(polls) polls of status, results and report while \(total) runs completed, 0 inversions")
  }
}
