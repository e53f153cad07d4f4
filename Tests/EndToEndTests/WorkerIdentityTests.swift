import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// What a worker may take (what it announces it evaluates) and whom a worker id belongs to (its
/// connection, and with CURVE its key): real coordinator and worker processes on tcp://127.0.0.1.
final class WorkerIdentityTests: XCTestCase {
  /// A grid of `seeds` runs of one point on BallCircle, evaluated with `episodes` episodes (0: train only).
  static func writeGrid(_ cluster: ClusterHarness, name: String, episodes: Int, seeds: Int) throws -> URL {
    let grid: [String: Any] = [
      "name": name, "task": "OfflineBallCircle-v0", "dataset": try CLI.datasetFile(), "algorithm": "trac",
      "base": ["bc_steps": 2, "steps": 4, "batch_size": 4], "cost_thresholds": [5],
      "seeds": Array(0..<seeds), "eval": ["episodes": episodes, "seed": 0],
    ]
    let url = cluster.root.appendingPathComponent("\(name).json")
    try JSONSerialization.data(withJSONObject: grid).write(to: url)
    return url
  }

  func testANoEvaluateWorkerGetsOnlyTrainOnlyRunsAndStatusSaysWhyTheOthersWait() throws {
    let cluster = ClusterHarness("capabilities")
    try cluster.startCoordinator()
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds())
    try cluster.startWorker("train-only", trainer: trainer, slots: 2, extra: ["--no-evaluate"])
    let evaluated = try cluster.client([
      "submit", try Self.writeGrid(cluster, name: "evaluated", episodes: 2, seeds: 3).path,
    ])
    XCTAssertEqual(evaluated.status, 0, evaluated.stderr)

    let waiting = try cluster.waitFor("the worker to be online and the runs to wait") {
      $0.workers.first?.state == "online" && !$0.waitingFor.isEmpty
    }
    XCTAssertEqual(waiting.workers.first?.evaluates, [], "--no-evaluate announces that it evaluates nothing")
    XCTAssertEqual(
      waiting.waitingFor,
      [
        StatusReply.Waiting(
          evaluates: "bullet_gym", runs: 3,
          reason: "3 runs need a worker that evaluates bullet_gym; no online worker does")
      ])
    let table = try cluster.client(["status"])
    XCTAssertTrue(
      table.stdout.contains("3 runs need a worker that evaluates bullet_gym; no online worker does"),
      table.stdout)

    // Train-only runs submitted after them run at once on it.
    let trainOnly = try cluster.client([
      "submit", try Self.writeGrid(cluster, name: "train-only", episodes: 0, seeds: 2).path, "--wait",
    ])
    XCTAssertEqual(trainOnly.status, 0, trainOnly.stderr + cluster.logs())
    let after = try cluster.status()
    XCTAssertEqual(after.sweeps.first { $0.name == "train-only" }?.done, 2)
    let stillWaiting = try XCTUnwrap(after.sweeps.first { $0.name == "evaluated" })
    XCTAssertEqual(stillWaiting.pending, 3)
    XCTAssertEqual(stillWaiting.running, 0)
    XCTAssertEqual(
      FakeTrainer.invocations(of: trainer).count, 2, "only the train-only runs were assigned to it")
    XCTAssertEqual(after.waitingFor.first?.runs, 3)

