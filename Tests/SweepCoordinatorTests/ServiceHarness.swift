import Foundation
import Logging
import SweepCoordinator
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// The coordinator's handlers wired as `CoordinatorService` wires them, without a socket: a test hands
/// them decoded messages and reads their replies from the `ServiceOutbox`, their effects from the
/// scheduler and the state directory. Time is a manual clock.
final class ServiceHarness {
  let clock = ManualClock()
  let directory: URL
  /// The one directory grids may read datasets from (`--datasets`).
  let sources: URL
  let store: SweepStore
  let scheduler: DurableScheduler
  let link: WorkerLink
  let intake: ResultIntake
  let blobs: BlobService
  let views: StatusViews
  let rows: ResultRows
  let clients: ClientRequests
  let statistics = LoopStatistics()
  let artifacts: ArtifactStore

  init(configuration: SchedulerConfiguration = SchedulerHarness.runsOnly) throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-sweep-service-\(UUID().uuidString)")
    sources = directory.appendingPathComponent("sources")
    try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    let state = directory.appendingPathComponent("state")
    store = try SweepStore(directory: state)
    scheduler = try DurableScheduler(store: store, configuration: configuration, now: clock.elapsed)
    let artifactsDirectory = state.appendingPathComponent("artifacts")
    artifacts = try ArtifactStore(directory: artifactsDirectory.appendingPathComponent("runs"))
    let checkpoints = try CheckpointStore(directory: artifactsDirectory.appendingPathComponent("checkpoints"))
    link = WorkerLink(scheduler: scheduler, configuration: configuration, logger: logger)
    intake = ResultIntake(scheduler: scheduler, link: link, artifacts: artifacts, checkpoints: checkpoints)
    blobs = BlobService(
      datasets: try DatasetStore(directory: artifactsDirectory.appendingPathComponent("datasets")),
      checkpoints: checkpoints, logger: logger)
    views = StatusViews(scheduler: scheduler, link: link, blobs: blobs, intake: intake, loop: statistics)
    rows = ResultRows(scheduler: scheduler)
    clients = ClientRequests(
      scheduler: scheduler, blobs: blobs, status: views, results: rows, datasetDirectories: [sources],
      logger: logger)
  }

  deinit {
    try? store.close()
    try? FileManager.default.removeItem(at: directory)
  }

  func outbox() -> ServiceOutbox { ServiceOutbox(now: clock.elapsed) }

  /// A worker's routing id: its worker id.
  static func route(_ worker: WorkerID) -> Data { Data(worker.rawValue.utf8) }

  func commit() throws { try scheduler.commit(now: clock.elapsed) }

  /// A hello from `worker` on its own connection, committed; returns what it asked of the loop.
  @discardableResult
  func hello(_ worker: WorkerID, slots: Int = 1, key: String? = nil) throws -> ServiceOutbox {
    var outbox = outbox()
    try link.hello(
      Hello(
        workerID: worker, host: "node-\(worker)", slots: slots, trainerVersion: "test", running: [],
        spooled: []),
      route: Self.route(worker), peerKey: key, into: &outbox)
    try commit()
    return outbox
  }

  /// Submits the grid (its dataset stands for a stored one), committed; returns the assignments it made.
  @discardableResult
  func submit(_ grid: GridFile = Grids.alphaStudy()) throws -> [RunAssignment] {
    let commands = try scheduler.handle(.submit(Grids.submission(grid)), now: clock.elapsed)
    return commands.assignments
  }

  /// A `succeeded` result whose files pass `ResultCheck` (or not, with another run.json).
  static func result(of assignment: RunAssignment, runJSON: String? = nil) -> (ResultMessage, [Data]) {
    let json =
      runJSON
      ?? #"{"run_id": "\#(assignment.attempt.run)", "evaluation": {"by_threshold": [{"normalized_reward": {"mean": 0.4}, "normalized_cost": {"mean": 0.5}}]}, "timing": {"total_seconds": 2.5}}"#
    let attachments = [Data(json.utf8), FakeTrainer.policyFile(observationDim: 8, actionDim: 2)]
    let names: [ArtifactName] = ["run.json", "policy.safetensors"]
    let files = zip(names, attachments).map {
      FileInfo(name: $0.0, size: $0.1.count, sha256: SHA256Digest(of: $0.1))
    }
    let message = ResultMessage(
      workerID: assignment.worker, attempt: assignment.attempt, outcome: .succeeded, exitStatus: 0,
      stderrTail: "", files: files)
    return (message, attachments)
  }
}

extension ServiceOutbox {
  /// The types of the replies to send at once, in order.
  var replyTypes: [MessageType] { replies.map(\.message.type) }

  /// The body of the reply at `index`, decoded.
  func reply<Body: Decodable>(_ index: Int = 0, as type: Body.Type) throws -> Body {
    try replies[index].message.decodeBody(type)
  }
}

/// The `error` reply a refused message gets, for what a handler threw.
func refusal(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> ErrorMessage? {
  do {
    try body()
    XCTFail("expected a refusal", file: file, line: line)
    return nil
  } catch {
    return ErrorMessage(refusing: error)
  }
}
