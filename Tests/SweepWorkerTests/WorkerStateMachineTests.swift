import Foundation
import SweepWire
import SweepWorker
import TracCore
import TracSweepTesting
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The worker's decisions (docs/PROTOCOL.md sections 5-7) as scenarios: the state machine fed events
/// at times of a manual clock, every action it returns checked. No sockets, no processes, no waiting.
final class WorkerStateMachineTests: XCTestCase {
  typealias Action = WorkerStateMachine.Action
  typealias ChildID = WorkerStateMachine.ChildID

  // MARK: - Connection

  func testHelloAnnouncesTheSpooledResultsAndWelcomeResendsThem() {
    let spooledKey = AttemptID("00000000000000aa", 3)
    var worker = Scenario(spooled: [spooledKey])
    XCTAssertEqual(worker.effects { $0.start(now: $1) }, [.connect])
    XCTAssertEqual(
      worker.effects { $0.connected(now: $1) },
      [
        .send(
          .hello(
            Hello(
              workerID: Scenario.workerID, host: "node1", slots: 2, trainerVersion: "test", running: [],
              spooled: [spooledKey])))
      ])
    XCTAssertFalse(worker.machine.isWelcomed)
    XCTAssertEqual(worker.welcome(), [.sendResult(spooledKey)], "the coordinator may not have it: again")
    XCTAssertTrue(worker.machine.isWelcomed)
    XCTAssertEqual(worker.effects { $0.resultSent(spooledKey, now: $1) }, [])
    XCTAssertEqual(worker.machine.awaitingAcknowledgement, [spooledKey])
  }

