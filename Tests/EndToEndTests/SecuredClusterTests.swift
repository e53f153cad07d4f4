import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// A coordinator started with CURVE keys, with real worker and client processes on tcp://127.0.0.1:
/// only keys in its --authorized-keys directory get work or answers.
final class SecuredClusterTests: XCTestCase {
  func testOnlyAnAuthorizedWorkerGetsWorkAndRefusedKeysAreLogged() throws {
    let cluster = ClusterHarness("curve")
    let keys = cluster.root.appendingPathComponent("keys")
    let authorized = keys.appendingPathComponent("authorized")
    func generate(_ name: String, into directory: URL) throws {
      let made = try CLI.run(CLI.binary, ["keys", "generate", "--out", directory.path, "--name", name])
      XCTAssertEqual(made.status, 0, made.stderr)
      XCTAssertTrue(made.stdout.contains("\(name).pub"), made.stdout)
    }
    try generate("coordinator", into: keys)
    try generate("node1", into: authorized)
    try generate("me", into: authorized)
    try generate("intruder", into: keys)
    let again = try CLI.run(CLI.binary, ["keys", "generate", "--out", keys.path, "--name", "intruder"])
    XCTAssertEqual(again.status, 65, "an existing key is never overwritten")
    XCTAssertTrue(again.stderr.contains("intruder.key already exists"), again.stderr)
    // The secret key files of the workers live elsewhere in real life; only *.pub are read.
    let key = { (name: String) in
      (authorized.appendingPathComponent("\(name).key").path, keys.appendingPathComponent("\(name).key").path)
    }
    let serverKey = keys.appendingPathComponent("coordinator.pub").path
    let intruderKey = try CurveKeyFile.readPublic(keys.appendingPathComponent("intruder.pub"))

    try cluster.startCoordinator([
      "--heartbeat-interval", "0.1", "--curve-secret", keys.appendingPathComponent("coordinator.key").path,
      "--authorized-keys", authorized.path,
    ])
    let log = { (try? String(contentsOf: cluster.coordinatorLog, encoding: .utf8)) ?? "" }
    XCTAssertTrue(log().contains("CURVE security on"), log())

    let good = try FakeTrainer.make(
      in: cluster.root.appendingPathComponent("good"), behaviour: .succeeds(after: .milliseconds(100)))
    let intruder = try FakeTrainer.make(
      in: cluster.root.appendingPathComponent("intruder"), behaviour: .succeeds())
    let plain = try FakeTrainer.make(in: cluster.root.appendingPathComponent("plain"), behaviour: .succeeds())
    try cluster.startWorker(
      "intruder", trainer: intruder, extra: ["--curve-secret", key("intruder").1, "--server-key", serverKey])
    try cluster.startWorker("plaintext", trainer: plain)

    // A client without keys, or with a key the coordinator does not know, gets no answer.
    let plaintextStatus = try cluster.client(["status", "--timeout", "1"])
    XCTAssertEqual(plaintextStatus.status, 1)
    XCTAssertTrue(plaintextStatus.stderr.contains("--curve-secret"), plaintextStatus.stderr)
    let strangerStatus = try cluster.client([
      "status", "--timeout", "1", "--curve-secret", key("intruder").1, "--server-key", serverKey,
    ])
    XCTAssertEqual(strangerStatus.status, 1)
    XCTAssertTrue(strangerStatus.stderr.contains("authorized-keys"), strangerStatus.stderr)
    // A missing key file is named.
    let missing = try cluster.client([
      "status", "--curve-secret", "/nonexistent/me.key", "--server-key", serverKey,
    ])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("/nonexistent/me.key"), missing.stderr)

    cluster.clientArguments = ["--curve-secret", key("me").0, "--server-key", serverKey]
    let grid = try cluster.writeGrid(
      name: "secure", alphas: [0.1, 0.2], seeds: [0, 1], dataset: try CLI.datasetFile())
    let sweep = try cluster.client(["submit", grid.path])
    XCTAssertEqual(sweep.status, 0, sweep.stderr + cluster.logs())
    // Only now the authorized worker starts: everything it is given, the others could have had.
    try cluster.startWorker(
      "node1", trainer: good, extra: ["--curve-secret", key("node1").0, "--server-key", serverKey])
    let status = try cluster.waitFor("the sweep to finish") { $0.sweeps.first?.done == 4 }
    XCTAssertEqual(status.sweeps.first?.total, 4)
    XCTAssertEqual(status.workers.count, 1, "only the authorized worker is known: \(status.workers)")
    XCTAssertEqual(FakeTrainer.invocations(of: good).count, 4)
    XCTAssertEqual(FakeTrainer.invocations(of: intruder).count, 0, "the unauthorized worker got nothing")
    XCTAssertEqual(FakeTrainer.invocations(of: plain).count, 0, "the plaintext worker got nothing")
    XCTAssertTrue(log().contains("key not authorized"), log())
    XCTAssertTrue(log().contains(intruderKey.z85), "the refused key is named: \(log())")
    XCTAssertTrue(log().contains("127.0.0.1"), "with the peer's address")
    let results = try cluster.client(["results", "secure", "--format", "csv"])
    XCTAssertEqual(results.stdout.split(separator: "\n").count, 5, results.stdout + results.stderr)

    // A key added to the directory is authorized on SIGHUP, without a restart.
    try generate("newcomer", into: keys)
    let newcomer = [
      "status", "--timeout", "1", "--curve-secret", key("newcomer").1, "--server-key", serverKey,
    ]
    cluster.clientArguments = []
    XCTAssertEqual(try cluster.client(newcomer).status, 1, "not yet authorized")
    try FileManager.default.copyItem(
      at: keys.appendingPathComponent("newcomer.pub"), to: authorized.appendingPathComponent("newcomer.pub"))
    kill(try XCTUnwrap(cluster.coordinator).processIdentifier, SIGHUP)
    let deadline = Date().addingTimeInterval(20)
    while !log().contains("authorized=3") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    XCTAssertTrue(log().contains("authorized keys reloaded"), log())
    let welcomed = try cluster.client(newcomer)
    XCTAssertEqual(welcomed.status, 0, welcomed.stderr)
  }

  func testBadKeyOptionsAreClearErrors() throws {
    let root = temporaryDirectory("curve-options")
    let made = try CLI.run(CLI.binary, ["keys", "generate", "--out", root.path, "--name", "c"])
    XCTAssertEqual(made.status, 0, made.stderr)
    let key = root.appendingPathComponent("c.key").path
    let half = try CLI.run(
      CLI.binary, ["coordinator", "--state", root.appendingPathComponent("s").path, "--curve-secret", key])
    XCTAssertNotEqual(half.status, 0)
    XCTAssertTrue(half.stderr.contains("--authorized-keys"), half.stderr)
    let wrongFile = try CLI.run(
      CLI.binary,
      [
        "coordinator", "--bind", "tcp://127.0.0.1:*", "--state", root.appendingPathComponent("s").path,
        "--curve-secret", root.appendingPathComponent("c.pub").path, "--authorized-keys", root.path,
      ])
    XCTAssertNotEqual(wrongFile.status, 0)
    XCTAssertTrue(wrongFile.stderr.contains("c.pub"), wrongFile.stderr)
    let worker = try CLI.run(
      CLI.binary,
      ["worker", "--connect", "tcp://127.0.0.1:9", "--curve-secret", key, "--server-key", "/nonexistent.pub"])
    XCTAssertNotEqual(worker.status, 0)
    XCTAssertTrue(worker.stderr.contains("/nonexistent.pub"), worker.stderr)
  }
}
