import Foundation
import SweepWire
import SweepWorker
import TracCore
import TracSweepTesting
import XCTest

/// Each of the worker's small machines on its own: the states it moves through and what it answers.
final class WorkerMachinesTests: XCTestCase {
  typealias ChildID = WorkerStateMachine.ChildID

  func ms(_ value: Int64) -> Duration { .milliseconds(value) }

  // MARK: - Link

  func testTheLinkConnectsSaysHelloHeartbeatsAfterWelcomeAndDropsOnSilence() {
    var link = LinkMachine(
      heartbeatInterval: ms(1000), liveness: 3, reconnectDelay: ms(100), maxReconnectDelay: ms(300))
    link.connect()
    XCTAssertEqual(link.state, .connecting)
    XCTAssertNil(link.nextDeadline, "nothing is timed while connect is under way")
    link.connected(now: ms(0))
    XCTAssertEqual(link.tick(now: ms(500), mayConnect: true), .nothing, "no heartbeat before welcome")
    link.heard(now: ms(500))
    let welcomed = link.welcomed(
      Welcome(heartbeatIntervalMilliseconds: 100, liveness: 2, cancel: []), now: ms(500))
    XCTAssertEqual(welcomed?.first, true)
    XCTAssertEqual(welcomed?.helloSentAt, ms(0))
    XCTAssertEqual(link.nextDeadline, ms(600))
    XCTAssertEqual(link.tick(now: ms(599), mayConnect: true), .nothing)
    XCTAssertEqual(link.tick(now: ms(600), mayConnect: true), .heartbeat)
    XCTAssertEqual(link.tick(now: ms(701), mayConnect: true), .silence(ms(201), welcomed: true))
    XCTAssertEqual(link.disconnected(now: ms(701)), ms(100))
    XCTAssertEqual(link.state, .waiting(reconnectAt: ms(801)))
    XCTAssertEqual(
      link.tick(now: ms(801), mayConnect: false), .nothing, "a finished worker does not reconnect")
    XCTAssertEqual(link.tick(now: ms(801), mayConnect: true), .connect)
    XCTAssertEqual(link.disconnected(now: ms(900)), ms(200), "the delay doubles")
    XCTAssertEqual(link.disconnected(now: ms(1200)), ms(300), "up to the maximum")
    XCTAssertEqual(link.reconnectDelay, ms(300))
    link.heard(now: ms(1300))
    XCTAssertEqual(link.reconnectDelay, ms(100), "any message resets it")
    link.connected(now: ms(1600))
    XCTAssertEqual(
      link.welcomed(Welcome(heartbeatIntervalMilliseconds: 100, liveness: 2, cancel: []), now: ms(1600))?
        .first,
      false)
    link.helloSent(now: ms(1700))
    XCTAssertFalse(link.isWelcomed, "a hello again waits for its welcome")
    XCTAssertEqual(link.helloSentAt, ms(1700))
  }

  // MARK: - Blobs

  func testABlobIsFetchedFromWhatTheCacheHoldsAndAskedAgainWhenUnanswered() {
    var blobs = BlobFetches(chunkSize: 10)
    let stage = BlobRef(
      kind: .stage, sha256: SHA256Digest(of: Data("s".utf8)), size: 25, description: "BC stage")
    blobs.note(stage.sha256, .partial(bytes: 4))
    XCTAssertEqual(blobs.start(stage, now: ms(0)), Fetch(sha256: stage.sha256, offset: 4, length: 10))
    XCTAssertNil(blobs.start(stage, now: ms(0)), "one fetch per blob")
    blobs.note(stage.sha256, .partial(bytes: 0))
    XCTAssertEqual(blobs.offsets, [stage.sha256: 4], "a fetch under way is not reset by what an assign saw")
    XCTAssertEqual(blobs.due(now: ms(1000)), [])
    blobs.busy(stage.sha256, now: ms(1000))
    XCTAssertEqual(
      blobs.due(now: ms(1000) + BlobFetches.busyRetryDelay),
      [Fetch(sha256: stage.sha256, offset: 4, length: 10)])
    XCTAssertEqual(
      blobs.resend(sentBefore: ms(0), now: ms(2000)), [], "asked after that hello: not asked again")
    let chunk = Chunk(sha256: stage.sha256, offset: 4, total: 25)
    XCTAssertEqual(
      blobs.chunkReceived(chunk, attachments: []),
      .failed(reason: "a chunk came with 0 attachments instead of 1"))
    XCTAssertEqual(
      blobs.chunkReceived(Chunk(sha256: stage.sha256, offset: 0, total: 25), attachments: [Data([1])]),
      .stale(have: 4))
    XCTAssertEqual(blobs.chunkReceived(chunk, attachments: [Data([1])]), .write(stage, Data([1])))
    XCTAssertEqual(
      blobs.written(stage.sha256, received: 14, complete: false, now: ms(2000)),
      .next(Fetch(sha256: stage.sha256, offset: 14, length: 10)))
    blobs.abandon(stage.sha256)
    XCTAssertEqual(blobs.blobs[stage.sha256], .partial(bytes: 14), "a later fetch resumes there")
    XCTAssertEqual(blobs.start(stage, now: ms(3000)), Fetch(sha256: stage.sha256, offset: 14, length: 10))
    XCTAssertEqual(blobs.written(stage.sha256, received: 25, complete: true, now: ms(3000)), .complete(stage))
    XCTAssertTrue(blobs.isHeld(stage.sha256))
    blobs.consumed(stage.sha256)
    XCTAssertFalse(blobs.isHeld(stage.sha256))
  }

