import Foundation
import SweepWire
import SweepWorker
import TracCore
import TracSweepTesting
import XCTest

/// The worker agent against a fake coordinator: a real ROUTER socket on tcp://127.0.0.1 driven by
/// the test, and the fake trainer script in place of `trac-sweep train`.
final class WorkerAgentTests: XCTestCase {
  // MARK: - A run, start to acknowledgement

  func testAssignedRunIsFetchedTrainedReportedAndSpooledUntilAcknowledged() throws {
    // 2.5 MiB: three chunks, asked for one at a time.
    let dataset = randomData(count: 5 << 19)
    let harness = try startWorker(.succeeds(after: .milliseconds(700)), evaluate: true)
    let coordinator = harness.coordinator

    let hello = try coordinator.expect(.hello).decodeBody(Hello.self)
    let storedID = fileText(harness.workDirectory.appendingPathComponent("worker-id"))
      .trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertEqual(hello.workerID, harness.agent.workerID)
    XCTAssertEqual(hello.workerID.rawValue, storedID)
    XCTAssertNotNil(
      hello.workerID.rawValue.range(of: #"^[a-z0-9-]+-[0-9a-f]{8}$"#, options: .regularExpression))
    XCTAssertEqual(coordinator.route, Data(storedID.utf8), "the DEALER's routing id is the worker id")
    XCTAssertEqual(hello.slots, 2)
    XCTAssertEqual(hello.running, [])
    XCTAssertEqual(hello.spooled, [])
    try coordinator.welcome()

    let assign = makeAssign(dataset: dataset)
    try coordinator.send(WireMessage(.assign, assign))
    var offsets: [Int] = []
    for _ in 0..<3 {
      let fetch = try coordinator.expect(.fetch).decodeBody(Fetch.self)
      XCTAssertEqual(fetch.sha256, assign.dataset.sha256)
      offsets.append(fetch.offset)
      XCTAssertEqual(fetch.length, min(1 << 20, dataset.count - fetch.offset))
      try coordinator.serve(fetch, from: dataset)
    }
    XCTAssertEqual(offsets, [0, 1 << 20, 2 << 20])

    let result = try coordinator.expect(.result, within: .seconds(10))
    let body = try result.decodeBody(ResultMessage.self)
    XCTAssertEqual(body.workerID, hello.workerID)
    XCTAssertEqual(body.attempt, assign.attempt)
    XCTAssertEqual(body.outcome, .succeeded)
    XCTAssertEqual(body.exitStatus, 0)
    XCTAssertEqual(body.files.map(\.name.rawValue), ["run.json", "policy.safetensors", "train.jsonl"])
    XCTAssertEqual(result.attachments.count, 3)
    for (file, data) in zip(body.files, result.attachments) {
      XCTAssertEqual(file.size, data.count, file.name.rawValue)
      XCTAssertEqual(file.sha256, SHA256Digest(of: data), file.name.rawValue)
    }
    XCTAssertTrue(String(decoding: result.attachments[0], as: UTF8.self).contains("fake_trainer"))

    // Heartbeats went on while the trainer ran, listing the attempt (their timing is
    // WorkerStateMachineTests' business).
    XCTAssertTrue(
      coordinator.heartbeats.contains { $0.body.running == [assign.attempt] },
      "no heartbeat listed the running attempt: \(coordinator.heartbeats.count) heartbeats")

    // The trainer got every input of the run, and the verified dataset from the cache.
    let cached = harness.workDirectory.appendingPathComponent("datasets/\(assign.dataset.sha256).hdf5")
    XCTAssertEqual(try Data(contentsOf: cached), dataset)
    let attemptDirectory = harness.attemptDirectory(assign.attempt)
    XCTAssertEqual(
      harness.trainerArguments(),
      [
        "train", "--spec", attemptDirectory.appendingPathComponent(RunFiles.spec).path, "--dataset",
        cached.path, "--evaluate", "--out", attemptDirectory.path,
        // Checkpoints go into the attempt's directory, from where the worker ships them.
        "--checkpoint-dir", attemptDirectory.appendingPathComponent("checkpoints").path,
      ])
    // The run travels as its spec file: the canonical JSON of the assigned spec.
    XCTAssertEqual(
      try Data(contentsOf: attemptDirectory.appendingPathComponent(RunFiles.spec)),
      RunSpecFile.encode(assign.spec))

    // Spooled (and its directory kept) until the coordinator acknowledges it, then deleted.
    let entry = harness.spoolEntry(assign.attempt)
    coordinator.pump(for: .milliseconds(300))
    XCTAssertTrue(isDirectory(entry), "the result left the spool before its ack")
    XCTAssertTrue(isDirectory(attemptDirectory))
    try coordinator.send(WireMessage(.ack, Ack(attempt: assign.attempt, duplicate: false)))
    XCTAssertTrue(
      coordinator.pump(within: .seconds(3)) { !isDirectory(entry) && !isDirectory(attemptDirectory) },
      "the acknowledged result is still on the worker's disk")
    XCTAssertEqual(coordinator.pending(.result), 0, "the result was sent twice without a welcome")
  }

  // MARK: - Cancel

  func testCancelStopsTheTrainerAndNothingIsReported() throws {
    let harness = try startWorker(.hangs)
    let coordinator = harness.coordinator
    _ = try coordinator.expect(.hello)
    try coordinator.welcome()
    let dataset = randomData(count: 4096)
    let assign = makeAssign(dataset: dataset)
    try coordinator.send(WireMessage(.assign, assign))
    try coordinator.serve(try coordinator.expect(.fetch).decodeBody(Fetch.self), from: dataset)
    let attemptDirectory = harness.attemptDirectory(assign.attempt)
    XCTAssertTrue(
      coordinator.pump(within: .seconds(5)) {
        fileText(attemptDirectory.appendingPathComponent("stdout.log")).contains(FakeTrainer.readyLine)
      }, "the trainer never started")
    XCTAssertFalse(processes(mentioning: attemptDirectory.path).isEmpty)
    let heartbeatsBefore = coordinator.heartbeats.count

    try coordinator.send(WireMessage(.cancel, Cancel(attempt: assign.attempt)))
    XCTAssertTrue(
      coordinator.pump(within: .seconds(3)) {
        processes(mentioning: attemptDirectory.path).isEmpty && !isDirectory(attemptDirectory)
      }, "the cancelled trainer is still running, or its directory is left")
    coordinator.pump(for: .milliseconds(400))
    XCTAssertEqual(coordinator.pending(.result), 0, "a cancelled attempt was reported")
    XCTAssertFalse(isDirectory(harness.spoolEntry(assign.attempt)))
    let later = coordinator.heartbeats.dropFirst(heartbeatsBefore + 1)
    XCTAssertFalse(later.isEmpty)
    XCTAssertTrue(later.allSatisfy { $0.body.running.isEmpty }, "heartbeats still list the cancelled attempt")
  }

  // MARK: - Coordinator restart

  func testAfterACoordinatorRestartTheWorkerSaysHelloWithItsSpooledResultAndSendsItAgain() throws {
    let harness = try startWorker(.succeeds())
    let coordinator = harness.coordinator
    _ = try coordinator.expect(.hello)
    try coordinator.welcome()
    let dataset = randomData(count: 1000)
    let assign = makeAssign(dataset: dataset)
    try coordinator.send(WireMessage(.assign, assign))
    try coordinator.serve(try coordinator.expect(.fetch).decodeBody(Fetch.self), from: dataset)
    let first = try coordinator.expect(.result).decodeBody(ResultMessage.self)
    XCTAssertEqual(first.outcome, .succeeded)

    // The coordinator dies before acknowledging; a new one binds the same port and, not knowing the
    // worker, does not answer its heartbeats: the worker notices the silence and reconnects.
    try coordinator.restart(heartbeatReply: .none)
    let hello = try coordinator.expect(.hello, within: .seconds(5)).decodeBody(Hello.self)
    XCTAssertEqual(hello.spooled, [assign.attempt])
    XCTAssertEqual(hello.running, [])
    try coordinator.welcome()
    let again = try coordinator.expect(.result, within: .seconds(3))
    let body = try again.decodeBody(ResultMessage.self)
    XCTAssertEqual(body.attempt, assign.attempt)
    XCTAssertEqual(body.files, first.files)
    XCTAssertEqual(again.attachments.map { SHA256Digest(of: $0) }, first.files.map(\.sha256))
    try coordinator.send(WireMessage(.ack, Ack(attempt: assign.attempt, duplicate: false)))
    XCTAssertTrue(coordinator.pump(within: .seconds(3)) { !isDirectory(harness.spoolEntry(assign.attempt)) })
  }

  // MARK: - Failures

  func testAFailingTrainerIsReportedFailedWithItsStderrTail() throws {
    let stderr = "loading dataset\nerror: the trainer failed badly\n"
    let body = try runOneAttempt(.fails(status: 1, stderr: stderr))
    XCTAssertEqual(body.outcome, .failed)
    XCTAssertEqual(body.exitStatus, 1)
    XCTAssertEqual(body.stderrTail, "loading dataset\nerror: the trainer failed badly")
    XCTAssertEqual(body.files, [])
  }

  func testExitStatus65IsReportedAsAnInputError() throws {
    let body = try runOneAttempt(.inputError("error: no desirable segments at cost threshold 20\n"))
    XCTAssertEqual(body.outcome, .inputError)
    XCTAssertEqual(body.exitStatus, 65)
    XCTAssertEqual(body.stderrTail, "error: no desirable segments at cost threshold 20")
  }

  func testADatasetThatDoesNotMatchItsHashFailsTheAttemptWithoutRunningTheTrainer() throws {
    let harness = try startWorker(.succeeds())
    let coordinator = harness.coordinator
    _ = try coordinator.expect(.hello)
    try coordinator.welcome()
    let dataset = randomData(count: 3000)
    let assign = makeAssign(dataset: dataset)
    try coordinator.send(WireMessage(.assign, assign))
    try coordinator.serve(
      try coordinator.expect(.fetch).decodeBody(Fetch.self), from: randomData(count: 3000))
    let body = try coordinator.expect(.result).decodeBody(ResultMessage.self)
    XCTAssertEqual(body.outcome, .failed)
    XCTAssertNil(body.exitStatus)
    XCTAssertTrue(body.stderrTail.contains("cannot get dataset"), body.stderrTail)
    XCTAssertTrue(body.stderrTail.contains("hashes to"), body.stderrTail)
    XCTAssertEqual(FakeTrainer.invocations(of: harness.fakeTrainer), [])
    XCTAssertFalse(
      FileManager.default.fileExists(
        atPath: harness.workDirectory.appendingPathComponent("datasets/\(assign.dataset.sha256).hdf5").path))
  }

  // MARK: - Protocol versions

  func testACoordinatorOfAnotherProtocolVersionStopsTheWorkerWithAClearError() throws {
    let harness = try startWorker(.succeeds())
    let coordinator = harness.coordinator
    _ = try coordinator.expect(.hello)
    try coordinator.sendFrames([Data("trac-sweep/1".utf8), Data("welcome".utf8), Data("{}".utf8)])
    XCTAssertTrue(coordinator.pump(within: .seconds(3)) { harness.finished }, "the worker kept running")
    let error = try XCTUnwrap(harness.error as? WorkerAgentError)
    guard case .versionMismatch = error else { return XCTFail("\(error)") }
    XCTAssertTrue(error.description.contains("trac-sweep/1"), error.description)
    XCTAssertTrue(error.description.contains("trac-sweep/3"), error.description)
  }

  // MARK: - Graceful stop

  func testStopLetsARunningAttemptFinishSendsItsResultThenGoodbye() throws {
    let harness = try startWorker(.succeeds(after: .milliseconds(600)))
    let coordinator = harness.coordinator
    _ = try coordinator.expect(.hello)
    try coordinator.welcome()
    let dataset = randomData(count: 1000)
    let assign = makeAssign(dataset: dataset)
    try coordinator.send(WireMessage(.assign, assign))
    try coordinator.serve(try coordinator.expect(.fetch).decodeBody(Fetch.self), from: dataset)
    let attemptDirectory = harness.attemptDirectory(assign.attempt)
    XCTAssertTrue(
      coordinator.pump(within: .seconds(5)) {
        fileText(attemptDirectory.appendingPathComponent("stdout.log")).contains(FakeTrainer.readyLine)
      })
    harness.agent.stop()
    let result = try coordinator.expect(.result, within: .seconds(5)).decodeBody(ResultMessage.self)
    XCTAssertEqual(result.outcome, .succeeded)
    let goodbye = try coordinator.expect(.goodbye).decodeBody(Goodbye.self)
    XCTAssertEqual(goodbye.released, [])
    try coordinator.send(WireMessage(.ack, Ack(attempt: assign.attempt, duplicate: false)))
    XCTAssertTrue(coordinator.pump(within: .seconds(3)) { harness.finished }, "the worker did not exit")
    XCTAssertNil(harness.error)
    XCTAssertFalse(isDirectory(harness.spoolEntry(assign.attempt)))
  }

  func testStopPastTheGracePeriodReleasesTheAttemptAndReportsNothing() throws {
    let harness = try startWorker(.hangs, grace: .milliseconds(200))
    let coordinator = harness.coordinator
    _ = try coordinator.expect(.hello)
    try coordinator.welcome()
    let dataset = randomData(count: 1000)
    let assign = makeAssign(dataset: dataset)
    try coordinator.send(WireMessage(.assign, assign))
    try coordinator.serve(try coordinator.expect(.fetch).decodeBody(Fetch.self), from: dataset)
    let attemptDirectory = harness.attemptDirectory(assign.attempt)
    XCTAssertTrue(
      coordinator.pump(within: .seconds(5)) {
        fileText(attemptDirectory.appendingPathComponent("stdout.log")).contains(FakeTrainer.readyLine)
      })
    harness.agent.stop()
    let goodbye = try coordinator.expect(.goodbye, within: .seconds(5)).decodeBody(Goodbye.self)
    XCTAssertEqual(goodbye.released, [assign.attempt])
    XCTAssertEqual(coordinator.pending(.result), 0, "a released attempt was reported")
    XCTAssertTrue(coordinator.pump(within: .seconds(3)) { harness.finished }, "the worker did not exit")
    XCTAssertNil(harness.error)
    XCTAssertTrue(processes(mentioning: attemptDirectory.path).isEmpty)
    XCTAssertFalse(isDirectory(harness.spoolEntry(assign.attempt)))
  }

  // MARK: - Helpers

  /// hello, welcome, assign, one chunk: the attempt's result.
  private func runOneAttempt(_ behaviour: FakeTrainer.Behaviour) throws -> ResultMessage {
    let harness = try startWorker(behaviour)
    let coordinator = harness.coordinator
    _ = try coordinator.expect(.hello)
    try coordinator.welcome()
    let dataset = randomData(count: 2000)
    let assign = makeAssign(dataset: dataset)
    try coordinator.send(WireMessage(.assign, assign))
    try coordinator.serve(try coordinator.expect(.fetch).decodeBody(Fetch.self), from: dataset)
    let body = try coordinator.expect(.result).decodeBody(ResultMessage.self)
    XCTAssertEqual(body.attempt, assign.attempt)
    XCTAssertTrue(isDirectory(harness.spoolEntry(assign.attempt)), "a failure is spooled like a success")
    return body
  }

  private func startWorker(
    _ behaviour: FakeTrainer.Behaviour, evaluate: Bool = false, grace: Duration = .seconds(5)
  ) throws -> WorkerHarness {
    let scratch = try makeScratchDirectory(self)
    let coordinator = try FakeCoordinator()
    let fake = try FakeTrainer.make(in: scratch, behaviour: behaviour)
    // A wrapper that keeps the argument list, then runs the fake trainer.
    let argumentsFile = scratch.appendingPathComponent("trainer-arguments.txt")
    let wrapper = scratch.appendingPathComponent("trainer")
    let script = """
      #!/bin/sh
      printf '%s\\n' "$@" > '\(argumentsFile.path)'
      exec '\(fake.path)' "$@"

      """
    try Data(script.utf8).write(to: wrapper)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
    let workDirectory = scratch.appendingPathComponent("work", isDirectory: true)
    let configuration = WorkerAgent.Configuration(
      settings: .init(
        host: "testhost.example.org", slots: 2, trainerVersion: "test", grace: grace,
        terminationGrace: .seconds(2), acknowledgementWait: .milliseconds(500),
        heartbeatInterval: .milliseconds(100), liveness: 5, endpoint: coordinator.endpoint),
      workDirectory: workDirectory, trainer: wrapper, evaluate: evaluate)
    let harness = WorkerHarness(
      agent: try WorkerAgent(configuration: configuration), coordinator: coordinator,
      workDirectory: workDirectory, fakeTrainer: fake, argumentsFile: argumentsFile)
    harness.start()
    addTeardownBlock {
      harness.agent.stop(immediately: true)
      _ = coordinator.pump(within: .seconds(5)) { harness.finished }
    }
    return harness
  }

  private func makeAssign(dataset: Data) -> Assign {
    var hyperparameters = Hyperparameters()
    hyperparameters.bcSteps = 100
    hyperparameters.steps = 300
    let sha256 = SHA256Digest(of: dataset)
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: sha256.rawValue, algorithm: .trac,
      hyperparameters: hyperparameters,
      costThreshold: 20, seed: 7, evalEpisodes: 5, evalSeed: 3)
    return Assign(
      attempt: AttemptID(RunID(stringLiteral: spec.runID), 1), spec: spec,
      dataset: DatasetRef(sha256: sha256, size: dataset.count, name: "ballcircle.hdf5"),
      leaseMilliseconds: 500)
  }
}

// MARK: - The worker under test

private final class WorkerHarness: @unchecked Sendable {
  let agent: WorkerAgent
  let coordinator: FakeCoordinator
  let workDirectory: URL
  let fakeTrainer: URL
  let argumentsFile: URL
  private let lock = NSLock()
  private var done = false
  private var failure: Error?

