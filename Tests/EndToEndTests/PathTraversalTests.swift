import Foundation
import SweepWire
import TracCore
import TracSweepTesting
import XCTest

/// Every field of a message that could reach the file system, sent with hostile values to a real
/// coordinator while a real worker finishes a sweep: nothing outside the state directory is created,
/// changed or deleted, each sender gets an `error` with a code, and the sweep completes.
final class PathTraversalTests: XCTestCase {
  /// The identifiers a hostile peer tries: climbing out, absolute, empty, huge, NUL, uppercase.
  static let hostileNames = [
    "../../../victim", "../victim", "/tmp/victim", "victim/../../x", "",
    String(repeating: "a", count: 10_000),
    "abc\u{0}def", ".", "..", "0123456789ABCDEF", " 0123456789abcdef",
  ]

  func testHostileIdentifiersTouchNothingOutsideTheStateDirectory() throws {
    let cluster = ClusterHarness("traversal")
    try cluster.startCoordinator()
    // A folder beside the state directory, where `../` from the artifacts would land.
    let victim = cluster.root.appendingPathComponent("victim")
    try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
    try Data("keep me".utf8).write(to: victim.appendingPathComponent("precious.txt"))
    let outside = FileManager.default.temporaryDirectory.appendingPathComponent("victim")
    let outsideBefore = Self.snapshot(outside)
    let trainer = try FakeTrainer.make(
      in: temporaryDirectory("traversal-trainer"), behaviour: .succeeds(after: .milliseconds(150)))
    let grid = try cluster.writeGrid(
      name: "traversal", alphas: [0.1, 0.2, 0.5], seeds: [0], dataset: try CLI.datasetFile())
    let skipped: Set<String> = ["state", "worker-real", "coordinator.log", "worker-real.log"]
    let before = Self.snapshot(cluster.root, skipping: skipped)
    XCTAssertNotNil(before["victim/precious.txt"])

    try cluster.startWorker("real", trainer: trainer, slots: 1)
    let submitted = try cluster.client(["submit", grid.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr + cluster.logs())
    let sweep = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

    // The peer never says a valid hello: it is given no work, so no attempt is ever its own.
    let peer = try HostilePeer(endpoint: cluster.endpoint, routingID: "hostile-1")
    let payload = Data("PWNED".utf8)
    let fileSHA = SHA256Digest(of: payload).rawValue
    var refusals: [ErrorMessage] = []

    // Run ids and attempt numbers in a result that carries a file.
    for name in Self.hostileNames {
      refusals.append(
        try peer.refused(
          Self.result(run: Self.json(name), file: #""run.json""#, sha: fileSHA, size: 5), payload))
    }
    for number in ["0", "-1", "9223372036854775807"] {
      refusals.append(
        try peer.refused(
          Self.result(
            run: #""0123456789abcdef""#, attempt: number, file: #""run.json""#, sha: fileSHA, size: 5),
          payload))
    }
    // File names of a result for a well-formed run id.
    let hostileFileNames =
      Self.hostileNames.filter { !ArtifactName.isValid($0) } + ["a/b", ".hidden", "victim/precious.txt"]
    XCTAssertEqual(
      hostileFileNames.count, Self.hostileNames.count + 2, "only the uppercase run id is a valid file name")
    for name in hostileFileNames {
      refusals.append(
        try peer.refused(
          Self.result(run: #""0123456789abcdef""#, file: Self.json(name), sha: fileSHA, size: 5), payload))
    }
    // A file's sha256 that is not 64 lowercase hex digits.
    for sha in ["../../victim", String(repeating: "A", count: 64), String(repeating: "a", count: 63), ""] {
      refusals.append(
        try peer.refused(
          Self.result(run: #""0123456789abcdef""#, file: #""run.json""#, sha: sha, size: 5), payload))
    }
    // Dataset hashes in fetch and upload.
    for sha in [
      "../../victim", "/etc/passwd", String(repeating: "A", count: 64), String(repeating: "a", count: 65),
    ] {
      refusals.append(
        try peer.refused(#"{"sha256":\#(Self.json(sha)),"offset":0,"length":10}"#, type: "fetch"))
      refusals.append(
        try peer.refused(
          #"{"command":"upload","sha256":\#(Self.json(sha)),"total":5,"offset":0}"#, type: "request", payload)
      )
    }
    // Worker ids.
    for name in Self.hostileNames.filter({ !WorkerID.isValid($0) }) + ["a/b", "-x"] {
      refusals.append(try peer.refused(Self.hello(worker: Self.json(name))))
    }
    // Non-UTF-8 bytes where an identifier goes.
    var raw = Data(#"{"worker_id":"hostile-1","attempt":{"run_id":""#.utf8)
    raw.append(contentsOf: [0xFF, 0xFE, 0x2E, 0x2E, 0x2F])
    raw.append(
      contentsOf: Data(
        #"","attempt":1},"outcome":"succeeded","exit_status":0,"stderr_tail":"","files":[]}"#.utf8))
    refusals.append(try peer.refused(raw, type: "result"))

    XCTAssertFalse(refusals.isEmpty)
    for refusal in refusals {
      XCTAssertTrue(
        [ErrorCode.invalidIdentifier, .malformed].contains(refusal.code),
        "\(refusal.code): \(refusal.message)")
    }
    XCTAssertTrue(
      refusals.contains { $0.code == .invalidIdentifier && $0.message.contains("run id") },
      "\(refusals.prefix(3))")

    // Well-formed, but not an attempt of this peer: acknowledged as nothing recorded, and no file written.
    let results = try cluster.waitFor("the sweep to finish") { $0.sweeps.first?.done == 3 }
    XCTAssertEqual(results.sweeps.first?.failed, 0)
    let csv = try cluster.client(["results", sweep, "--format", "csv"])
    let runIDs = csv.stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[1]) }
    XCTAssertEqual(runIDs.count, 3, csv.stdout)
    for run in runIDs {
      let reply = try peer.exchange(
        Self.result(run: Self.json(run), attempt: "1", file: #""run.json""#, sha: fileSHA, size: 5), payload)
      XCTAssertEqual(reply.type, .ack, "a result for another worker's attempt is acknowledged, not recorded")
      XCTAssertEqual(try reply.decodeBody(Ack.self).duplicate, true)
    }

    XCTAssertTrue(cluster.coordinator?.isRunning ?? false, "the coordinator is alive")
    XCTAssertEqual(
      Self.snapshot(cluster.root, skipping: skipped), before,
      "something outside the state directory changed")
    XCTAssertEqual(Self.snapshot(outside), outsideBefore)
    // The hostile bytes are nowhere, the state directory included.
    let enumerator = FileManager.default.enumerator(at: cluster.root, includingPropertiesForKeys: nil)
    while let url = enumerator?.nextObject() as? URL {
      guard let data = FileManager.default.contents(atPath: url.path) else { continue }
      XCTAssertNil(data.range(of: payload), "\(url.path) holds a hostile peer's bytes")
    }
    let artifacts = cluster.stateDirectory.appendingPathComponent("artifacts/runs")
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: artifacts.path).sorted(), runIDs.sorted())
  }

  func testAGridMayNameOnlyDatasetsInsideTheDirectoriesTheOperatorAllowed() throws {
    let cluster = ClusterHarness("datasets")
    let allowed = cluster.root.appendingPathComponent("allowed")
    try FileManager.default.createDirectory(at: allowed, withIntermediateDirectories: true)
    try cluster.startCoordinator(["--heartbeat-interval", "0.1", "--datasets", allowed.path])
    let dataset = try CLI.datasetFile()
    let grid = try cluster.writeGrid(name: "elsewhere", alphas: [0.1], seeds: [0], dataset: dataset)
    let text = try String(contentsOf: grid, encoding: .utf8)
    let client = try RequestClient(endpoint: cluster.endpoint)

    // A path the coordinator would have to read from its own disk, outside `--datasets`: refused.
    XCTAssertThrowsError(
      try client.call(ClientRequest(command: .submit, grid: text), expecting: SubmitReply.self)
    ) { error in
      guard case .refused(let refusal) = error as? RequestClient.RequestError else {
        return XCTFail("\(error)")
      }
      XCTAssertEqual(refusal.code, .datasetNotAllowed)
      XCTAssertTrue(refusal.message.contains("--datasets"), refusal.message)
      XCTAssertTrue(refusal.message.contains(dataset), refusal.message)
    }
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(
        atPath: cluster.stateDirectory.appendingPathComponent("artifacts/datasets").path),
      [], "the file was not read into the store")
    // The same file, uploaded by `submit` from the client's machine: accepted.
    let submitted = try cluster.client(["submit", grid.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr + cluster.logs())
    // Inside `--datasets`: read from the coordinator's disk.
    let inside = allowed.appendingPathComponent("inside.hdf5")
    try FileManager.default.copyItem(atPath: dataset, toPath: inside.path)
    let insideGrid = try cluster.writeGrid(name: "inside", alphas: [0.2], seeds: [0], dataset: inside.path)
    let reply = try client.call(
      ClientRequest(command: .submit, grid: try String(contentsOf: insideGrid, encoding: .utf8)),
      expecting: SubmitReply.self)
    XCTAssertEqual(reply.runs, 1)
    // A symbolic link inside `--datasets` that points out of it is outside.
    let link = allowed.appendingPathComponent("link.hdf5")
    try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: dataset)
    let linkGrid = try cluster.writeGrid(name: "linked", alphas: [0.5], seeds: [0], dataset: link.path)
    XCTAssertThrowsError(
      try client.call(
        ClientRequest(command: .submit, grid: try String(contentsOf: linkGrid, encoding: .utf8)),
        expecting: SubmitReply.self))
  }

  // MARK: - Helpers

  static func json(_ text: String) -> String {
    String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
  }

  static func hello(worker: String) -> String {
    #"{"worker_id":\#(worker),"host":"h","slots":1,"trainer_version":"x","running":[],"spooled":[]}"#
  }

  static func result(run: String, attempt: String = "1", file: String, sha: String, size: Int) -> String {
    #"{"worker_id":"hostile-1","attempt":{"run_id":\#(run),"attempt":\#(attempt)},"outcome":"succeeded","#
      + #""exit_status":0,"stderr_tail":"","files":[{"name":\#(file),"size":\#(size),"sha256":\#(json(sha))}]}"#
  }

  /// Every file and folder under `root` with its size and a hash of its content.
  static func snapshot(_ root: URL, skipping: Set<String> = []) -> [String: String] {
    var entries: [String: String] = [:]
    let base = root.standardizedFileURL.path
    guard let enumerator = FileManager.default.enumerator(atPath: base) else { return [:] }
    while let relative = enumerator.nextObject() as? String {
      if let first = relative.split(separator: "/").first, skipping.contains(String(first)) { continue }
      let path = base + "/" + relative
      if let data = FileManager.default.contents(atPath: path) {
        entries[relative] = SHA256Digest(of: data).rawValue
      } else {
        entries[relative] = "directory"
      }
    }
    return entries
  }
}

/// A DEALER that sends hand-made messages and reads the answer.
final class HostilePeer {
  let socket: ZMQSocket
  let context = ZMQContext()

  init(endpoint: String, routingID: String) throws {
    socket = try ZMQSocket(context: context, kind: .dealer)
    try socket.setRoutingID(routingID)
    try socket.connect(endpoint)
  }

  func exchange(_ body: String, type: String? = nil, _ attachment: Data? = nil) throws -> WireMessage {
    try exchange(Data(body.utf8), type: type, attachment)
  }

  func exchange(_ body: Data, type: String? = nil, _ attachment: Data? = nil) throws -> WireMessage {
    let kind =
      type
      ?? (String(decoding: body, as: UTF8.self).contains(#""host""#)
        ? "hello" : "result")
    try socket.send(
      [Data(WireMessage.protocolTag.utf8), Data(kind.utf8), body] + (attachment.map { [$0] } ?? []))
    // Skip what the coordinator sends unasked (pongs, assignments for the hello'd worker id).
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
      guard let frames = try socket.receive(timeout: .seconds(1)) else { continue }
      let message = try WireMessage.decode(frames)
      if [.error, .ack, .welcome, .chunk, .reply].contains(message.type) { return message }
    }
    throw ClusterHarness.HarnessError("no answer to \(kind)")
  }

  /// Sends and expects an `error` reply.
  func refused(_ body: String, type: String? = nil, _ attachment: Data? = nil) throws -> ErrorMessage {
    try refused(Data(body.utf8), type: type, attachment)
  }

  func refused(_ body: Data, type: String? = nil, _ attachment: Data? = nil) throws -> ErrorMessage {
    let reply = try exchange(body, type: type, attachment)
    guard reply.type == .error else {
      throw ClusterHarness.HarnessError(
        "\(String(decoding: body.prefix(200), as: UTF8.self)) was answered \(reply.type), not error")
    }
    return try reply.decodeBody(ErrorMessage.self)
  }
}