  func testAFailedFetchForgetsTheBlob() {
    var blobs = BlobFetches(chunkSize: 10)
    let checkpoint = BlobRef(
      kind: .checkpoint, sha256: SHA256Digest(of: Data("c".utf8)), size: 5, description: "checkpoint")
    XCTAssertNil(blobs.failed(checkpoint.sha256), "nothing to fail")
    _ = blobs.start(checkpoint, now: ms(0))
    XCTAssertEqual(blobs.failed(checkpoint.sha256), checkpoint)
    XCTAssertNil(blobs.blobs[checkpoint.sha256])
    XCTAssertEqual(
      blobs.chunkReceived(Chunk(sha256: checkpoint.sha256, offset: 0, total: 5), attachments: [Data()]),
      .notFetched)
  }

  // MARK: - Attempts and their trainers

  func testAnAttemptGoesFromWaitingToTrainingAndLeavesWhenItsTrainerExits() {
    var leases = AttemptLeases()
    let assign = Self.assign()
    let key = assign.attempt
    leases.admit(assign, waitUntil: ms(500))
    XCTAssertEqual(leases[key]?.state, .waitingForPredecessor(until: ms(500)))
    XCTAssertEqual(leases.nextDeadline, ms(500))
    XCTAssertNil(leases.prepared(key), "its directory is not made yet")
    XCTAssertEqual(leases.waitsOver(now: ms(499)), [])
    XCTAssertEqual(leases.waitsOver(now: ms(500)), [key])
    XCTAssertEqual(leases.prepared(key), assign)
    leases.fetching(key)
    XCTAssertEqual(leases.waitingForBlobs, [key])
    guard let started = leases.start(key) else { return XCTFail("not started") }
    let child = started.0
    XCTAssertEqual(started.1, assign)
    XCTAssertEqual(leases.training, [key])
    XCTAssertEqual(leases.exited(child), key)
    XCTAssertTrue(leases.isEmpty)
  }

  func testAnAttemptWithoutItsStageOrCheckpointStartsFromStepZero() {
    var leases = AttemptLeases()
    var assign = Self.assign()
    let stage = CheckpointRef(sha256: SHA256Digest(of: Data("stage".utf8)), size: 10, step: 100)
    assign.initFrom = stage
    leases.admit(assign, waitUntil: nil)
    XCTAssertFalse(leases.dropStart(assign.attempt, sha256: assign.dataset.sha256), "a dataset is no start")
    XCTAssertTrue(leases.needs(stage.sha256))
    XCTAssertTrue(leases.dropStart(assign.attempt, sha256: stage.sha256))
    XCTAssertNil(leases[assign.attempt]?.assign.initFrom)
    XCTAssertFalse(leases.needs(stage.sha256))
  }

  func testATrainerAskedToStopIsKilledAfterTheGraceOrAtOnceForANewerAttempt() {
    var terminations = TrainerTerminations(grace: ms(100))
    let key = Self.assign().attempt
    terminations.terminate(ChildID(1), of: key, handedBack: true, now: ms(0))
    terminations.terminate(ChildID(2), of: AttemptID("00000000000000bb", 1), handedBack: false, now: ms(50))
    XCTAssertTrue(terminations.isExiting(run: key.run))
    XCTAssertEqual(terminations.nextDeadline, ms(100))
    XCTAssertEqual(terminations.overdue(now: ms(100)).map(\.0), [ChildID(1)])
    XCTAssertEqual(terminations.overdue(now: ms(100)).map(\.0), [], "killed once")
    XCTAssertEqual(terminations.nextDeadline, ms(150))
    XCTAssertEqual(terminations.killNow(run: "00000000000000bb"), [ChildID(2)])
    XCTAssertNil(terminations.nextDeadline)
    XCTAssertEqual(terminations.exited(ChildID(1))?.handedBack, true)
    XCTAssertNil(terminations.exited(ChildID(1)))
  }

