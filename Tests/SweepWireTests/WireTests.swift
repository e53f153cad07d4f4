import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// The transport over real libzmq on tcp://127.0.0.1, and the message codec.
final class WireTests: XCTestCase {
  let context = ZMQContext()

  /// A bound ROUTER and a connected DEALER on a port the kernel picks.
  func pair(routingID: String = "worker-1") throws -> (router: ZMQSocket, dealer: ZMQSocket) {
    let router = try ZMQSocket(context: context, kind: .router)
    try router.bind("tcp://127.0.0.1:*")
    let dealer = try ZMQSocket(context: context, kind: .dealer)
    try dealer.setRoutingID(routingID)
    try dealer.connect(router.lastEndpoint)
    return (router, dealer)
  }

  func testMessagesRoundTripWithAttachmentsAndReplies() throws {
    let (router, dealer) = try pair()
    let hello = Hello(
      workerID: "worker-1", host: "node1", slots: 2, trainerVersion: "0.1.0",
      running: [AttemptID("0000000000000abc", 2)], spooled: [])
    let payload = Data((0..<100_000).map { UInt8($0 % 251) })
    try dealer.send(WireMessage(.hello, hello, attachments: [payload, Data()]).frames)

    let frames = try XCTUnwrap(try router.receive(timeout: .seconds(5)))
    XCTAssertEqual(String(decoding: frames[0], as: UTF8.self), "worker-1")  // the routing id
    let message = try WireMessage.decode(Array(frames.dropFirst()))
    XCTAssertEqual(message.type, .hello)
    XCTAssertEqual(try message.decodeBody(Hello.self), hello)
    XCTAssertEqual(message.attachments, [payload, Data()])

    try router.send(
      [frames[0]]
        + WireMessage(.welcome, Welcome(heartbeatIntervalMilliseconds: 1000, liveness: 3, cancel: [])).frames)
    let reply = try WireMessage.decode(try XCTUnwrap(try dealer.receive(timeout: .seconds(5))))
    XCTAssertEqual(try reply.decodeBody(Welcome.self).liveness, 3)
  }

