import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// The coordinator process under a stream of random and mutated messages from several peers while
/// a real worker runs a sweep: it answers or drops each one, never crashes, and records every run once.
final class HostileInputTests: XCTestCase {
  func testFuzzedMessagesNeverStopTheCoordinatorServingARealWorker() throws {
    let seed =
      ProcessInfo.processInfo.environment["TRAC_FUZZ_SEED"].flatMap { UInt64($0) }
      ?? UInt64.random(in: 1...UInt64(UInt32.max))
    print("fuzz seed: \(seed) (rerun with TRAC_FUZZ_SEED=\(seed))")
    var random = SeededGenerator(seed: seed)
    let cluster = ClusterHarness("fuzz")
    // A small maximum message size, so that the oversized messages below are cheap to send.
    try cluster.startCoordinator(["--heartbeat-interval", "0.1", "--max-message-bytes", "8388608"])
    let trainer = try FakeTrainer.make(in: cluster.root, behaviour: .succeeds(after: .milliseconds(150)))
    try cluster.startWorker("real", trainer: trainer, slots: 2)
    let grid = try cluster.writeGrid(
      name: "fuzzed", alphas: [0.1, 0.2, 0.5], seeds: [0, 1, 2], dataset: try CLI.datasetFile())
    let submitted = try cluster.client(["submit", grid.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr + cluster.logs())
    let sweep = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

    let context = ZMQContext()
    var sockets: [ZMQSocket] = []
    for _ in 0..<6 {
      let socket = try ZMQSocket(context: context, kind: .dealer)
      try socket.connect(cluster.endpoint)
      sockets.append(socket)
    }
    var fuzzer = MessageFuzzer()
    var sent = 0
    var errorsReceived = 0
    var oversized = 0
    let total = 3000
    // First the known dangerous ones (huge numbers where arithmetic could overflow), then at random.
    for frames in MessageFuzzer.edgeCases {
      try sockets[sent % sockets.count].send(frames, dontWait: true)
      sent += 1
    }
    var batches = 0
    while sent < total {
      batches += 1
      for _ in 0..<50 {
        let socket = sockets[Int.random(in: 0..<sockets.count, using: &random)]
        let frames = fuzzer.next(using: &random)
        try socket.send(frames, dontWait: true)
        sent += 1
      }
      if batches % 20 == 0 {
        // Larger than --max-message-bytes: libzmq closes this peer's connection unread.
        let socket = try ZMQSocket(context: context, kind: .dealer)
        try socket.connect(cluster.endpoint)
        try socket.send(
          [Data(WireMessage.protocolTag.utf8), Data("result".utf8), Data("{}".utf8), Data(count: 9 << 20)])
        oversized += 1
        sockets.append(socket)
      }
      for socket in sockets {
        while let frames = try socket.receive(timeout: .zero) {
          if let message = try? WireMessage.decode(frames), message.type == .error { errorsReceived += 1 }
        }
      }
      Thread.sleep(forTimeInterval: 0.01)
      XCTAssertTrue(cluster.coordinator?.isRunning ?? false, "the coordinator died after \(sent) messages")
      guard cluster.coordinator?.isRunning ?? false else { return }
    }
    print(
      "fuzz: sent \(sent) messages (\(oversized) oversized) from \(sockets.count) peers; \(errorsReceived) error replies"
    )

    Thread.sleep(forTimeInterval: 0.2)
    guard cluster.coordinator?.isRunning ?? false else {
      return XCTFail("the coordinator died (seed \(seed)):\n\(cluster.logs())")
    }
    let status = try cluster.waitFor("the sweep to finish despite the fuzzing") { $0.sweeps.first?.done == 9 }
    XCTAssertEqual(status.sweeps.first?.failed, 0)
    XCTAssertGreaterThan(errorsReceived, sent / 4, "bad messages are answered with an error")
    let results = try cluster.client(["results", sweep, "--format", "csv"])
    XCTAssertEqual(results.status, 0, results.stderr)
    let runIDs = results.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[1] }
    XCTAssertEqual(runIDs.count, 9, results.stdout)
    XCTAssertEqual(Set(runIDs).count, 9, "a run recorded twice")
    XCTAssertTrue(cluster.coordinator?.isRunning ?? false, "the coordinator is alive at the end")
    // Peer bytes never break or forge a log line: every line is one of the coordinator's own.
    let log = try String(decoding: Data(contentsOf: cluster.coordinatorLog), as: UTF8.self)
    let forged = log.split(separator: "\n").filter { !$0.hasPrefix("20") }
    XCTAssertEqual(forged.count, 0, "log lines not from the coordinator: \(forged.prefix(3))")
    XCTAssertTrue(
      FakeTrainer.invocations(of: trainer).count >= 9, "the real worker did the work")
  }
}

