import Foundation
import SweepWorker
import TracCore
import TracSweepTesting
import XCTest

final class ResultSpoolTests: XCTestCase {
  private var work: URL!

  override func setUpWithError() throws {
    work = try makeScratchDirectory(self)
  }

  private func key(_ attempt: Int, run runID: String = "00112233aabbccdd") -> AttemptID {
    AttemptID(RunID(stringLiteral: runID), attempt)
  }

  private func succeeded(_ key: AttemptID) -> AttemptResult {
    AttemptResult(key: key, outcome: .succeeded, exitStatus: 0, stderrTail: "", wallSeconds: 12.5)
  }

  /// run.json, policy.safetensors, train.jsonl and bc-stage.safetensors as a stage unit's trainer leaves them.
  private func artifacts(_ label: String) throws -> [URL] {
    let directory = work.appendingPathComponent("artifacts-\(label)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let contents = [
      "run.json": Data(#"{"normalized_cost": 0.8, "label": "\#(label)"}"#.utf8),
      "policy.safetensors": Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }),
      "train.jsonl": Data(#"{"step":1000,"loss":0.25}"#.utf8 + [10]),
      "bc-stage.safetensors": Data((0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }),
    ]
    return try AttemptDirectory.artifactNames.map { name in
      let url = directory.appendingPathComponent(name)
      try contents[name]!.write(to: url)
      return url
    }
  }