  func testHeartbeatsFollowTheWelcomeIntervalToTheMillisecond() {
    var worker = Scenario()
    worker.connect()
    worker.advance(milliseconds: 500)
    XCTAssertEqual(worker.tick(), [], "no heartbeat before the welcome")
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 50)
    let sent = worker.run(milliseconds: 1000)
    let heartbeats = sent.filter { if case .send(.heartbeat) = $0.action { true } else { false } }
    XCTAssertEqual(heartbeats.map(\.at), (1...10).map { .milliseconds(500 + 100 * $0) })
    XCTAssertEqual(
      heartbeats.first?.action, .send(.heartbeat(Heartbeat(workerID: Scenario.workerID, running: []))))
  }

  func testAPongThatDoesNotKnowTheWorkerGetsAHelloListingTheRunningAttempt() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign()
    _ = worker.startTraining(assign)
    let hello = worker.effects { $0.pongReceived(Pong(known: false), now: $1) }
    guard case .send(.hello(let body)) = hello.first, hello.count == 1 else {
      return XCTFail("expected one hello, got \(hello)")
    }
    XCTAssertEqual(body.running, [assign.attempt])
    XCTAssertFalse(worker.machine.isWelcomed)
    XCTAssertEqual(worker.effects { $0.pongReceived(Pong(known: true), now: $1) }, [])
  }

  func testSilenceMakesTheWorkerReconnectWithDoublingBackoffUpToTheMaximum() {
    var worker = Scenario(maxReconnectDelay: .milliseconds(400))
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 3)
    // Silent for 300 ms is allowed; one millisecond more is not.
    let untilDrop = worker.run(milliseconds: 301)
    XCTAssertEqual(untilDrop.last?.action, .disconnect)
    XCTAssertEqual(untilDrop.last?.at, .milliseconds(301))
    // Nobody answers: connect at 100, 200, 400, 400 ms after each drop (the socket "opens", hello
    // goes out, 300 ms of silence drop it again).
    var connects: [Duration] = []
    var dropAt: Duration = .milliseconds(301)
    for _ in 0..<4 {
      let turn = worker.run(until: { $0 == .connect })
      connects.append(turn.last!.at - dropAt)
      _ = worker.effects { $0.connected(now: $1) }
      dropAt = worker.run(until: { $0 == .disconnect }).last!.at
    }
    XCTAssertEqual(
      connects, [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(400)])
    // A message from the coordinator resets the delay.
    _ = worker.run(until: { $0 == .connect })
    _ = worker.effects { $0.connected(now: $1) }
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 3)
    XCTAssertEqual(worker.machine.currentReconnectDelay, .milliseconds(100))
  }

  /// What the log says when the coordinator is silent: never answered since start (with the address,
  /// no CURVE hint without CURVE, nothing about training when nothing trains), or lost later.
  func testSilenceIsNamedWithTheAddressAndOnlyWhatIsTrue() {
    func warnings(_ machine: inout WorkerStateMachine, _ clock: ManualClock, welcome: Bool) -> [String] {
      _ = machine.start(now: clock.elapsed)
      _ = machine.connected(now: clock.elapsed)
      if welcome {
        _ = machine.welcomeReceived(
          Welcome(heartbeatIntervalMilliseconds: 100, liveness: 3, cancel: []), now: clock.elapsed)
      }
      for _ in 0..<1000 {
        clock.advance(milliseconds: 10)
        let texts = machine.tick(now: clock.elapsed).compactMap { action -> String? in
          if case .log(.warning, let text, _) = action { return text }
          return nil
        }
        if !texts.isEmpty { return texts }
      }
      return []
    }
    let configuration = WorkerStateMachine.Configuration(
      workerID: Scenario.workerID,
      settings: .init(host: "node1", slots: 1, trainerVersion: "test", endpoint: "tcp://head:5556"))
    var fresh = WorkerStateMachine(configuration: configuration, spooled: [])
    let never = warnings(&fresh, ManualClock(), welcome: false).joined()
    XCTAssertTrue(never.contains("nothing answered at tcp://head:5556 since start"), never)
    XCTAssertFalse(never.contains("curve"), never)
    XCTAssertFalse(never.contains("training goes on"), never)

    var curve = configuration
    curve.usesCurve = true
    var secured = WorkerStateMachine(configuration: curve, spooled: [])
    XCTAssertTrue(warnings(&secured, ManualClock(), welcome: false).joined().contains("--server-key"))

    var welcomed = WorkerStateMachine(configuration: configuration, spooled: [])
    let lost = warnings(&welcomed, ManualClock(), welcome: true).joined()
    XCTAssertTrue(lost.contains("lost the coordinator at tcp://head:5556"), lost)
  }

  func testASocketErrorReconnectsAfterTheFirstDelayAndSaysHelloWithTheRunningAttempt() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign()
    _ = worker.startTraining(assign)
    XCTAssertEqual(worker.effects { $0.connectionLost("EHOSTUNREACH", now: $1) }, [.disconnect])
    worker.advance(milliseconds: 99)
    XCTAssertEqual(worker.tick(), [])
    worker.advance(milliseconds: 1)
    XCTAssertEqual(worker.tick(), [.connect])
    let hello = worker.effects { $0.connected(now: $1) }
    guard case .send(.hello(let body)) = hello.first else { return XCTFail("no hello: \(hello)") }
    XCTAssertEqual(body.running, [assign.attempt], "the lease is announced again")
  }

  // MARK: - Assign, fetch, train, report

  func testAnAssignWithTheDatasetCachedSpawnsTheTrainerAtOnce() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign()
    XCTAssertEqual(
      worker.effects { $0.assignReceived(assign, cached: .complete, now: $1) },
      [.prepareDirectory(assign.attempt)])
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }, [.spawn(ChildID(0), assign)])
    XCTAssertEqual(worker.machine.running, [assign.attempt])
  }

  func testADatasetIsFetchedOneChunkAtATimeFromWhatTheCacheHolds() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let size = 2 * BlobCache.chunkSize + 5
    let assign = Scenario.assign(size: size)
    let second = Scenario.assign(size: size, seed: 8)
    let sha256 = assign.dataset.sha256
    _ = worker.effects { $0.assignReceived(assign, cached: .partial(bytes: 0), now: $1) }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(assign.attempt, now: $1) },
      [.send(.fetch(Fetch(sha256: sha256, offset: 0, length: BlobCache.chunkSize)))])
    // A second attempt on the same dataset asks for nothing: one fetch in flight.
    _ = worker.effects { $0.assignReceived(second, cached: .partial(bytes: 0), now: $1) }
    XCTAssertEqual(worker.effects { $0.directoryPrepared(second.attempt, now: $1) }, [])
    worker.advance(milliseconds: 200)
    XCTAssertEqual(worker.tick().filter(\.isFetch), [], "no second request while one is in flight")

    // A chunk at another offset (an answer to a request lost with an old connection) is ignored.
    let stale = Chunk(sha256: sha256, offset: 5, total: size)
    XCTAssertEqual(worker.effects { $0.chunkReceived(stale, attachments: [Data([1])], now: $1) }, [])
    let first = Chunk(sha256: sha256, offset: 0, total: size)
    let bytes = Data(count: BlobCache.chunkSize)
    XCTAssertEqual(
      worker.effects { $0.chunkReceived(first, attachments: [bytes], now: $1) },
      [.writeChunk(assign.datasetBlob, first, bytes)])
    XCTAssertEqual(
      worker.effects { $0.chunkWritten(sha256, received: BlobCache.chunkSize, complete: false, now: $1) },
      [.send(.fetch(Fetch(sha256: sha256, offset: BlobCache.chunkSize, length: BlobCache.chunkSize)))])
    XCTAssertEqual(worker.machine.fetchOffsets, [sha256: BlobCache.chunkSize])
    XCTAssertEqual(
      worker.effects {
        $0.chunkWritten(sha256, received: 2 * BlobCache.chunkSize, complete: false, now: $1)
      },
      [.send(.fetch(Fetch(sha256: sha256, offset: 2 * BlobCache.chunkSize, length: 5)))])
    // Complete and verified: both waiting attempts start.
    let ordered = [assign, second].sorted { $0.attempt < $1.attempt }
    XCTAssertEqual(
      worker.effects { $0.chunkWritten(sha256, received: size, complete: true, now: $1) },
      [.spawn(ChildID(0), ordered[0]), .spawn(ChildID(1), ordered[1])])
    XCTAssertEqual(worker.machine.fetchOffsets, [:])
  }

  func testAChunkAnsweredBusyOrNeverAnsweredIsAskedForAgain() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign(size: 3000)
    let sha256 = assign.dataset.sha256
    let request = WorkerStateMachine.Action.send(.fetch(Fetch(sha256: sha256, offset: 0, length: 3000)))
    _ = worker.effects { $0.assignReceived(assign, cached: .partial(bytes: 0), now: $1) }
    XCTAssertEqual(worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }, [request])
    // Flow control: `busy` names the sha256; the same chunk is asked for 500 ms later, not before.
    let busy = ErrorMessage(code: .busy, message: "flow control", subject: sha256.rawValue)
    XCTAssertEqual(worker.effects { $0.errorReceived(busy, now: $1) }, [], "busy fails nothing")
    let asked = worker.run(until: \.isFetch).filter(\.action.isFetch)
    XCTAssertEqual(asked.map(\.action), [request])
    XCTAssertEqual(asked.first?.at, .milliseconds(500))
    // A chunk the coordinator dropped (its queue for this worker was full) is asked for again after 30 s,
    // while the link stays up.
    var again: [(at: Duration, action: WorkerStateMachine.Action)] = []
    for _ in 0..<31 {
      _ = worker.effects { $0.pongReceived(Pong(known: true), now: $1) }
      again += worker.run(milliseconds: 1000).filter(\.action.isFetch)
    }
    XCTAssertEqual(again.map(\.action), [request])
    XCTAssertEqual(again.first?.at, .milliseconds(500) + WorkerStateMachine.chunkRetryInterval)
  }

  func testAFetchResumesWhereThePartialFileEnds() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign(size: 3000)
    _ = worker.effects { $0.assignReceived(assign, cached: .partial(bytes: 1000), now: $1) }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(assign.attempt, now: $1) },
      [.send(.fetch(Fetch(sha256: assign.dataset.sha256, offset: 1000, length: 2000)))])
  }

  func testAFetchLostWithTheConnectionIsAskedAgainAfterTheNextWelcome() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign(size: 3000)
    _ = worker.effects { $0.assignReceived(assign, cached: .partial(bytes: 0), now: $1) }
    _ = worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }
    _ = worker.effects { $0.connectionLost("gone", now: $1) }
    _ = worker.run(until: { $0 == .connect })
    _ = worker.effects { $0.connected(now: $1) }
    XCTAssertEqual(
      worker.welcome(), [.send(.fetch(Fetch(sha256: assign.dataset.sha256, offset: 0, length: 3000)))])
  }

  func testAFetchTheCoordinatorRefusesFailsTheWaitingAttempts() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign(size: 3000)
    _ = worker.effects { $0.assignReceived(assign, cached: .partial(bytes: 0), now: $1) }
    _ = worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }
    let refusal = ErrorMessage(
      code: .unknownDataset, message: "no such dataset", subject: assign.dataset.sha256.rawValue)
    let actions = worker.effects { $0.errorReceived(refusal, now: $1) }
    guard case .spool(let request) = actions.first, actions.count == 1 else {
      return XCTFail("expected the failure to be spooled: \(actions)")
    }
    XCTAssertEqual(request.result.key, assign.attempt)
    XCTAssertEqual(request.result.outcome, .failed)
    XCTAssertFalse(request.withArtifacts)
    XCTAssertTrue(request.result.stderrTail.contains("no such dataset"), request.result.stderrTail)
    XCTAssertEqual(worker.machine.running, [])
  }

  func testAFinishedTrainerIsSpooledThenSentThenCleanedUpOnlyAfterTheAck() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    worker.advance(milliseconds: 700)
    let exit = TrainerExit(
      exitStatus: 0, signal: nil, wallTime: .milliseconds(700), stderrTail: "", terminatedOnRequest: false)
    XCTAssertEqual(
      worker.effects { $0.childExited(child, exit: exit, now: $1) },
      [
        .spool(
          .init(result: AttemptResult(key: assign.attempt, exit: exit), withArtifacts: true))
      ])
    XCTAssertEqual(
      worker.effects { $0.resultSpooled(assign.attempt, now: $1) }, [.sendResult(assign.attempt)])
    _ = worker.effects { $0.resultSent(assign.attempt, now: $1) }
    worker.advance(milliseconds: 300)
    XCTAssertFalse(worker.tick().contains(.removeAttemptDirectory(assign.attempt)), "removed before the ack")
    XCTAssertEqual(worker.machine.spooledResults, [assign.attempt])
    // Assigned again (the coordinator lost the result): sent again from the spool, no trainer runs.
    XCTAssertEqual(
      worker.effects { $0.assignReceived(assign, cached: .complete, now: $1) }, [.sendResult(assign.attempt)])
    XCTAssertEqual(
      worker.effects { $0.ackReceived(Ack(attempt: assign.attempt, duplicate: false), now: $1) },
      [.deleteSpooled(assign.attempt, duplicate: false), .removeAttemptDirectory(assign.attempt)])
    XCTAssertEqual(worker.machine.spooledResults, [])
    XCTAssertEqual(worker.machine.awaitingAcknowledgement, [])
  }

  func testATrainerStoppedBySIGTERMFromOutsideIsHandedBackNotReported() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    let exit = TrainerExit(
      exitStatus: nil, signal: SIGTERM, wallTime: .seconds(1), stderrTail: "", terminatedOnRequest: false)
    XCTAssertEqual(
      worker.effects { $0.childExited(child, exit: exit, now: $1) },
      [.shipCheckpoint(assign.attempt), .removeAttemptDirectory(assign.attempt)],
      "its newest checkpoint goes to the coordinator before its directory goes")
    XCTAssertEqual(worker.machine.released, [assign.attempt])
    XCTAssertEqual(worker.machine.spooledResults, [])
    // ...and named in the goodbye.
    let stop = worker.effects { $0.stopRequested(immediately: false, now: $1) }
    XCTAssertEqual(
      stop, [.send(.goodbye(Goodbye(workerID: Scenario.workerID, released: [assign.attempt]))), .finish])
  }

  func testACrashingTrainerIsReportedFailed() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    let exit = TrainerExit(
      exitStatus: nil, signal: SIGSEGV, wallTime: .seconds(1), stderrTail: "boom", terminatedOnRequest: false)
    let actions = worker.effects { $0.childExited(child, exit: exit, now: $1) }
    XCTAssertEqual(
      actions, [.spool(.init(result: AttemptResult(key: assign.attempt, exit: exit), withArtifacts: true))])
    XCTAssertEqual(AttemptResult(key: assign.attempt, exit: exit).outcome, .failed)
  }

  func testAnAssignWhoseSpecDoesNotHashToItsRunIDIsIgnored() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    var assign = Scenario.assign()
    assign.attempt = AttemptID("00000000000000aa", 1)
    XCTAssertEqual(worker.effects { $0.assignReceived(assign, cached: .complete, now: $1) }, [])
    XCTAssertEqual(worker.machine.running, [])
  }

  // MARK: - Cancel

  func testCancelTerminatesTheTrainerKillsItAfterTheGraceAndReportsNothing() {
    var worker = Scenario(terminationGrace: .milliseconds(300))
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 100)
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    XCTAssertEqual(
      worker.effects { $0.cancelReceived(Cancel(attempt: assign.attempt), now: $1) },
      [.signal(child, SIGTERM)])
    XCTAssertEqual(worker.machine.running, [], "heartbeats no longer list it")
    let later = worker.run(milliseconds: 300)
    let kill = later.filter { $0.action == .signal(child, SIGKILL) }
    XCTAssertEqual(kill.map(\.at), [.milliseconds(300)], "SIGKILL exactly when the grace is over")
    XCTAssertTrue(
      later.allSatisfy {
        if case .send(.heartbeat(let beat)) = $0.action { beat.running.isEmpty } else { true }
      })
    let exit = TrainerExit(
      exitStatus: nil, signal: SIGKILL, wallTime: .seconds(1), stderrTail: "", terminatedOnRequest: true)
    XCTAssertEqual(
      worker.effects { $0.childExited(child, exit: exit, now: $1) },
      [.removeAttemptDirectory(assign.attempt)], "a cancelled attempt ships no checkpoint")
    XCTAssertEqual(worker.machine.spooledResults, [])
    XCTAssertEqual(worker.machine.released, [], "a cancelled attempt is not handed back")
  }

  func testANewAttemptOfARunWaitsForTheOldTrainerToExitWithoutBlocking() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 100)
    let first = Scenario.assign()
    let old = worker.startTraining(first)
    var second = first
    second.attempt = AttemptID(first.attempt.run, 2)
    XCTAssertEqual(
      worker.effects { $0.assignReceived(second, cached: .complete, now: $1) },
      [.signal(old, SIGTERM), .signal(old, SIGKILL)])
    // Heartbeats go on while the old trainer is exiting.
    let waiting = worker.run(milliseconds: 250)
    XCTAssertEqual(waiting.filter { if case .send(.heartbeat) = $0.action { true } else { false } }.count, 2)
    XCTAssertFalse(waiting.contains { $0.action == .prepareDirectory(second.attempt) })
    let exit = TrainerExit(
      exitStatus: nil, signal: SIGKILL, wallTime: .seconds(1), stderrTail: "", terminatedOnRequest: true)
    XCTAssertEqual(
      worker.effects { $0.childExited(old, exit: exit, now: $1) },
      [.removeAttemptDirectory(first.attempt), .prepareDirectory(second.attempt)])
  }

  func testANewAttemptTakesTheRunAnywayWhenTheOldTrainerOutlivesTheWait() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 100)
    let first = Scenario.assign()
    _ = worker.startTraining(first)
    var second = first
    second.attempt = AttemptID(first.attempt.run, 2)
    _ = worker.effects { $0.assignReceived(second, cached: .complete, now: $1) }
    let prepared = worker.run(milliseconds: 2000).filter { $0.action == .prepareDirectory(second.attempt) }
    XCTAssertEqual(prepared.map(\.at), [.milliseconds(2000)])
  }

  // MARK: - Stopping

  func testAGracefulStopLetsTheTrainerFinishThenSaysGoodbyeAndWaitsForTheAck() {
    var worker = Scenario(grace: .seconds(5), acknowledgementWait: .milliseconds(2000))
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 1000, liveness: 100)
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    XCTAssertEqual(worker.effects { $0.stopRequested(immediately: false, now: $1) }, [])
    XCTAssertTrue(worker.machine.isStopping)
    worker.advance(milliseconds: 600)
    let exit = TrainerExit(
      exitStatus: 0, signal: nil, wallTime: .seconds(1), stderrTail: "", terminatedOnRequest: false)
    _ = worker.effects { $0.childExited(child, exit: exit, now: $1) }
    _ = worker.effects { $0.resultSpooled(assign.attempt, now: $1) }
    _ = worker.effects { $0.resultSent(assign.attempt, now: $1) }
    XCTAssertEqual(
      worker.tick(), [.send(.goodbye(Goodbye(workerID: Scenario.workerID, released: [])))],
      "goodbye once nothing runs; the ack is awaited")
    worker.advance(milliseconds: 50)
    XCTAssertEqual(
      worker.effects { $0.ackReceived(Ack(attempt: assign.attempt, duplicate: false), now: $1) },
      [.deleteSpooled(assign.attempt, duplicate: false), .removeAttemptDirectory(assign.attempt)])
    XCTAssertEqual(worker.tick(), [.finish])
    XCTAssertTrue(worker.machine.isFinished)
  }

  func testAStopPastTheGraceHandsTheAttemptBackAndKillsATrainerThatIgnoresSIGTERM() {
    var worker = Scenario(
      grace: .milliseconds(200), terminationGrace: .milliseconds(300), acknowledgementWait: .seconds(2))
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 1000, liveness: 100)
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    let fetching = Scenario.assign(size: 3000, seed: 9)
    _ = worker.effects { $0.assignReceived(fetching, cached: .partial(bytes: 0), now: $1) }
    _ = worker.effects { $0.directoryPrepared(fetching.attempt, now: $1) }
    // The attempt still fetching has not started: handed back at once.
    XCTAssertEqual(
      worker.effects { $0.stopRequested(immediately: false, now: $1) },
      [.removeAttemptDirectory(fetching.attempt)])
    let timeline = worker.run(milliseconds: 500)
    XCTAssertEqual(
      timeline.map(\.action), [.signal(child, SIGTERM), .signal(child, SIGKILL)], "\(timeline)")
    XCTAssertEqual(timeline.map(\.at), [.milliseconds(200), .milliseconds(500)])
    let exit = TrainerExit(
      exitStatus: nil, signal: SIGKILL, wallTime: .seconds(1), stderrTail: "", terminatedOnRequest: true)
    XCTAssertEqual(
      worker.effects { $0.childExited(child, exit: exit, now: $1) },
      [.shipCheckpoint(assign.attempt), .removeAttemptDirectory(assign.attempt)],
      "handed back: its checkpoint goes")
    XCTAssertEqual(
      worker.tick(),
      [
        .send(.goodbye(Goodbye(workerID: Scenario.workerID, released: [fetching.attempt, assign.attempt]))),
        .finish,
      ])
  }

  func testASecondStopRequestMakesItImmediate() {
    var worker = Scenario(grace: .seconds(10), terminationGrace: .seconds(5))
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 1000, liveness: 100)
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    _ = worker.effects { $0.stopRequested(immediately: false, now: $1) }
    worker.advance(milliseconds: 10)
    XCTAssertEqual(worker.effects { $0.stopRequested(immediately: true, now: $1) }, [.signal(child, SIGTERM)])
    let assignLate = Scenario.assign(seed: 11)
    XCTAssertEqual(worker.effects { $0.assignReceived(assignLate, cached: .complete, now: $1) }, [])
    XCTAssertEqual(worker.machine.released, [assign.attempt, assignLate.attempt])
  }

  func testWithoutAConnectionTheWorkerLeavesRightAfterGoodbye() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    _ = worker.effects { $0.resultSpooled(AttemptID("00000000000000aa", 1), now: $1) }
    _ = worker.effects { $0.resultSent(AttemptID("00000000000000aa", 1), now: $1) }
    _ = worker.effects { $0.connectionLost("gone", now: $1) }
    XCTAssertEqual(
      worker.effects { $0.stopRequested(immediately: false, now: $1) },
      [.send(.goodbye(Goodbye(workerID: Scenario.workerID, released: []))), .finish])
  }

  // MARK: - Protocol versions

  func testAnotherProtocolVersionKillsEveryTrainerAndStopsTheWorker() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let child = worker.startTraining(Scenario.assign())
    XCTAssertEqual(
      worker.effects { $0.messageRefused(.versionMismatch(peer: "9"), now: $1) },
      [
        .signal(child, SIGKILL),
        .fail(.versionMismatch(WireError.versionMismatch(peer: "9").description)),
      ])
    XCTAssertTrue(worker.machine.isFinished)
  }

  func testAnErrorWithTheVersionMismatchCodeStopsTheWorker() {
    var worker = Scenario()
    worker.connect()
    let actions = worker.effects {
      $0.errorReceived(ErrorMessage(code: .versionMismatch, message: "speaks version 9"), now: $1)
    }
    XCTAssertEqual(actions, [.fail(.versionMismatch("speaks version 9"))])
  }

  func testAMalformedMessageIsAnsweredWithAnErrorAndTheWorkerGoesOn() {
    var worker = Scenario()
    worker.connect()
    let error = WireError.malformed("not json")
    XCTAssertEqual(worker.effects { $0.messageRefused(error, now: $1) }, [.send(.error(ErrorMessage(error)))])
    XCTAssertFalse(worker.machine.isFinished)
  }
}

