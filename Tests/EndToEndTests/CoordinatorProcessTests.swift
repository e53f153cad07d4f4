import Foundation
import SweepWire
import TracCore
import XCTest

/// The coordinator as a real process: submit, restart, refusals.
final class CoordinatorProcessTests: XCTestCase {
  func testSubmitIsIdempotentAndTheSweepSurvivesARestart() throws {
    let cluster = ClusterHarness("submit")
    try cluster.startCoordinator()
    let dataset = try CLI.datasetFile()
    let grid = try cluster.writeGrid(name: "alphas", alphas: [0.1, 0.2], seeds: [0, 1], dataset: dataset)
    let first = try cluster.client(["submit", grid.path])
    XCTAssertEqual(first.status, 0, first.stderr + cluster.logs())
    let sweepID = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertEqual(sweepID.count, 8)
    // Base alpha 0.2 is in the list: 2 points x 2 seeds.
    XCTAssertTrue(first.stderr.contains("4 runs"), first.stderr)
    let again = try cluster.client(["submit", grid.path])
    XCTAssertEqual(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines), sweepID)
    XCTAssertTrue(again.stderr.contains("already submitted"), again.stderr)

    // A different grid under the same name is refused with what differs.
    let changed = try cluster.writeGrid(name: "alphas", alphas: [0.1, 0.3], seeds: [0, 1], dataset: dataset)
    let refused = try cluster.client(["submit", changed.path])
    XCTAssertNotEqual(refused.status, 0)
    XCTAssertTrue(refused.stderr.contains("alpha"), refused.stderr)

    cluster.stopCoordinator(SIGTERM)
    XCTAssertTrue(
      try String(contentsOf: cluster.coordinatorLog, encoding: .utf8).contains("coordinator stopped"))
    try cluster.startCoordinator()
    let status = try cluster.status()
    XCTAssertEqual(status.sweeps.map(\.id), [sweepID])
    XCTAssertEqual(status.sweeps.first?.pending, 4)
    XCTAssertTrue(try cluster.client(["status"]).stdout.split(separator: "\n").allSatisfy { $0.count <= 80 })
  }

  func testMalformedGridIsRefusedWithTheJSONPath() throws {
    let directory = temporaryDirectory("badgrid")
    let grid = directory.appendingPathComponent("bad.json")
    try Data(
      #"{"name": "bad", "task": "OfflineBallCircle-v0", "algorithm": "trac", "base": {"alpah": 0.3}, "cost_thresholds": [10], "seeds": [0]}"#
        .utf8
    ).write(to: grid)
    let result = try CLI.run(CLI.binary, ["submit", grid.path, "--coordinator", "tcp://127.0.0.1:1"])
    XCTAssertEqual(result.status, 64)
    XCTAssertTrue(result.stderr.contains("$.base.alpah"), result.stderr)
  }

  func testAnotherProtocolVersionGetsAClearErrorAndTheCoordinatorKeepsServing() throws {
    let cluster = ClusterHarness("version")
    try cluster.startCoordinator()
    let socket = try ZMQSocket(context: ZMQContext(), kind: .dealer)
    try socket.connect(cluster.endpoint)
    try socket.send([Data("trac-sweep/1".utf8), Data("hello".utf8), Data("{}".utf8)])
    let answer = try WireMessage.decode(try XCTUnwrap(try socket.receive(timeout: .seconds(10))))
    XCTAssertEqual(answer.type, .error)
    XCTAssertTrue(try answer.decodeBody(ErrorMessage.self).message.contains("version mismatch"))
    for garbage in [
      [Data("hello".utf8)], [Data(WireMessage.protocolTag.utf8), Data("hello".utf8), Data("{".utf8)],
    ] {
      try socket.send(garbage)
      _ = try socket.receive(timeout: .seconds(5))
    }
    XCTAssertEqual(try cluster.status().sweeps.count, 0, "still serving")
  }

  func testUnreachableCoordinatorIsAClearError() throws {
    let result = try CLI.run(
      CLI.binary, ["status", "--coordinator", "tcp://127.0.0.1:9", "--timeout", "0.5"])
    XCTAssertEqual(result.status, 1)
    XCTAssertTrue(result.stderr.contains("nothing listens at tcp://127.0.0.1:9"), result.stderr)
  }
}