  init(
    agent: WorkerAgent, coordinator: FakeCoordinator, workDirectory: URL, fakeTrainer: URL, argumentsFile: URL
  ) {
    self.agent = agent
    self.coordinator = coordinator
    self.workDirectory = workDirectory
    self.fakeTrainer = fakeTrainer
    self.argumentsFile = argumentsFile
  }

  func start() {
    let thread = Thread { [self] in
      var caught: Error?
      do { try agent.run() } catch { caught = error }
      lock.withLock {
        failure = caught
        done = true
      }
    }
    thread.name = "worker agent under test"
    thread.start()
  }

  var finished: Bool { lock.withLock { done } }
  var error: Error? { lock.withLock { failure } }

  func attemptDirectory(_ ref: AttemptID) -> URL {
    workDirectory.appendingPathComponent("runs/\(ref.run)/attempt-\(ref.number)", isDirectory: true)
  }

  func spoolEntry(_ ref: AttemptID) -> URL {
    workDirectory.appendingPathComponent("spool/\(ref.run).attempt-\(ref.number)", isDirectory: true)
  }

  func trainerArguments() -> [String] {
    fileText(argumentsFile).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(
      String.init)
  }
}

// MARK: - The fake coordinator

/// A ROUTER socket bound on tcp://127.0.0.1:* that the test drives: it keeps what the worker sends,
/// answers heartbeats as told, and sends what the test says.
private final class FakeCoordinator {
  enum HeartbeatReply {
    case known, unknown, none
  }