// MARK: - Checkpoints

extension WorkerStateMachineTests {
  func testAnAssignWithACheckpointFetchesItAndTheTrainerStartsWhenDatasetAndCheckpointAreCached() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    let checkpoint = CheckpointRef(sha256: SHA256Digest(of: Data("ckpt".utf8)), size: 3000, step: 180)
    var assign = Scenario.assign()
    assign.checkpoint = checkpoint
    _ = worker.effects { $0.assignReceived(assign, cached: .complete, now: $1) }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(assign.attempt, now: $1) },
      [.send(.fetch(Fetch(sha256: checkpoint.sha256, offset: 0, length: 3000)))],
      "the dataset is cached: only the checkpoint is fetched, by its hash")
    XCTAssertEqual(
      worker.effects { $0.chunkWritten(checkpoint.sha256, received: 3000, complete: true, now: $1) },
      [.spawn(ChildID(0), assign)], "the shell moves the checkpoint in place and the trainer resumes from it")
  }

  func testACheckpointTheCoordinatorCannotSendMeansTrainingFromStepZeroNotAFailure() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    var assign = Scenario.assign()
    assign.checkpoint = CheckpointRef(sha256: SHA256Digest(of: Data("gone".utf8)), size: 10, step: 100)
    _ = worker.effects { $0.assignReceived(assign, cached: .complete, now: $1) }
    _ = worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }
    let refusal = ErrorMessage(
      code: .unknownDataset, message: "not held", subject: assign.checkpoint!.sha256.rawValue)
    var fromZero = assign
    fromZero.checkpoint = nil
    XCTAssertEqual(worker.effects { $0.errorReceived(refusal, now: $1) }, [.spawn(ChildID(0), fromZero)])
  }

  func testAnAssignWithASharedStageFetchesItOnceAndKeepsItForTheNextRunOfTheStage() {
    var worker = Scenario()  // 2 slots
    worker.connect()
    _ = worker.welcome()
    let stage = CheckpointRef(sha256: SHA256Digest(of: Data("stage".utf8)), size: 2000, step: 300)
    var first = Scenario.assign()
    first.initFrom = stage
    _ = worker.effects { $0.assignReceived(first, cached: .complete, now: $1) }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(first.attempt, now: $1) },
      [.send(.fetch(Fetch(sha256: stage.sha256, offset: 0, length: 2000)))],
      "the dataset is cached: only the stage's checkpoint is fetched, by its hash")
    XCTAssertEqual(
      worker.effects { $0.chunkWritten(stage.sha256, received: 2000, complete: true, now: $1) },
      [.spawn(ChildID(0), first)], "the trainer starts with the stage (--init-from-checkpoint)")
    // Another run of the same stage starts at once: the stage stays in the cache (read, not moved).
    var second = Scenario.assign()
    second.spec.hyperparameters.alpha = 0.5
    second.attempt = AttemptID(RunID(stringLiteral: second.spec.runID), 1)
    second.initFrom = stage
    _ = worker.effects { $0.assignReceived(second, cached: .complete, now: $1) }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(second.attempt, now: $1) }, [.spawn(ChildID(1), second)])
  }

  func testAWorkerRestartedOnItsFolderUsesTheStageItFetchedBeforeOrResumesItsPartialCopy() {
    var worker = Scenario()  // a new process: it remembers nothing; the cache on disk does
    worker.connect()
    _ = worker.welcome()
    let stage = CheckpointRef(sha256: SHA256Digest(of: Data("stage".utf8)), size: 2000, step: 300)
    var first = Scenario.assign()
    first.initFrom = stage
    _ = worker.effects {
      $0.assignReceived(first, cached: .complete, alsoHeld: [stage.sha256: .complete], now: $1)
    }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(first.attempt, now: $1) }, [.spawn(ChildID(0), first)],
      "the stage on disk is used: nothing is fetched, the BC phase is not trained again")
    var second = Scenario.assign(seed: 9)
    let other = CheckpointRef(sha256: SHA256Digest(of: Data("other stage".utf8)), size: 2000, step: 300)
    second.initFrom = other
    _ = worker.effects {
      $0.assignReceived(second, cached: .complete, alsoHeld: [other.sha256: .partial(bytes: 1500)], now: $1)
    }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(second.attempt, now: $1) },
      [.send(.fetch(Fetch(sha256: other.sha256, offset: 1500, length: 500)))],
      "a partial copy is resumed where it ends")
  }

  func testAStageTheCoordinatorCannotSendMeansTrainingTheWholeRunNotAFailure() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    var assign = Scenario.assign()
    assign.initFrom = CheckpointRef(sha256: SHA256Digest(of: Data("gone".utf8)), size: 10, step: 300)
    _ = worker.effects { $0.assignReceived(assign, cached: .complete, now: $1) }
    _ = worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }
    let refusal = ErrorMessage(
      code: .unknownDataset, message: "not held", subject: assign.initFrom!.sha256.rawValue)
    var whole = assign
    whole.initFrom = nil
    XCTAssertEqual(worker.effects { $0.errorReceived(refusal, now: $1) }, [.spawn(ChildID(0), whole)])
  }

  func testATrainingAttemptShipsItsCheckpointEveryInterval() {
    var worker = Scenario(checkpointShipInterval: .milliseconds(1000))
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 100)
    worker.advance(milliseconds: 300)
    let assign = Scenario.assign()
    _ = worker.startTraining(assign)
    let shipped = worker.run(milliseconds: 2500).filter { $0.action == .shipCheckpoint(assign.attempt) }
    XCTAssertEqual(shipped.map(\.at), [.milliseconds(1000), .milliseconds(2000)])
  }

  func testAnAttemptHandedBackAtTheEndOfTheGraceShipsItsCheckpointBeforeGoodbye() {
    var worker = Scenario(grace: .milliseconds(100))
    worker.connect()
    _ = worker.welcome()
    let assign = Scenario.assign()
    let child = worker.startTraining(assign)
    _ = worker.effects { $0.stopRequested(immediately: false, now: $1) }
    XCTAssertEqual(worker.run(until: { $0 == .signal(child, SIGTERM) }).last?.action, .signal(child, SIGTERM))
    let exit = TrainerExit(
      exitStatus: nil, signal: SIGTERM, wallTime: .seconds(1), stderrTail: "", terminatedOnRequest: true)
    let exited = worker.effects { $0.childExited(child, exit: exit, now: $1) }
    XCTAssertEqual(exited.first, .shipCheckpoint(assign.attempt))
    XCTAssertFalse(exited.contains { if case .send(.goodbye) = $0 { true } else { false } })
    let goodbye = worker.run(until: { if case .send(.goodbye) = $0 { true } else { false } })
    XCTAssertTrue(
      goodbye.map(\.action).contains(
        .send(.goodbye(Goodbye(workerID: Scenario.workerID, released: [assign.attempt])))))
  }
}