  func testHelloSaysWhatTheWorkerEvaluatesAndAnOlderHelloDoesNot() throws {
    func decode(_ body: String) throws -> Hello {
      try WireMessage(type: .hello, body: Data(body.utf8)).decodeBody(Hello.self)
    }
    let base =
      #""worker_id": "w-1", "host": "n", "slots": 1, "trainer_version": "v", "running": [], "spooled": []"#
    XCTAssertNil(try decode("{\(base)}").evaluates, "an older worker says nothing")
    XCTAssertEqual(try decode(#"{\#(base), "evaluates": []}"#).evaluates, [])
    XCTAssertEqual(
      try decode(#"{\#(base), "evaluates": ["safety_gymnasium", "isaac_gym", "bullet_gym"]}"#).evaluates,
      [.safetyGymnasium, .bulletGym], "a family this side does not know is dropped")
    let many = Array(repeating: #""bullet_gym""#, count: 65).joined(separator: ",")
    XCTAssertThrowsError(try decode(#"{\#(base), "evaluates": [\#(many)]}"#)) { error in
      XCTAssertTrue("\(error)".contains("at most 64"), "\(error)")
    }
    XCTAssertThrowsError(try decode(#"{\#(base), "evaluates": "bullet_gym"}"#))
    let announced = Hello(
      workerID: "w-1", host: "n", slots: 1, trainerVersion: "v", running: [], spooled: [],
      evaluates: [.bulletGym])
    let body = String(decoding: WireMessage(.hello, announced).body, as: UTF8.self)
    XCTAssertTrue(body.contains(#""evaluates":["bullet_gym"]"#), body)
    XCTAssertFalse(
      String(
        decoding: WireMessage(
          .hello, Hello(workerID: "w-1", host: "n", slots: 1, trainerVersion: "v", running: [], spooled: [])
        ).body, as: UTF8.self
      )
      .contains("evaluates"), "not announced: no field")
  }

  func testAHeartbeatCarriesProgressOnlyWhenThereIsSome() throws {
    let attempt = AttemptID(run: RunID("0123456789abcdef"), counted: 2)
    let plain = Heartbeat(workerID: "w-1", running: [attempt])
    let plainBody = String(decoding: WireMessage(.heartbeat, plain).body, as: UTF8.self)
    XCTAssertFalse(plainBody.contains("progress"), "no progress, no field: \(plainBody)")
    let report = AttemptProgress(
      attempt: attempt, phase: "trac", step: 41_000, totalSteps: 100_000, loss: 0.5125)
    let message = WireMessage(.heartbeat, Heartbeat(workerID: "w-1", running: [attempt], progress: [report]))
    let body = String(decoding: message.body, as: UTF8.self)
    XCTAssertTrue(body.contains(#""total_steps":100000"#), body)
    let decoded = try WireMessage.decode(message.frames).decodeBody(Heartbeat.self)
    XCTAssertEqual(decoded.progress, [report])
    XCTAssertEqual(
      try WireMessage.decode(WireMessage(.heartbeat, plain).frames).decodeBody(Heartbeat.self), plain)
  }

  func testAnotherProtocolVersionIsRefusedByName() {
    let frames = [Data("trac-sweep/1".utf8), Data("hello".utf8), Data("{}".utf8)]
    XCTAssertThrowsError(try WireMessage.decode(frames)) { error in
      XCTAssertEqual(error as? WireError, .versionMismatch(peer: "trac-sweep/1"))
      XCTAssertTrue("\(error)".contains("trac-sweep/3"))
    }
  }

  func testMalformedMessagesAreErrorsNotCrashes() {
    let tag = Data(WireMessage.protocolTag.utf8)
    let cases: [[Data]] = [
      [], [Data("GET / HTTP/1.1".utf8)], [tag], [tag, Data("hello".utf8)],
      [tag, Data("launch".utf8), Data("{}".utf8)],
      [tag, Data([0xff, 0xfe]), Data()],
    ]
    for frames in cases {
      XCTAssertThrowsError(try WireMessage.decode(frames), "\(frames)")
    }
    let badBody = WireMessage(type: .hello, body: Data(#"{"worker_id": 3}"#.utf8))
    XCTAssertThrowsError(try badBody.decodeBody(Hello.self)) { error in
      XCTAssertTrue("\(error)".contains("worker_id"), "\(error)")
    }
    let notJSON = WireMessage(type: .heartbeat, body: Data("not json".utf8))
    XCTAssertThrowsError(try notJSON.decodeBody(Heartbeat.self))
  }

  func testOversizedMessagesAreDroppedAndTheSocketKeepsServing() throws {
    let router = try ZMQSocket(context: context, kind: .router, maxMessageSize: 1024)
    try router.bind("tcp://127.0.0.1:*")
    let hostile = try ZMQSocket(context: context, kind: .dealer)
    try hostile.connect(router.lastEndpoint)
    try hostile.send([Data(count: 10_000)])
    XCTAssertNil(try router.receive(timeout: .milliseconds(300)), "an oversized message never arrives")
    let honest = try ZMQSocket(context: context, kind: .dealer)
    try honest.connect(router.lastEndpoint)
    try honest.send(WireMessage(.heartbeat, Heartbeat(workerID: "w", running: [])).frames)
    let frames = try XCTUnwrap(try router.receive(timeout: .seconds(5)))
    XCTAssertEqual(try WireMessage.decode(Array(frames.dropFirst())).type, .heartbeat)
  }

  func testReplyToAnUnknownPeerIsAnErrorNotASilentDrop() throws {
    let (router, _) = try pair()
    XCTAssertThrowsError(
      try router.send([Data("nobody".utf8)] + WireMessage(.pong, Pong(known: false)).frames)
    ) {
      XCTAssertEqual(($0 as? ZMQError)?.errnoCode, EHOSTUNREACH)
    }
  }

  func testReceiveTimesOutWithNil() throws {
    let (router, _) = try pair()
    let start = ContinuousClock.now
    XCTAssertNil(try router.receive(timeout: .milliseconds(50)))
    XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
  }
}