  private let context = ZMQContext()
  private var socket: ZMQSocket?
  let endpoint: String
  /// The worker's routing id, as last seen.
  private(set) var route: Data?
  var heartbeatReply = HeartbeatReply.none
  private(set) var heartbeats: [(at: ContinuousClock.Instant, body: Heartbeat)] = []
  /// Received, not yet taken by `expect`.
  private var inbox: [WireMessage] = []

  init() throws {
    let socket = try ZMQSocket(context: context, kind: .router)
    try socket.bind("tcp://127.0.0.1:*")
    endpoint = socket.lastEndpoint
    self.socket = socket
  }

  /// Closes the ROUTER (everything unacknowledged is lost) and binds a new one on the same port.
  func restart(heartbeatReply: HeartbeatReply) throws {
    socket = nil
    inbox = []
    route = nil
    self.heartbeatReply = heartbeatReply
    let deadline = ContinuousClock.now + .seconds(3)
    while true {
      let socket = try ZMQSocket(context: context, kind: .router)
      do {
        try socket.bind(endpoint)
        self.socket = socket
        return
      } catch {
        // The old listener may take a moment to close.
        if ContinuousClock.now > deadline { throw error }
        Thread.sleep(forTimeInterval: 0.02)
      }
    }
  }

  func send(_ message: WireMessage) throws {
    guard let socket, let route else { throw FakeError("no worker to send \(message.type.rawValue) to") }
    try socket.send([route] + message.frames)
  }