// MARK: - The scenario driver

/// A state machine, a manual clock, and helpers that drop `.log` actions (what the tests check is
/// what the worker does, not what it says).
private struct Scenario {
  static let workerID: WorkerID = "node1-0123abcd"

  let clock = ManualClock()
  var machine: WorkerStateMachine

  init(
    spooled: [AttemptID] = [], grace: Duration = .seconds(10), terminationGrace: Duration = .seconds(5),
    acknowledgementWait: Duration = .seconds(2), maxReconnectDelay: Duration = .seconds(10),
    checkpointShipInterval: Duration? = .seconds(300)
  ) {
    machine = WorkerStateMachine(
      configuration: .init(
        workerID: Scenario.workerID,
        settings: .init(
          host: "node1", slots: 2, trainerVersion: "test", grace: grace, terminationGrace: terminationGrace,
          acknowledgementWait: acknowledgementWait, maxReconnectDelay: maxReconnectDelay,
          checkpointShipInterval: checkpointShipInterval)),
      spooled: spooled)
  }

  var now: WorkerInstant { clock.elapsed }

  mutating func advance(milliseconds: Int64) { clock.advance(milliseconds: milliseconds) }

  /// The input's actions, without logs.
  mutating func effects(_ input: (inout WorkerStateMachine, WorkerInstant) -> [WorkerStateMachine.Action])
    -> [WorkerStateMachine.Action]
  {
    input(&machine, now).filter { !$0.isLog }
  }