  // MARK: - Results, checkpoints, progress

  func testAResultIsAwaitedFromItsSendUntilItsAck() {
    let key = Self.assign().attempt
    var outbox = ResultOutbox(spooled: [key])
    XCTAssertEqual(outbox.unacknowledged, [])
    outbox.sent(key)
    XCTAssertEqual(outbox.unacknowledged, [key])
    outbox.acknowledged(key)
    XCTAssertEqual(outbox.spooled, [])
    outbox.sent(key)
    XCTAssertEqual(outbox.unacknowledged, [], "a result no longer spooled is not awaited")
  }

  func testACheckpointIsShippedEveryIntervalAndOnlyWhenNew() {
    var shipping = CheckpointShipping(interval: ms(1000))
    shipping.start(now: ms(0))
    XCTAssertFalse(shipping.due(now: ms(999)))
    XCTAssertTrue(shipping.due(now: ms(1000)))
    XCTAssertEqual(shipping.nextDeadline, ms(2000))
    let key = Self.assign().attempt
    let sha256 = SHA256Digest(of: Data("ckpt".utf8))
    shipping.startedFrom(key, sha256)
    XCTAssertFalse(shipping.isNew(key, sha256), "the coordinator has the one it started from")
    shipping.forget(key)
    XCTAssertTrue(shipping.isNew(key, sha256))
    var never = CheckpointShipping(interval: nil)
    never.start(now: ms(0))
    XCTAssertEqual(never.state, .off)
    XCTAssertFalse(never.due(now: .seconds(100_000)))
  }

  func testProgressGoesOutAtMostOnceASecondAndOnlyWhatChanged() {
    var progress = ProgressReports()
    let key = Self.assign().attempt
    let first = AttemptProgress(attempt: key, phase: "bc", step: 10, totalSteps: 300, loss: nil)
    XCTAssertTrue(progress.isDue(now: ms(0)))
    XCTAssertEqual(progress.read([first], running: [key], now: ms(0)), [first])
    XCTAssertFalse(progress.isDue(now: ms(999)))
    XCTAssertTrue(progress.isDue(now: ms(1000)))
    XCTAssertNil(progress.read([first], running: [key], now: ms(1000)), "unchanged: nothing")
    XCTAssertTrue(progress.isDue(now: ms(1001)), "nothing was sent, so nothing is throttled")
  }

  // MARK: - Stop

  func testAStopDrainsReleasesWaitsForTrainersSaysGoodbyeAndFinishes() {
    var stop = StopMachine(grace: ms(100), acknowledgementWait: ms(50))
    func remaining(attempts: Bool = false, exiting: Bool = false, unacknowledged: Bool = false)
      -> StopMachine.Remaining
    {
      .init(
        attempts: attempts, exitingTrainers: exiting, unacknowledgedResults: unacknowledged, connected: true)
    }
    XCTAssertNil(stop.next(now: ms(0), remaining()), "working: nothing to do")
    XCTAssertEqual(stop.request(immediately: false, now: ms(0)), .begin(deadline: ms(100)))
    XCTAssertEqual(stop.request(immediately: false, now: ms(10)), .ignored)
    XCTAssertNil(stop.next(now: ms(50), remaining(attempts: true)))
    XCTAssertEqual(stop.request(immediately: true, now: ms(60)), .hurried)
    XCTAssertEqual(stop.next(now: ms(60), remaining(attempts: true)), .releaseAll)
    XCTAssertNil(stop.next(now: ms(60), remaining(exiting: true)))
    XCTAssertEqual(stop.next(now: ms(70), remaining(unacknowledged: true)), .sayGoodbye)
    XCTAssertEqual(stop.nextDeadline, ms(120))
    XCTAssertNil(stop.next(now: ms(119), remaining(unacknowledged: true)))
    XCTAssertEqual(stop.next(now: ms(120), remaining(unacknowledged: true)), .finish)
    XCTAssertTrue(stop.isFinished)
  }

  static func assign() -> Assign {
    var hyperparameters = Hyperparameters()
    hyperparameters.bcSteps = 100
    hyperparameters.steps = 300
    let sha256 = SHA256Digest(of: Data("a dataset".utf8))
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: sha256.rawValue, algorithm: .trac,
      hyperparameters: hyperparameters, costThreshold: 20, seed: 7, evalEpisodes: 5, evalSeed: 3)
    return Assign(
      attempt: AttemptID(RunID(stringLiteral: spec.runID), 1), spec: spec,
      dataset: DatasetRef(sha256: sha256, size: 100, name: "ballcircle.hdf5"), leaseMilliseconds: 500)
  }
}