  private func spoolNames(_ spool: ResultSpool) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: spool.directory.path)) ?? []).sorted()
  }

  func testWrittenResultIsPendingWithItsFilesAndHashesAcrossRestarts() throws {
    let files = try artifacts("a")
    XCTAssertTrue(try ResultSpool(workDirectory: work).write(succeeded(key(1)), files: files))

    let reopened = try ResultSpool(workDirectory: work)
    XCTAssertEqual(reopened.quarantinedAtOpen, [])
    let pending = reopened.pending()
    XCTAssertEqual(pending.map(\.key), [key(1)])
    XCTAssertEqual(pending[0].result, succeeded(key(1)))
    XCTAssertEqual(pending[0].files.map(\.name.rawValue), AttemptDirectory.artifactNames)
    for (file, source) in zip(pending[0].files, files) {
      let spooled = reopened.fileURL(named: file.name, of: key(1))
      XCTAssertEqual(try Data(contentsOf: spooled), try Data(contentsOf: source))
      XCTAssertEqual(file.sha256, try SHA256Digest(ofFileAt: source.path))
      XCTAssertEqual(file.size, try Data(contentsOf: source).count)
    }
  }

  func testSecondWriteOfTheSameAttemptIsANoOp() throws {
    let spool = try ResultSpool(workDirectory: work)
    XCTAssertTrue(try spool.write(succeeded(key(1)), files: try artifacts("first")))
    let late = AttemptResult(key: key(1), outcome: .failed, exitStatus: 1, stderrTail: "late", wallSeconds: 1)
    XCTAssertFalse(try spool.write(late, files: try artifacts("second")))

    XCTAssertEqual(spool.pending().map(\.result), [succeeded(key(1))])
    let runJSON = try String(contentsOf: spool.fileURL(named: "run.json", of: key(1)), encoding: .utf8)
    XCTAssertTrue(runJSON.contains("first"))
    XCTAssertEqual(spoolNames(spool), ["00112233aabbccdd.attempt-1"], "a temporary entry was left behind")
  }

  func testAnotherAttemptOfTheSameRunIsAnotherEntry() throws {
    let spool = try ResultSpool(workDirectory: work)
    try spool.write(succeeded(key(1)), files: try artifacts("one"))
    try spool.write(succeeded(key(2)), files: try artifacts("two"))
    XCTAssertEqual(Set(spool.pending().map(\.key)), [key(1), key(2)])
  }

  func testAcknowledgeDeletesTheEntry() throws {
    let spool = try ResultSpool(workDirectory: work)
    try spool.write(succeeded(key(1)), files: try artifacts("a"))
    try spool.write(succeeded(key(1, run: "ffee000000000001")), files: try artifacts("b"))

    XCTAssertTrue(try spool.acknowledge(key(1)))
    XCTAssertFalse(try spool.acknowledge(key(1)), "a repeated ack must be harmless")
    XCTAssertEqual(spool.pending().map(\.key), [key(1, run: "ffee000000000001")])
    XCTAssertFalse(FileManager.default.fileExists(atPath: spool.entryURL(for: key(1)).path))
    XCTAssertEqual(
      try ResultSpool(workDirectory: work).pending().map(\.key), [key(1, run: "ffee000000000001")])
  }

  func testFailedResultWithoutFilesKeepsStatusAndTail() throws {
    let spool = try ResultSpool(workDirectory: work)
    let failed = AttemptResult(
      key: key(2), outcome: .failed, exitStatus: nil, signal: 9, stderrTail: "Killed\nout of memory",
      wallSeconds: 3)
    try spool.write(failed, files: [])
    let pending = try ResultSpool(workDirectory: work).pending()
    XCTAssertEqual(pending.map(\.result), [failed])
    XCTAssertEqual(pending[0].files, [])
  }

  func testAWorkerKilledWhileSpoolingLeavesNoEntry() throws {
    let spool = try ResultSpool(workDirectory: work)
    try spool.write(succeeded(key(1)), files: try artifacts("complete"))
    // What `write` has made when the worker dies before its rename: a hidden directory with some
    // files copied and no manifest; and an acknowledged entry whose deletion was cut short.
    let abandoned = spool.directory.appendingPathComponent(".tmp-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: abandoned, withIntermediateDirectories: true)
    try Data(#"{"normalized_cost": 0.8}"#.utf8).write(to: abandoned.appendingPathComponent("run.json"))
    try Data([1, 2, 3]).write(to: abandoned.appendingPathComponent("policy.safetensors"))
    let halfDeleted = spool.directory.appendingPathComponent(".trash-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: halfDeleted, withIntermediateDirectories: true)

    XCTAssertEqual(spool.pending().map(\.key), [key(1)], "the half-written entry must be invisible")
    let reopened = try ResultSpool(workDirectory: work)
    XCTAssertEqual(reopened.pending().map(\.key), [key(1)])
    XCTAssertEqual(reopened.quarantinedAtOpen.map(\.name), [abandoned.lastPathComponent])
    XCTAssertEqual(spoolNames(reopened), [".quarantine", "00112233aabbccdd.attempt-1"])
    XCTAssertTrue(
      FileManager.default.fileExists(
        atPath: reopened.quarantinedAtOpen[0].movedTo.appendingPathComponent("run.json").path))
  }

  func testDamagedEntriesAreQuarantinedAtOpenNotFatal() throws {
    let spool = try ResultSpool(workDirectory: work)
    for attempt in 1...4 { try spool.write(succeeded(key(attempt)), files: try artifacts("\(attempt)")) }
    let fileManager = FileManager.default
    // 2: the manifest is gone; 3: the manifest is not JSON; 4: the policy's bytes changed, not its size.
    try fileManager.removeItem(
      at: spool.fileURL(named: ArtifactName(stringLiteral: ResultSpool.manifestName), of: key(2)))
    try Data("{not json".utf8).write(
      to: spool.fileURL(named: ArtifactName(stringLiteral: ResultSpool.manifestName), of: key(3)))
    let policy = spool.fileURL(named: "policy.safetensors", of: key(4))
    var bytes = try Data(contentsOf: policy)
    bytes[100] ^= 0xff
    try bytes.write(to: policy)
    // An entry whose name is not a key, and a stray file.
    try fileManager.createDirectory(
      at: spool.directory.appendingPathComponent("not-an-entry"), withIntermediateDirectories: true)
    try Data("?".utf8).write(to: spool.directory.appendingPathComponent("stray.txt"))

    let reopened = try ResultSpool(workDirectory: work)
    XCTAssertEqual(reopened.pending().map(\.key), [key(1)])
    XCTAssertEqual(
      reopened.quarantinedAtOpen.map(\.name).sorted(),
      [
        "00112233aabbccdd.attempt-2", "00112233aabbccdd.attempt-3", "00112233aabbccdd.attempt-4",
        "not-an-entry", "stray.txt",
      ])
    let reasons = Dictionary(uniqueKeysWithValues: reopened.quarantinedAtOpen.map { ($0.name, $0.reason) })
    XCTAssertEqual(
      reasons["00112233aabbccdd.attempt-4"], "policy.safetensors does not match its sha256 in the manifest")
    for entry in reopened.quarantinedAtOpen {
      XCTAssertTrue(fileManager.fileExists(atPath: entry.movedTo.path), "\(entry.name) was not kept")
    }
    XCTAssertEqual(try ResultSpool(workDirectory: work).quarantinedAtOpen, [], "quarantine is done once")
  }

  func testFileNamesThatCannotBeSpooledAreRefused() throws {
    let spool = try ResultSpool(workDirectory: work)
    let manifest = work.appendingPathComponent(ResultSpool.manifestName)
    try Data("{}".utf8).write(to: manifest)
    XCTAssertThrowsError(try spool.write(succeeded(key(1)), files: [manifest])) { error in
      XCTAssertEqual(error as? SweepWorkerError, .invalidFileName(ResultSpool.manifestName))
    }
    let missing = work.appendingPathComponent("run.json")
    XCTAssertThrowsError(try spool.write(succeeded(key(1)), files: [missing]))
    XCTAssertEqual(spool.pending(), [])
    XCTAssertEqual(spoolNames(spool), [], "a failed write left something behind")
  }

  /// The worker's path for one attempt: run the trainer, spool what it left, clean its directory.
  func testFinishedTrainerRunIsSpooledThenItsWorkDirectoryRemoved() async throws {
    let trainer = try FakeTrainer.make(in: work, behaviour: .succeeds(after: .milliseconds(50)))
    let runs = try RunDirectory(workDirectory: work)
    let attempt = try runs.prepare(key(1))
    let process = try TrainerProcess.start(
      TrainerLaunch(
        executable: trainer, arguments: ["train", "--out", attempt.outputDirectory.path], in: attempt))
    let exit = await process.wait()
    let spool = try ResultSpool(workDirectory: work)
    XCTAssertTrue(
      try spool.write(AttemptResult(key: attempt.key, exit: exit), files: attempt.existingArtifacts()))
    try runs.remove(attempt.key)

    let pending = try ResultSpool(workDirectory: work).pending()
    XCTAssertEqual(pending.map(\.result.outcome), [.succeeded])
    XCTAssertEqual(
      pending.first?.files.map(\.name.rawValue), ["run.json", "policy.safetensors", "train.jsonl"])
    XCTAssertEqual(runs.attempts(ofRun: key(1).run), [])
    XCTAssertEqual(FakeTrainer.invocations(of: trainer), [attempt.outputDirectory.path])
  }
}