  mutating func tick() -> [WorkerStateMachine.Action] { effects { $0.tick(now: $1) } }

  /// Ticks every millisecond for `milliseconds`: what was done, and when.
  mutating func run(milliseconds: Int) -> [(at: Duration, action: WorkerStateMachine.Action)] {
    var timeline: [(at: Duration, action: WorkerStateMachine.Action)] = []
    for _ in 0..<milliseconds {
      advance(milliseconds: 1)
      timeline += tick().map { (now, $0) }
    }
    return timeline
  }

  /// Ticks every millisecond until an action matches (at most a minute).
  mutating func run(until match: (WorkerStateMachine.Action) -> Bool) -> [(
    at: Duration, action: WorkerStateMachine.Action
  )] {
    var timeline: [(at: Duration, action: WorkerStateMachine.Action)] = []
    for _ in 0..<60_000 {
      advance(milliseconds: 1)
      let actions = tick()
      timeline += actions.map { (now, $0) }
      if actions.contains(where: match) { return timeline }
    }
    XCTFail("nothing matched within a minute")
    return timeline
  }

  mutating func connect() {
    _ = effects { $0.start(now: $1) }
    _ = effects { $0.connected(now: $1) }
  }

  mutating func welcome(heartbeatMilliseconds: Int = 1000, liveness: Int = 3) -> [WorkerStateMachine.Action] {
    effects {
      $0.welcomeReceived(
        Welcome(heartbeatIntervalMilliseconds: heartbeatMilliseconds, liveness: liveness, cancel: []), now: $1
      )
    }
  }