  func sendFrames(_ frames: [Data]) throws {
    guard let socket, let route else { throw FakeError("no worker to send to") }
    try socket.send([route] + frames)
  }

  func welcome(cancel: [AttemptID] = []) throws {
    try send(WireMessage(.welcome, Welcome(heartbeatIntervalMilliseconds: 100, liveness: 5, cancel: cancel)))
    heartbeatReply = .known
  }

  /// Answers a chunk request from `dataset`.
  func serve(_ fetch: Fetch, from dataset: Data) throws {
    let end = min(fetch.offset + fetch.length, dataset.count)
    try send(
      WireMessage(
        .chunk, Chunk(sha256: fetch.sha256, offset: fetch.offset, total: dataset.count),
        attachments: [dataset.subdata(in: fetch.offset..<end)]))
  }

  /// The next message of `type` (others stay in the inbox).
  func expect(
    _ type: MessageType, within timeout: Duration = .seconds(5), file: StaticString = #filePath,
    line: UInt = #line
  ) throws -> WireMessage {
    var found: WireMessage?
    _ = pump(within: timeout) {
      if let index = inbox.firstIndex(where: { $0.type == type }) { found = inbox.remove(at: index) }
      return found != nil
    }
    guard let found else {
      let seen = inbox.map(\.type.rawValue).joined(separator: ", ")
      XCTFail("no \(type.rawValue) within \(timeout); received [\(seen)]", file: file, line: line)
      throw FakeError("no \(type.rawValue)")
    }
    return found
  }

