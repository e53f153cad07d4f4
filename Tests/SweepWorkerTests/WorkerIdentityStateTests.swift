import Foundation
import SweepWire
import SweepWorker
import TracCore
import XCTest

/// What a worker says about itself in `hello` (the families it evaluates), and when a refusal of its
/// key stops it: the state machine alone, on a manual time line.
final class WorkerIdentityStateTests: XCTestCase {
  static let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

  func machine(evaluates: [TaskFamily]?) -> WorkerStateMachine {
    var configuration = WorkerStateMachine.Configuration(
      workerID: "node1-0123abcd", settings: .init(host: "node1", slots: 1, trainerVersion: "test"))
    configuration.evaluates = evaluates
    configuration.publicKey = Self.key
    return WorkerStateMachine(configuration: configuration, spooled: [])
  }

  func hello(of machine: inout WorkerStateMachine) -> Hello? {
    _ = machine.start(now: .zero)
    for action in machine.connected(now: .zero) {
      if case .send(.hello(let hello)) = action { return hello }
    }
    return nil
  }

  func testHelloAnnouncesTheFamiliesTheWorkerEvaluates() {
    var trainOnly = machine(evaluates: [])
    XCTAssertEqual(hello(of: &trainOnly)?.evaluates, [])
    var both = machine(evaluates: [.bulletGym, .safetyGymnasium])
    XCTAssertEqual(hello(of: &both)?.evaluates, [.bulletGym, .safetyGymnasium])
  }

  func testARefusalOfItsOwnKeyStopsTheWorkerAndOneOfAnotherKeyDoesNot() {
    var worker = machine(evaluates: [])
    _ = hello(of: &worker)
    // ZeroMQ may deliver the refusal of an impostor's key to the honest worker: it goes on.
    let other = worker.errorReceived(
      ErrorMessage(
        code: .keyMismatch, message: "worker id node1-0123abcd belongs to another key", subject: "x"),
      now: .milliseconds(5))
    XCTAssertFalse(other.contains { if case .fail = $0 { true } else { false } })
    XCTAssertFalse(worker.isFinished)

    let own = worker.errorReceived(
      ErrorMessage(
        code: .keyMismatch, message: "worker id node1-0123abcd belongs to another key", subject: Self.key),
      now: .milliseconds(10))
    XCTAssertEqual(own.last, .fail(.identityRefused("worker id node1-0123abcd belongs to another key")))
    XCTAssertTrue(worker.isFinished)
  }
}