  /// Assign with the dataset cached, directory made: the trainer's child id.
  mutating func startTraining(_ assign: Assign) -> WorkerStateMachine.ChildID {
    _ = effects { $0.assignReceived(assign, cached: .complete, now: $1) }
    let spawn = effects { $0.directoryPrepared(assign.attempt, now: $1) }
    guard case .spawn(let child, _) = spawn.first else {
      XCTFail("no spawn: \(spawn)")
      return WorkerStateMachine.ChildID(-1)
    }
    return child
  }

  static func assign(size: Int = 4096, seed: UInt64 = 7) -> Assign {
    var hyperparameters = Hyperparameters()
    hyperparameters.bcSteps = 100
    hyperparameters.steps = 300
    let sha256 = SHA256Digest(of: Data("dataset of \(size) bytes".utf8))
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: sha256.rawValue, algorithm: .trac,
      hyperparameters: hyperparameters, costThreshold: 20, seed: seed, evalEpisodes: 5, evalSeed: 3)
    return Assign(
      attempt: AttemptID(RunID(stringLiteral: spec.runID), 1), spec: spec,
      dataset: DatasetRef(sha256: sha256, size: size, name: "ballcircle.hdf5"), leaseMilliseconds: 500)
  }
}

extension WorkerStateMachine.Action {
  fileprivate var isLog: Bool { if case .log = self { true } else { false } }
  fileprivate var isFetch: Bool { if case .send(.fetch) = self { true } else { false } }
}