    // A worker with the BulletGym evaluator (this checkout's .venv) takes the evaluated runs.
    let evaluator = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds())
    try cluster.startWorker("evaluator", trainer: evaluator, slots: 3)
    let done = try cluster.waitFor("the evaluated runs") { status in
      status.sweeps.first { $0.name == "evaluated" }?.done == 3
    }
    XCTAssertEqual(done.waitingFor, [])
    XCTAssertTrue(done.workers.contains { $0.evaluates.contains("bullet_gym") }, "\(done.workers)")
    XCTAssertEqual(FakeTrainer.invocations(of: trainer).count, 2, "still nothing with evaluation for it")
  }

  func testAConnectionSpeaksOnlyForItsOwnWorkerID() throws {
    let cluster = ClusterHarness("routing-id")
    try cluster.startCoordinator()
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .seconds(60)))
    try cluster.startWorker("honest", trainer: trainer)
    _ = try cluster.client(["submit", try Self.writeGrid(cluster, name: "slow", episodes: 0, seeds: 1).path])
    let running = try cluster.waitFor("the run to start") { $0.workers.first?.running.count == 1 }
    let worker = try WorkerID(running.workers[0].id)
    let attempt = AttemptID(run: try RunID(running.workers[0].running[0]), counted: 1)

    // Another connection (its own routing id) says hello and reports a failure under that id.
    let impostor = try Peer(endpoint: cluster.endpoint, routingID: "impostor-0001")
    let hello = try impostor.exchange(
      WireMessage(
        .hello,
        Hello(workerID: worker, host: "elsewhere", slots: 1, trainerVersion: "x", running: [], spooled: [])))
    XCTAssertEqual(hello.code, .refused, hello.message)
    XCTAssertTrue(hello.message.contains("not this connection's routing id"), hello.message)
    let result = try impostor.exchange(
      WireMessage(
        .result,
        ResultMessage(
          workerID: worker, attempt: attempt, outcome: .failed, exitStatus: 1, stderrTail: "forged", files: []
        )))
    XCTAssertEqual(result.code, .refused, result.message)
    let status = try cluster.status()
    XCTAssertEqual(status.workers.map(\.id), [worker.rawValue], "no second worker under that id")
    XCTAssertEqual(status.workers[0].running, [attempt.run.rawValue], "the run is still the honest worker's")
    XCTAssertEqual(status.workers[0].host, running.workers[0].host)
    XCTAssertEqual(status.recentFailures.count, 0, "the forged failure was not recorded")
  }

  func testWithCurveAWorkerIDBelongsToItsKeyAndQuarantineFollowsTheKey() throws {
    let cluster = ClusterHarness("curve-identity")
    let keys = cluster.root.appendingPathComponent("keys")
    let authorized = keys.appendingPathComponent("authorized")
    for (name, directory) in [
      ("coordinator", keys), ("node1", authorized), ("node2", authorized), ("node3", authorized),
      ("me", authorized),
    ] {
      let made = try CLI.run(CLI.binary, ["keys", "generate", "--out", directory.path, "--name", name])
      XCTAssertEqual(made.status, 0, made.stderr)
    }
    let secret = { (name: String) in authorized.appendingPathComponent("\(name).key") }
    let serverKeyFile = keys.appendingPathComponent("coordinator.pub")
    let curve = { (name: String) in ["--curve-secret", secret(name).path, "--server-key", serverKeyFile.path]
    }
    // Leases of 6 s: the honest worker is stopped (SIGSTOP) while the impostor speaks, and keeps its run.
    let coordinatorArguments = [
      "--heartbeat-interval", "2", "--curve-secret", keys.appendingPathComponent("coordinator.key").path,
      "--authorized-keys", authorized.path,
    ]
    try cluster.startCoordinator(coordinatorArguments)
    cluster.clientArguments = curve("me")
    let log = { (try? String(contentsOf: cluster.coordinatorLog, encoding: .utf8)) ?? "" }

    // node1's worker registers its id and runs a long attempt.
    let slow = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .seconds(60)))
    try cluster.startWorker("a", trainer: slow, extra: curve("node1"))
    _ = try cluster.client(["submit", try Self.writeGrid(cluster, name: "slow", episodes: 0, seeds: 1).path])
    let running = try cluster.waitFor("the run to start") { $0.workers.first?.running.count == 1 }
    let worker = try WorkerID(running.workers[0].id)
    let attempt = AttemptID(run: try RunID(running.workers[0].running[0]), counted: 1)

    // node2, with node1's worker id as its routing id, can neither say hello as it nor report on its
    // attempt. (ZeroMQ gives the routing id to the newest connection: the honest worker is stopped
    // meanwhile, so that the refusals come back here.)
    cluster.signal(worker: "a", SIGSTOP)
    let impostor = try Peer(
      endpoint: cluster.endpoint, routingID: worker.rawValue,
      curve: CurveClientKeys(
        pair: try CurveKeyFile.readSecret(secret("node2")),
        serverKey: try CurveKeyFile.readPublic(serverKeyFile)))
    let result = try impostor.exchange(
      WireMessage(
        .result,
        ResultMessage(
          workerID: worker, attempt: attempt, outcome: .failed, exitStatus: 1, stderrTail: "forged", files: []
        )))
    XCTAssertEqual(result.code, .keyMismatch, result.message)
    XCTAssertEqual(
      result.subject, try CurveKeyFile.readSecret(secret("node2")).publicKey.z85, "the refused key")
    XCTAssertTrue(result.message.contains("belongs to another CURVE key"), result.message)
    let hello = try impostor.exchange(
      WireMessage(
        .hello,
        Hello(workerID: worker, host: "elsewhere", slots: 4, trainerVersion: "x", running: [], spooled: [])))
    XCTAssertEqual(hello.code, .keyMismatch, hello.message)
    impostor.close()
    var status = try cluster.status()
    XCTAssertEqual(status.recentFailures.count, 0, "the forged failure was not recorded")
    XCTAssertEqual(status.workers.first?.host, running.workers[0].host, "the hello was not taken")
    XCTAssertEqual(status.workers.first?.slots, 1)
    XCTAssertEqual(status.workers.count, 1)
    cluster.signal(worker: "a", SIGCONT)
    cluster.signal(worker: "a", SIGTERM)
    cluster.workers["a"]?.waitUntilExit()

    // A worker process with node2's key and a copy of that worker's id stops, saying why.
    let copied = cluster.root.appendingPathComponent("worker-copy")
    try FileManager.default.createDirectory(at: copied, withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      at: cluster.root.appendingPathComponent("worker-a/worker-id"),
      to: copied.appendingPathComponent("worker-id"))
    let copy = try CLI.run(
      CLI.binary,
      ["worker", "--connect", cluster.endpoint, "--work-dir", copied.path, "--trainer", slow.path]
        + curve("node2"))
    XCTAssertNotEqual(copy.status, 0)
    XCTAssertTrue(copy.stderr.contains("does not accept this worker's key"), copy.stderr)
    XCTAssertTrue(log().contains("belongs to another CURVE key"), log())

    // node3's worker fails three times: quarantined.
    let failing = try FakeTrainer.make(in: cluster.root, behaviour: .fails())
    try cluster.startWorker("b", trainer: failing, extra: curve("node3"))
    _ = try cluster.client([
      "submit", try Self.writeGrid(cluster, name: "doomed", episodes: 0, seeds: 6).path,
    ])
    status = try cluster.waitFor("the quarantine") { status in
      status.workers.contains { $0.quarantined }
    }
    let quarantined = try XCTUnwrap(status.workers.first { $0.quarantined }).id
    XCTAssertNotEqual(quarantined, worker.rawValue)
    XCTAssertEqual(FakeTrainer.invocations(of: failing).count, 3)
    cluster.signal(worker: "b", SIGTERM)
    cluster.workers["b"]?.waitUntilExit()

    // The coordinator restarts; node3's worker comes back with its id, still quarantined, and the same
    // key with a fresh work directory (a new id) is quarantined too.
    cluster.stopCoordinator()
    try cluster.startCoordinator(coordinatorArguments)
    try cluster.startWorker("b", trainer: failing, extra: curve("node3"))
    try cluster.startWorker("fresh", trainer: failing, extra: curve("node3"))
    status = try cluster.waitFor("both node3 workers online") { status in
      status.workers.filter { $0.state == "online" }.count == 2
    }
    let node3 = status.workers.filter { $0.state == "online" }
    XCTAssertTrue(node3.contains { $0.id == quarantined && $0.quarantined }, "\(node3)")
    XCTAssertTrue(node3.allSatisfy(\.quarantined), "the same key with a new worker id: \(node3)")
    XCTAssertEqual(FakeTrainer.invocations(of: failing).count, 3, "no new work for a quarantined key")
    XCTAssertTrue(log().contains("its CURVE key is that of quarantined worker \(quarantined)"), log())

    // Releasing the id releases the key (both workers stopped first: they would fail again).
    for name in ["b", "fresh"] {
      cluster.signal(worker: name, SIGTERM)
      cluster.workers[name]?.waitUntilExit()
    }
    let released = try cluster.client(["release", quarantined])
    XCTAssertEqual(released.status, 0, released.stderr)
    status = try cluster.status()
    XCTAssertEqual(status.workers.filter(\.quarantined).map(\.id), [])
  }
}

/// A raw DEALER peer: sends one message and waits for the coordinator's `error` answer.
private final class Peer {
  let context = ZMQContext()
  var socket: ZMQSocket?

  init(endpoint: String, routingID: String, curve: CurveClientKeys? = nil) throws {
    let socket = try ZMQSocket(context: context, kind: .dealer)
    try socket.setRoutingID(routingID)
    if let curve { try socket.makeCurveClient(curve.pair, server: curve.serverKey) }
    try socket.connect(endpoint)
    self.socket = socket
  }

  func exchange(_ message: WireMessage) throws -> ErrorMessage {
    guard let socket else { throw ClusterHarness.HarnessError("closed") }
    try socket.send(message.frames)
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
      guard let frames = try socket.receive(timeout: .milliseconds(200)) else { continue }
      let reply = try WireMessage.decode(frames)
      if reply.type == .error { return try reply.decodeBody(ErrorMessage.self) }
    }
    throw ClusterHarness.HarnessError("no error answer to \(message.type.rawValue)")
  }

  func close() { socket = nil }
}