  func pending(_ type: MessageType) -> Int { inbox.filter { $0.type == type }.count }
  func hasPending(_ type: MessageType) -> Bool { pending(type) > 0 }

  /// Receives for `duration`.
  func pump(for duration: Duration) {
    _ = pump(within: duration) { false }
  }

  /// Receives until `condition` holds or `timeout` passes; returns whether it held.
  @discardableResult
  func pump(within timeout: Duration, until condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
      if condition() { return true }
      let left = deadline - ContinuousClock.now
      if left <= .zero { return false }
      receiveOne(timeout: min(left, .milliseconds(20)))
    }
  }

  private func receiveOne(timeout: Duration) {
    guard let socket else { return }
    guard let frames = try? socket.receive(timeout: timeout), frames.count > 1 else { return }
    route = frames[0]
    guard let message = try? WireMessage.decode(Array(frames.dropFirst())) else {
      XCTFail("the worker sent a malformed message")
      return
    }
    guard message.type == .heartbeat, let heartbeat = try? message.decodeBody(Heartbeat.self) else {
      inbox.append(message)
      return
    }
    heartbeats.append((ContinuousClock.now, heartbeat))
    switch heartbeatReply {
    case .known: try? send(WireMessage(.pong, Pong(known: true)))
    case .unknown: try? send(WireMessage(.pong, Pong(known: false)))
    case .none: break
    }
  }
}

private struct FakeError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

// MARK: - Small helpers

private func randomData(count: Int) -> Data {
  var generator = SystemRandomNumberGenerator()
  let words = (0..<(count + 7) / 8).map { _ in generator.next() as UInt64 }
  return words.withUnsafeBytes { Data($0.prefix(count)) }
}

private func isDirectory(_ url: URL) -> Bool {
  var directory: ObjCBool = false
  return FileManager.default.fileExists(atPath: url.path, isDirectory: &directory) && directory.boolValue
}

/// Living processes whose command line mentions `text` (the fake trainer gets its `--out`).
private func processes(mentioning text: String) -> [pid_t] {
  let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  return names.compactMap { pid_t($0) }.filter { pid in
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), isAlive(pid) else {
      return false
    }
    let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    return arguments.contains { $0.contains(text) }
  }
}
