import Foundation
import SweepWire
import TracCore
import XCTest

/// The hot messages (heartbeat, pong, ack, cancel, result, an assign's attempt) skip Foundation's JSON
/// coders. A peer must not be able to tell: the same bytes out, the same values in, the same errors.
final class FastCodecTests: XCTestCase {
  /// What Foundation's canonical encoder writes for `value`.
  func canonical<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONCodec.canonicalEncoder.encode(value), as: UTF8.self)
  }

  func body<T: Encodable>(_ type: MessageType, _ value: T) -> String {
    String(decoding: WireMessage(type, value).body, as: UTF8.self)
  }

  func testHotMessagesAreWrittenByteForByteAsTheCanonicalEncoderWritesThem() throws {
    let attempts = [
      try AttemptID(run: RunID("0123456789abcdef"), number: 1),
      try AttemptID(run: RunID("fedcba9876543210"), number: 12),
    ]
    let worker = WorkerID("node1-4f2a")
    let heartbeats = [
      Heartbeat(workerID: worker, running: []), Heartbeat(workerID: worker, running: attempts),
      Heartbeat(workerID: WorkerID("Node_1.example-org"), running: attempts.reversed()),
    ]
    for heartbeat in heartbeats {
      XCTAssertEqual(body(.heartbeat, heartbeat), try canonical(heartbeat))
    }
    for known in [true, false] {
      XCTAssertEqual(body(.pong, Pong(known: known)), try canonical(Pong(known: known)))
    }
    for attempt in attempts {
      for duplicate in [true, false] {
        let ack = Ack(attempt: attempt, duplicate: duplicate)
        XCTAssertEqual(body(.ack, ack), try canonical(ack))
      }
      XCTAssertEqual(body(.cancel, Cancel(attempt: attempt)), try canonical(Cancel(attempt: attempt)))
    }
    let files = [
      FileInfo(
        name: ArtifactName("policy.safetensors"), size: 123_456,
        sha256: try SHA256Digest(String(repeating: "a1", count: 32))),
      FileInfo(
        name: ArtifactName("run.json"), size: 0,
        sha256: try SHA256Digest(String(repeating: "0", count: 64))),
    ]
    var results: [ResultMessage] = []
    for outcome in [TrainerOutcome.succeeded, .failed, .inputError] {
      for exitStatus in [Int32?.none, 0, 1, 65, -9, Int32.max] {
        for tail in ["", "RuntimeError: NaN in loss", "Traceback:\n  x\n", "100% done / \"ok\""] {
          results.append(
            ResultMessage(
              workerID: WorkerID("w-1"), attempt: attempts[1], outcome: outcome, exitStatus: exitStatus,
              stderrTail: tail,
              files: outcome == .succeeded ? files : []))
        }
      }
    }
    results.append(
      ResultMessage(
        workerID: worker, attempt: attempts[0], outcome: .failed, exitStatus: 1,
        stderrTail: "née \u{1} tab\there \"quoted\" back\\slash", files: []))
    for result in results {
      XCTAssertEqual(body(.result, result), try canonical(result))
    }
  }

  /// A message decoded both ways: with the fast path (the real type) and without (a mirror type with
  /// the same fields, which only Codable knows).
  func assertSameValue<Fast: Decodable & Equatable, Mirror: Decodable>(
    _ text: String, _ type: MessageType, _: Fast.Type, _: Mirror.Type, _ convert: (Mirror) -> Fast,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    let message = WireMessage(type: type, body: Data(text.utf8))
    let fast = Result { () throws(WireError) -> Fast in try message.decodeBody(Fast.self) }
    let slow = Result { () throws(WireError) -> Fast in convert(try message.decodeBody(Mirror.self)) }
    switch (fast, slow) {
    case (.success(let a), .success(let b)): XCTAssertEqual(a, b, text, file: file, line: line)
    case (.failure(let a), .failure(let b)): XCTAssertEqual(a, b, text, file: file, line: line)
    default: XCTFail("\(text): fast path \(fast), Codable \(slow)", file: file, line: line)
    }
  }

  struct HeartbeatMirror: Decodable {
    var worker_id: WorkerID
    var running: [AttemptMirror]
  }

  /// AttemptID itself has no fast path: its Codable is what the mirrors compare against.
  typealias AttemptMirror = AttemptID

  struct AckMirror: Decodable {
    var attempt: AttemptMirror
    var duplicate: Bool
  }

  struct PongMirror: Decodable { var known: Bool }

  struct FileMirror: Decodable {
    var name: ArtifactName
    var size: Int
    var sha256: SHA256Digest
  }

  struct ResultMirror: Decodable {
    var worker_id: WorkerID
    var attempt: AttemptMirror
    var outcome: TrainerOutcome
    var exit_status: Int32?
    var stderr_tail: String
    var files: [FileMirror]
  }

  func testHotMessagesReadTheSameValuesAndGiveTheSameErrorsAsCodable() {
    let heartbeats = [
      #"{"running":[],"worker_id":"w1"}"#,
      #"{"worker_id":"w1","running":[{"run_id":"0123456789abcdef","attempt":2},{"attempt":3,"run_id":"fedcba9876543210"}]}"#,
      #" { "running" : [ { "attempt" : 2 , "run_id" : "0123456789abcdef" } ] , "worker_id" : "w1" } "#,
      #"{"running":[],"worker_id":"w1","extra":{"ignored":[1,2.5,null,true]}}"#,
      #"{"running":[],"worker_id":"caf\u00e9\/\n"}"#, #"{"running":[],"worker_id":"café"}"#,
      #"{"running":[{"attempt":1.0,"run_id":"fedcba9876543210"}],"worker_id":"w"}"#,
      #"{"running":[{"attempt":1e2,"run_id":"fedcba9876543210"}],"worker_id":"w"}"#,
      #"{"running":[],"worker_id":"a","worker_id":"b"}"#,
      // Malformed: each must be refused with Codable's own words.
      #"{"running":[]}"#, #"{"worker_id":3,"running":[]}"#, #"{"worker_id":"w","running":{}}"#,
      #"{"worker_id":"w","running":[{"attempt":"1","run_id":"fedcba9876543210"}]}"#,
      #"{"worker_id":"w","running":[{"attempt":1}]}"#,
      #"{"worker_id":"w","running":[{"attempt":01,"run_id":"fedcba9876543210"}]}"#,
      #"{"worker_id":"w","running":[{"attempt":99999999999999999999,"run_id":"fedcba9876543210"}]}"#,
      #"{"worker_id":null,"running":[]}"#, #"{"worker_id":"w","running":[]"#, #"[]"#, "", "nul",
      #"{"worker_id":"w","running":[],}"#, #"{"worker_id":"w""running":[]}"#,
      "{\"worker_id\":\"a\u{1}\",\"running\":[]}",
    ]
    for text in heartbeats {
      assertSameValue(text, .heartbeat, Heartbeat.self, HeartbeatMirror.self) {
        Heartbeat(workerID: $0.worker_id, running: $0.running)
      }
    }
    for text in [#"{"known":true}"#, #"{"known":false}"#, #"{"known":1}"#, #"{}"#, #"{"known":"true"}"#] {
      assertSameValue(text, .pong, Pong.self, PongMirror.self) { Pong(known: $0.known) }
    }
    let acks = [
      #"{"attempt":{"attempt":4,"run_id":"0123456789abcdef"},"duplicate":false}"#,
      // Invalid identifiers: refused the same way by both paths, naming the rule.
      #"{"attempt":{"attempt":4,"run_id":"../../etc"},"duplicate":false}"#,
      #"{"attempt":{"attempt":0,"run_id":"0123456789abcdef"},"duplicate":false}"#,
      #"{"attempt":{"attempt":4,"run_id":"0123456789ABCDEF"},"duplicate":false}"#,
      #"{"duplicate":true,"attempt":{"run_id":"0123456789abcdef","attempt":-4}}"#,
      #"{"attempt":{"attempt":4,"run_id":"0123456789abcdef"}}"#, #"{"attempt":null,"duplicate":false}"#,
      #"{"attempt":{"attempt":4,"run_id":7},"duplicate":false}"#,
    ]
    for text in acks {
      assertSameValue(text, .ack, Ack.self, AckMirror.self) {
        Ack(attempt: $0.attempt, duplicate: $0.duplicate)
      }
    }
    let files =
      #"[{"name":"run.json","sha256":"\#(String(repeating: "ab", count: 32))","size":10},{"name":"p","sha256":"\#(String(repeating: "cd", count: 32))","size":0}]"#
    let results = [
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":0,"files":[],"outcome":"succeeded","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"files":\#(files),"outcome":"succeeded","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":null,"files":[],"outcome":"failed","stderr_tail":"x","worker_id":"w"}"#,
      #"{"attempt":{"attempt":2,"run_id":"0123456789abcdef"},"exit_status":65,"files":[],"outcome":"input_error","stderr_tail":"bad\ninput","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":4294967296,"files":[],"outcome":"failed","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":0,"files":[],"outcome":"exploded","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":0,"files":[{"name":"a","size":-1}],"outcome":"succeeded","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":0,"outcome":"succeeded","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":0,"files":[{"name":"../x","sha256":"\#(String(repeating: "ab", count: 32))","size":1}],"outcome":"succeeded","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":0,"files":[{"name":"x","sha256":"AB","size":1}],"outcome":"succeeded","stderr_tail":"","worker_id":"w"}"#,
      #"{"attempt":{"attempt":1,"run_id":"0123456789abcdef"},"exit_status":0,"files":[],"outcome":"succeeded","stderr_tail":"","worker_id":"/etc"}"#,
    ]
    for text in results {
      assertSameValue(text, .result, ResultMessage.self, ResultMirror.self) {
        ResultMessage(
          workerID: $0.worker_id, attempt: $0.attempt, outcome: $0.outcome, exitStatus: $0.exit_status,
          stderrTail: $0.stderr_tail,
          files: $0.files.map { FileInfo(name: $0.name, size: $0.size, sha256: $0.sha256) })
      }
    }
  }

  func testAnAssignsAttemptIsReadWithoutItsSpecAndABadOneIsAClearError() throws {
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: String(repeating: "ab", count: 32), algorithm: .trac,
      hyperparameters: Hyperparameters(), costThreshold: 10, seed: 3)
    let assign = Assign(
      attempt: try AttemptID(run: RunID("0123456789abcdef"), number: 2), spec: spec,
      dataset: DatasetRef(
        sha256: try SHA256Digest(String(repeating: "ab", count: 32)), size: 10, name: "d.hdf5"),
      leaseMilliseconds: 3000)
    let message = WireMessage(.assign, assign)
    XCTAssertEqual(try message.attemptReference(), assign.attempt)
    XCTAssertEqual(try message.decodeBody(Assign.self), assign)
    let bad = WireMessage(
      type: .assign, body: Data(#"{"attempt":{"attempt":"two","run_id":"0123456789abcdef"}}"#.utf8))
    XCTAssertThrowsError(try bad.attemptReference()) { error in
      XCTAssertTrue("\(error)".contains("$.attempt.attempt"), "\(error)")
    }
  }
}