// MARK: - Decisions the shell used to make

extension WorkerStateMachineTests {
  func testAHeartbeatWithAttemptsReadsTheirProgressAtMostOnceASecond() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome(heartbeatMilliseconds: 100, liveness: 100)
    let assign = Scenario.assign()
    _ = worker.startTraining(assign)
    let read = worker.run(until: { if case .readProgress = $0 { true } else { false } })
    XCTAssertEqual(read.last?.action, .readProgress([assign.attempt]))
    XCTAssertEqual(read.last?.at, .milliseconds(100))
    let progress = AttemptProgress(attempt: assign.attempt, phase: "bc", step: 5, totalSteps: 300, loss: nil)
    XCTAssertEqual(
      worker.effects { $0.progressRead([progress], now: $1) },
      [
        .send(
          .heartbeat(Heartbeat(workerID: Scenario.workerID, running: [assign.attempt], progress: [progress])))
      ])
    // For a second, heartbeats go out without reading progress.
    let plain = worker.run(milliseconds: 999).map(\.action)
    XCTAssertFalse(plain.contains { if case .readProgress = $0 { true } else { false } })
    XCTAssertEqual(
      plain.filter { if case .send(.heartbeat) = $0 { true } else { false } },
      Array(
        repeating: .send(.heartbeat(Heartbeat(workerID: Scenario.workerID, running: [assign.attempt]))),
        count: 9))
    worker.advance(milliseconds: 1)
    XCTAssertEqual(worker.tick(), [.readProgress([assign.attempt])])
    XCTAssertEqual(
      worker.effects { $0.progressRead([progress], now: $1) },
      [.send(.heartbeat(Heartbeat(workerID: Scenario.workerID, running: [assign.attempt])))],
      "unchanged progress is not sent again")
  }

  func testACheckpointIsSentOnlyWhenItDiffersFromTheOneSentOrStartedFrom() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    var assign = Scenario.assign()
    let resumed = CheckpointRef(sha256: SHA256Digest(of: Data("ckpt".utf8)), size: 4, step: 100)
    assign.checkpoint = resumed
    _ = worker.effects {
      $0.assignReceived(assign, cached: .complete, alsoHeld: [resumed.sha256: .complete], now: $1)
    }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }, [.spawn(ChildID(0), assign)])
    XCTAssertEqual(
      worker.effects {
        $0.checkpointRead(assign.attempt, checkpoint: resumed, data: Data("ckpt".utf8), now: $1)
      },
      [], "the coordinator has the checkpoint the attempt started from")
    let newer = CheckpointRef(sha256: SHA256Digest(of: Data("newer".utf8)), size: 5, step: 200)
    XCTAssertEqual(
      worker.effects {
        $0.checkpointRead(assign.attempt, checkpoint: newer, data: Data("newer".utf8), now: $1)
      },
      [.sendCheckpoint(assign.attempt, newer, Data("newer".utf8))])
    _ = worker.effects { $0.checkpointSent(assign.attempt, newer, now: $1) }
    XCTAssertEqual(
      worker.effects {
        $0.checkpointRead(assign.attempt, checkpoint: newer, data: Data("newer".utf8), now: $1)
      },
      [], "sent already")
  }

  func testACheckpointThatCannotBePutInPlaceMeansTrainingFromStepZero() {
    var worker = Scenario()
    worker.connect()
    _ = worker.welcome()
    var assign = Scenario.assign()
    let checkpoint = CheckpointRef(sha256: SHA256Digest(of: Data("ckpt".utf8)), size: 4, step: 100)
    assign.checkpoint = checkpoint
    _ = worker.effects {
      $0.assignReceived(assign, cached: .complete, alsoHeld: [checkpoint.sha256: .complete], now: $1)
    }
    XCTAssertEqual(
      worker.effects { $0.directoryPrepared(assign.attempt, now: $1) }, [.spawn(ChildID(0), assign)])
    var fromZero = assign
    fromZero.checkpoint = nil
    XCTAssertEqual(
      worker.effects { $0.resumeFailed(assign.attempt, reason: "EXDEV", now: $1) },
      [.spawn(ChildID(0), fromZero)])
    XCTAssertEqual(
      worker.effects {
        $0.checkpointRead(assign.attempt, checkpoint: checkpoint, data: Data("ckpt".utf8), now: $1)
      },
      [.sendCheckpoint(assign.attempt, checkpoint, Data("ckpt".utf8))],
      "it did not start from it, so a checkpoint with its hash is news")
  }
}
