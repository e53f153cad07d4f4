import Foundation
import SweepWire
import SweepWorker
import TracCore
import XCTest

/// The shell's wiring (`WorkerAgent`: decoding, carrying out actions, the blob cache, the spool) over
/// an in-memory transport: no sockets, the test plays the coordinator.
final class WorkerAgentWiringTests: XCTestCase {
  func testTheShellSaysHelloFetchesIntoTheCacheRunsTheTrainerReportsAndSaysGoodbye() throws {
    let scratch = try makeScratchDirectory(self)
    let transport = InMemoryTransport()
    let configuration = WorkerAgent.Configuration(
      settings: .init(
        host: "memhost", slots: 1, trainerVersion: "test", grace: .seconds(5),
        acknowledgementWait: .milliseconds(200), heartbeatInterval: .milliseconds(50), liveness: 100,
        endpoint: "memory://coordinator"),
      workDirectory: scratch.appendingPathComponent("work"), trainer: URL(fileURLWithPath: "/bin/false"),
      evaluate: false)
    let agent = try WorkerAgent(configuration: configuration, transport: transport)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      try? agent.run()
      done.signal()
    }
    thread.start()
    addTeardownBlock {
      agent.stop(immediately: true)
      _ = done.wait(timeout: .now() + 10)
    }

    let hello = try XCTUnwrap(transport.next(.hello)).decodeBody(Hello.self)
    XCTAssertEqual(hello.host, "memhost")
    XCTAssertEqual(hello.running, [])
    transport.deliver(
      WireMessage(.welcome, Welcome(heartbeatIntervalMilliseconds: 50, liveness: 100, cancel: [])))
    XCTAssertNotNil(transport.next(.heartbeat), "heartbeats follow the welcome")

    // A message that does not decode is answered with an error, and the worker goes on.
    transport.deliver(frames: [Data("not a message".utf8)])
    XCTAssertNotNil(transport.next(.error))

    // An assignment: its dataset is fetched into the cache, the trainer runs (and fails), the result goes out.
    let dataset = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0) })
    let assign = Self.assign(dataset: dataset)
    transport.deliver(WireMessage(.assign, assign))
    let fetch = try XCTUnwrap(transport.next(.fetch)).decodeBody(Fetch.self)
    XCTAssertEqual(fetch, Fetch(sha256: assign.dataset.sha256, offset: 0, length: dataset.count))
    transport.deliver(
      WireMessage(
        .chunk, Chunk(sha256: fetch.sha256, offset: 0, total: dataset.count), attachments: [dataset]))
    let result = try XCTUnwrap(transport.next(.result, within: .seconds(10))).decodeBody(ResultMessage.self)
    XCTAssertEqual(result.attempt, assign.attempt)
    XCTAssertEqual(result.outcome, .failed)
    let cached = scratch.appendingPathComponent("work/datasets/\(assign.dataset.sha256).hdf5")
    XCTAssertEqual(try Data(contentsOf: cached), dataset, "the dataset is in the cache under its hash")

    // Stop: goodbye, and the loop ends.
    agent.stop()
    let goodbye = try XCTUnwrap(transport.next(.goodbye)).decodeBody(Goodbye.self)
    XCTAssertEqual(goodbye.released, [])
    XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
    XCTAssertTrue(transport.finished)
  }

  static func assign(dataset: Data) -> Assign {
    var hyperparameters = Hyperparameters()
    hyperparameters.bcSteps = 100
    hyperparameters.steps = 300
    let sha256 = SHA256Digest(of: dataset)
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: sha256.rawValue, algorithm: .trac,
      hyperparameters: hyperparameters, costThreshold: 20, seed: 7, evalEpisodes: 0, evalSeed: 3)
    return Assign(
      attempt: AttemptID(RunID(stringLiteral: spec.runID), 1), spec: spec,
      dataset: DatasetRef(sha256: sha256, size: dataset.count, name: "ballcircle.hdf5"),
      leaseMilliseconds: 5000)
  }
}

/// A connection that is two queues: what the test delivers, what the worker sent.
final class InMemoryTransport: WorkerTransport, @unchecked Sendable {
  private let condition = NSCondition()
  private var inbox: [[Data]] = []
  private var sent: [[Data]] = []
  private var connected = false
  private var isFinished = false

  var isConnected: Bool { condition.withLock { connected } }
  var finished: Bool { condition.withLock { isFinished } }

  func connect() throws { condition.withLock { connected = true } }
  func disconnect() { condition.withLock { connected = false } }
  func finish() { condition.withLock { isFinished = true } }
  func close() { disconnect() }

  func receive(timeout: Duration) throws -> [Data]? {
    condition.lock()
    defer { condition.unlock() }
    let deadline = Date(
      timeIntervalSinceNow: Double(timeout.components.seconds) + Double(timeout.components.attoseconds)
        * 1e-18)
    while inbox.isEmpty, condition.wait(until: deadline) {}
    return inbox.isEmpty ? nil : inbox.removeFirst()
  }

  func send(_ frames: [Data]) throws {
    condition.withLock {
      sent.append(frames)
      condition.broadcast()
    }
  }

  func deliver(_ message: WireMessage) { deliver(frames: message.frames) }

  func deliver(frames: [Data]) {
    condition.withLock {
      inbox.append(frames)
      condition.broadcast()
    }
  }

  /// The first message of this type the worker sent (taken from the queue with those before it).
  func next(_ type: MessageType, within timeout: Duration = .seconds(5)) -> WireMessage? {
    let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds))
    condition.lock()
    defer { condition.unlock() }
    repeat {
      while !sent.isEmpty {
        let frames = sent.removeFirst()
        if let message = try? WireMessage.decode(frames), message.type == type { return message }
      }
    } while condition.wait(until: deadline)
    return nil
  }
}