/// Random and mutated protocol messages: wrong frame counts, other versions, unknown types, bad
/// JSON, wrong field types, huge or negative numbers, random bytes, and valid messages with bytes
/// flipped.
struct MessageFuzzer {
  let tag = Data(WireMessage.protocolTag.utf8)
  let types =
    MessageType.allCases.map(\.rawValue) + ["launch", "", "HELLO", String(repeating: "x", count: 300)]

  /// Bodies that parse as JSON and look like messages, with some fields wrong.
  let templates: [(String, String)] = [
    (
      "hello",
      #"{"worker_id":"fuzz-%d","host":"h","slots":%n,"trainer_version":"x","running":[],"spooled":[]}"#
    ),
    ("hello", #"{"worker_id":%n,"host":"h","slots":"two","trainer_version":"x","running":{},"spooled":[]}"#),
    ("heartbeat", #"{"worker_id":"fuzz-%d","running":[{"run_id":"%h","attempt":%n}]}"#),
    (
      "result",
      #"{"worker_id":"fuzz-%d","attempt":{"run_id":"%h","attempt":%n},"outcome":"succeeded","exit_status":0,"stderr_tail":"","files":[{"name":"run.json","size":%n,"sha256":"%h"}]}"#
    ),
    (
      "result",
      #"{"worker_id":"fuzz-%d","attempt":{"run_id":"%h","attempt":1},"outcome":"exploded","exit_status":"x","stderr_tail":null,"files":7}"#
    ),
    ("goodbye", #"{"worker_id":"fuzz-%d","released":[{"run_id":"%h","attempt":%n}]}"#),
    ("fetch", #"{"sha256":"%h","offset":%n,"length":%n}"#),
    ("fetch", #"{"sha256":%n,"offset":"0","length":[]}"#),
    ("request", #"{"command":"status","sweep":"%h"}"#),
    ("request", #"{"command":"cancel","sweep":"nope-%d"}"#),
    ("request", #"{"command":"results","sweep":%n}"#),
    ("request", #"{"command":"submit","grid":"{\"name\": %n}"}"#),
    ("request", #"{"command":"release","worker":"fuzz-%d"}"#),
    ("request", #"{"command":"selfdestruct"}"#),
    ("error", #"{"message":"%h"}"#),
    ("welcome", #"{"heartbeat_interval_ms":%n,"liveness":%n,"cancel":[]}"#),
  ]

  /// Messages that once broke, or could break, the coordinator: sent first by the test.
  static var edgeCases: [[Data]] {
    let tag = Data(WireMessage.protocolTag.utf8)
    let max = Int.max
    let bodies: [(String, String)] = [
      (
        "hello",
        #"{"worker_id":"edge-1","host":"h","slots":\#(max),"trainer_version":"x","running":[],"spooled":[]}"#
      ),
      (
        "hello",
        #"{"worker_id":"edge-2","host":"h","slots":\#(max),"trainer_version":"x","running":[],"spooled":[]}"#
      ),
      (
        "hello",
        #"{"worker_id":"edge-3","host":"h","slots":-1,"trainer_version":"x","running":[],"spooled":[]}"#
      ),
      ("heartbeat", #"{"worker_id":"edge-1","running":[{"run_id":"0000000000000000","attempt":\#(max)}]}"#),
      ("fetch", #"{"sha256":"\#(String(repeating: "0", count: 64))","offset":\#(max),"length":\#(max)}"#),
      ("fetch", #"{"sha256":"\#(String(repeating: "0", count: 64))","offset":-1,"length":-1}"#),
      (
        "result",
        #"{"worker_id":"edge-1","attempt":{"run_id":"0000000000000000","attempt":-9223372036854775808},"outcome":"failed","exit_status":-2147483648,"stderr_tail":"","files":[]}"#
      ),
      ("goodbye", #"{"worker_id":"edge-1","released":[{"run_id":"","attempt":0}]}"#),
    ]
    return bodies.map { [tag, Data($0.0.utf8), Data($0.1.utf8)] }
  }

  let numbers = [
    "0", "-1", "1", "3", "9223372036854775807", "-9223372036854775808", "99999999999999999999999", "1e308",
    "1e400", "-0", "2.5", "null", "\"7\"", "[]", "{}", "true",
  ]

  mutating func next(using random: inout SeededGenerator) -> [Data] {
    switch Int.random(in: 0..<9, using: &random) {
    case 0:  // random frames of random bytes
      return (0..<Int.random(in: 1...6, using: &random)).map { _ in
        bytes(Int.random(in: 0...200, using: &random), &random)
      }
    case 1:  // the right tag, the wrong number of frames
      return [tag] + (0..<Int.random(in: 0...1, using: &random)).map { _ in Data("hello".utf8) }
    case 2:  // another version
      return [
        Data("trac-sweep/\(Int.random(in: 0...99, using: &random))".utf8), Data("hello".utf8),
        Data("{}".utf8),
      ]
    case 3:  // an unknown or misdirected type
      return [tag, Data(types.randomElement(using: &random)!.utf8), Data("{}".utf8)]
    case 4:  // bodies that are not JSON
      let type = templates.randomElement(using: &random)!.0
      let body = ["", "{", "not json", "[1,2", "\u{0}\u{1}", String(repeating: "[", count: 5000)]
      return [tag, Data(type.utf8), Data(body.randomElement(using: &random)!.utf8)]
    case 5, 6:  // JSON that looks right, with fields of wrong types or absurd values
      let (type, template) = templates.randomElement(using: &random)!
      return [tag, Data(type.utf8), Data(fill(template, &random).utf8)] + extraFrames(&random)
    case 7:  // a valid-looking message with bytes flipped
      let (type, template) = templates.randomElement(using: &random)!
      var body = Array(fill(template, &random).utf8)
      for _ in 0..<Int.random(in: 1...4, using: &random) where !body.isEmpty {
        body[Int.random(in: 0..<body.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
      }
      return [tag, Data(type.utf8), Data(body)] + extraFrames(&random)
    default:  // many frames
      return [tag, Data("result".utf8), Data("{}".utf8)]
        + (0..<Int.random(in: 1...64, using: &random)).map { _ in
          bytes(Int.random(in: 0...64, using: &random), &random)
        }
    }
  }

  private func fill(_ template: String, _ random: inout SeededGenerator) -> String {
    var text = template
    while let range = text.range(of: "%n") {
      text.replaceSubrange(range, with: numbers.randomElement(using: &random)!)
    }
    while let range = text.range(of: "%d") {
      text.replaceSubrange(range, with: "\(Int.random(in: 0...5, using: &random))")
    }
    while let range = text.range(of: "%h") {
      let hex = (0..<Int.random(in: 0...64, using: &random)).map { _ in
        "0123456789abcdef".randomElement(using: &random)!
      }
      text.replaceSubrange(range, with: String(hex))
    }
    return text
  }

  private func extraFrames(_ random: inout SeededGenerator) -> [Data] {
    (0..<Int.random(in: 0...2, using: &random)).map { _ in
      bytes(Int.random(in: 0...32, using: &random), &random)
    }
  }

  private func bytes(_ count: Int, _ random: inout SeededGenerator) -> Data {
    Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &random) })
  }
}
