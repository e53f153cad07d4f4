import Foundation
import SweepWire
import TracCore
import TracTrainer
import XCTest

/// `trac-sweep train --checkpoint-dir`: real processes killed with SIGKILL and started again.
final class CheckpointCommandTests: XCTestCase {
  static let binary = CLI.binary
  static let policy = "policy.safetensors"

  /// 100 BC steps then 200 TraC steps on the small dataset: about a second a run.
  func arguments(
    _ dataset: String, out: URL, checkpoints: URL? = nil, seed: Int = 0, steps: Int = 300,
    extra: [String] = []
  ) -> [String] {
    var arguments = [
      "train", "--dataset", dataset, "--task", "OfflineBallCircle-v0", "--cost-threshold", "5", "--seed",
      "\(seed)",
      "--bc-steps", "100", "--steps", "\(steps)", "--batch-size", "4", "--log-every", "3", "--out", out.path,
    ]
    if let checkpoints { arguments += ["--checkpoint-dir", checkpoints.path, "--checkpoint-every", "40"] }
    return arguments + extra
  }

  /// train.jsonl without its timing fields (steps/s and elapsed time differ from run to run).
  /// Starts `train` with `arguments`, sends `signal` once train.jsonl (logged every step) is past step
  /// 150, and waits for the process to end.
  func signalPastStep150(_ signal: Int32, _ arguments: [String], out: URL) throws -> Process {
    let process = Process()
    process.executableURL = Self.binary
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 }
    process.standardError = FileHandle.nullDevice
    try process.run()
    let log = out.appendingPathComponent("train.jsonl")
    while process.isRunning {
      let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
      if text.components(separatedBy: "\n").count > 150 { break }
      usleep(200)
    }
    kill(process.processIdentifier, signal)
    process.waitUntilExit()
    return process
  }

  func logLines(_ out: URL) throws -> [String] {
    let text = try String(contentsOf: out.appendingPathComponent("train.jsonl"), encoding: .utf8)
    return try text.split(separator: "\n").map { line in
      var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      object["steps_per_second"] = nil
      object["elapsed_seconds"] = nil
      return String(
        decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
    }
  }

  func record(_ out: URL) throws -> RunRecord {
    try JSONCodec.decoder.decode(
      RunRecord.self, from: Data(contentsOf: out.appendingPathComponent("run.json")))
  }

  /// THE property: a run SIGKILLed in BC, exactly at the switch, just after it, in TraC, or halfway
  /// through writing a checkpoint, and started again, writes the same policy.safetensors, byte for
  /// byte, as a run that never stopped, and its train.jsonl has every logged step once, with the
  /// same losses.
  func testARunKilledAnywhereResumesToTheSamePolicyAndLog() throws {
    let dataset = try CLI.datasetFile()
    let reference = temporaryDirectory("ckpt-reference")
    let plain = try CLI.run(Self.binary, arguments(dataset, out: reference))
    XCTAssertEqual(plain.status, 0, plain.stderr)
    let referencePolicy = try Data(contentsOf: reference.appendingPathComponent(Self.policy))
    let referenceLog = try logLines(reference)
    let steps = try referenceLog.map {
      try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["step"] as! Int
    }
    XCTAssertEqual(
      steps,
      Array(Set((1...100).filter { $0 % 3 == 0 } + [100] + (101...300).filter { $0 % 3 == 0 } + [300]))
        .sorted())
    let runID = try record(reference).runID

    // Checkpoints every 40 steps and at the end of BC (100): where each kill resumes from.
    let kills: [(String, Int)] = [
      ("step:70", 40),  // in BC, with log lines past the checkpoint
      ("step:100", 100),  // exactly at the switch: after the end-of-BC checkpoint, before TraC
      ("step:101", 100),  // the first TraC step done, the switch is made again on resume
      ("step:250", 240),  // in TraC
      ("checkpoint:200", 160),  // halfway through writing a checkpoint: the previous one stands
      ("checkpoint:100", 80),  // halfway through the end-of-BC checkpoint
    ]
    for (kill, resumeStep) in kills {
      let out = temporaryDirectory("ckpt-killed")
      let checkpoints = temporaryDirectory("ckpt-dir")
      let killed = try CLI.run(
        Self.binary, arguments(dataset, out: out, checkpoints: checkpoints),
        environment: ["TRAC_TRAINER_TEST_KILL": kill])
      XCTAssertTrue(
        killed.signalled && killed.status == SIGKILL, "\(kill): \(killed.status) \(killed.stderr)")
      XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent(Self.policy).path))

      let resumed = try CLI.run(Self.binary, arguments(dataset, out: out, checkpoints: checkpoints))
      XCTAssertEqual(resumed.status, 0, "\(kill): \(resumed.stderr)")
      XCTAssertTrue(
        resumed.stderr.contains("resuming run \(runID) from step \(resumeStep) of 300"),
        "\(kill): \(resumed.stderr)")
      XCTAssertEqual(
        try Data(contentsOf: out.appendingPathComponent(Self.policy)), referencePolicy,
        "\(kill): policy differs")
      XCTAssertTrue(try logLines(out) == referenceLog, "\(kill): train.jsonl differs")
      let resumedRecord = try record(out)
      XCTAssertEqual(resumedRecord.resumedFromStep, resumeStep, kill)
      XCTAssertEqual(resumedRecord.resumedFromRun, runID, kill)
      XCTAssertEqual(resumedRecord.stepsTrained, 300 - resumeStep, kill)
      XCTAssertEqual(resumedRecord.final.steps, 300)
      let left = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
      XCTAssertEqual(
        left, [".lock", Checkpoint.bcStageFileName, Checkpoint.fileName], "\(kill): no temporary file left")
    }
  }

  /// A kill from outside at whatever step the run has reached, then a restart: the same policy.
  func testARunKilledFromOutsideResumesToTheSamePolicy() throws {
    let dataset = try CLI.datasetFile()
    let extra = ["--log-every", "1"]
    let reference = temporaryDirectory("ckpt-outside-reference")
    XCTAssertEqual(
      try CLI.run(Self.binary, arguments(dataset, out: reference, steps: 1000, extra: extra)).status, 0)
    let out = temporaryDirectory("ckpt-outside")
    let checkpoints = temporaryDirectory("ckpt-outside-dir")
    // Kill it once it has logged past step 150 (wherever it is by the time the signal lands).
    let process = try signalPastStep150(
      SIGKILL, arguments(dataset, out: out, checkpoints: checkpoints, steps: 1000, extra: extra), out: out)
    XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run finished before it was killed")
    let resumed = try CLI.run(
      Self.binary, arguments(dataset, out: out, checkpoints: checkpoints, steps: 1000, extra: extra))
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    XCTAssertTrue(resumed.stderr.contains("resuming run"), resumed.stderr)
    XCTAssertEqual(
      try Data(contentsOf: out.appendingPathComponent(Self.policy)),
      try Data(contentsOf: reference.appendingPathComponent(Self.policy)))
    XCTAssertTrue(try logLines(out) == logLines(reference), "train.jsonl differs")
  }

  /// SIGTERM (a worker handing the run back, Slurm's warning): the trainer checkpoints the step in hand
  /// and dies of the signal as before; the restart resumes exactly there and ends with the same policy.
  func testSIGTERMCheckpointsTheStepInHandThenEndsTheProcessBySignal() throws {
    let dataset = try CLI.datasetFile()
    let extra = ["--log-every", "1"]
    let reference = temporaryDirectory("ckpt-term-reference")
    XCTAssertEqual(
      try CLI.run(Self.binary, arguments(dataset, out: reference, steps: 1000, extra: extra)).status, 0)
    let out = temporaryDirectory("ckpt-term")
    let checkpoints = temporaryDirectory("ckpt-term-dir")
    // No periodic checkpoint before the signal: the one written is the signal's.
    let rare = extra + ["--checkpoint-every", "100000"]
    let process = try signalPastStep150(
      SIGTERM, arguments(dataset, out: out, checkpoints: checkpoints, steps: 1000, extra: rare), out: out)
    XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run finished before the signal")
    XCTAssertEqual(process.terminationStatus, SIGTERM, "it dies of the SIGTERM, as without checkpoints")
    let logged = try logLines(out).count
    let checkpoint = try Data(contentsOf: checkpoints.appendingPathComponent("checkpoint.safetensors"))
    let step = try XCTUnwrap(CheckpointHeader(checkpoint)?.step)
    XCTAssertGreaterThan(step, 100, "the checkpoint is the signal's, past the end of BC")
    XCTAssertEqual(step, logged, "nothing trained after the checkpoint was lost: it is the last logged step")
    let resumed = try CLI.run(
      Self.binary, arguments(dataset, out: out, checkpoints: checkpoints, steps: 1000, extra: rare))
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    XCTAssertTrue(resumed.stderr.contains("resuming run"), resumed.stderr)
    XCTAssertEqual(
      try Data(contentsOf: out.appendingPathComponent(Self.policy)),
      try Data(contentsOf: reference.appendingPathComponent(Self.policy)))
    XCTAssertTrue(try logLines(out) == logLines(reference), "train.jsonl differs")
  }

  /// A checkpoint of another run, a corrupt or truncated one, or one of another trainer format is
  /// refused with exit 65, naming both runs, before anything is written.
  func testForeignCorruptAndOldCheckpointsAreRefused() throws {
    let dataset = try CLI.datasetFile()
    let first = temporaryDirectory("ckpt-first")
    let checkpoints = temporaryDirectory("ckpt-first-dir")
    XCTAssertEqual(
      try CLI.run(Self.binary, arguments(dataset, out: first, checkpoints: checkpoints)).status, 0)
    let firstID = try record(first).runID
    let otherOut = temporaryDirectory("ckpt-other")
    XCTAssertEqual(try CLI.run(Self.binary, arguments(dataset, out: otherOut, seed: 1)).status, 0)
    let otherID = try record(otherOut).runID
    let checkpointURL = checkpoints.appendingPathComponent(Checkpoint.fileName)
    let original = try Data(contentsOf: checkpointURL)

    func refused(_ bytes: Data, _ expected: String, checkpointRun: String?, line: UInt = #line) throws {
      let directory = temporaryDirectory("ckpt-refused")
      try bytes.write(to: directory.appendingPathComponent(Checkpoint.fileName))
      let out = temporaryDirectory("ckpt-refused-out").appendingPathComponent("run")
      let result = try CLI.run(Self.binary, arguments(dataset, out: out, checkpoints: directory, seed: 1))
      XCTAssertEqual(result.status, 65, result.stderr, line: line)
      XCTAssertTrue(result.stderr.contains(expected), result.stderr, line: line)
      XCTAssertTrue(result.stderr.contains("this run is \(otherID)"), result.stderr, line: line)
      XCTAssertTrue(
        result.stderr.contains("checkpoint of run \(checkpointRun ?? "unknown")"), result.stderr, line: line)
      XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written", line: line)
      XCTAssertEqual(
        try Data(contentsOf: directory.appendingPathComponent(Checkpoint.fileName)), bytes, line: line)
    }
    try refused(original, "belongs to another run", checkpointRun: firstID)
    var flipped = original
    flipped[flipped.count - 3] ^= 0x04
    try refused(flipped, "is corrupt", checkpointRun: firstID)
    try refused(original.prefix(original.count / 2), "is truncated or corrupt", checkpointRun: nil)
    var checkpoint = try Checkpoint.read(checkpointURL)
    checkpoint.spec.trainerFormatVersion = RunSpec.trainerFormatVersion - 1
    try refused(
      checkpoint.encoded(), "trainer format \(RunSpec.trainerFormatVersion - 1)",
      checkpointRun: checkpoint.spec.runID)

    let usage = try CLI.run(
      Self.binary, arguments(dataset, out: otherOut, extra: ["--checkpoint-every", "5"]))
    XCTAssertEqual(usage.status, 64)
    XCTAssertTrue(usage.stderr.contains("--checkpoint-every needs --checkpoint-dir"), usage.stderr)

    // The run's own checkpoint, given again after the run finished, resumes from its last one.
    let again = try CLI.run(Self.binary, arguments(dataset, out: first, checkpoints: checkpoints))
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertTrue(again.stderr.contains("resuming run \(firstID) from step 280 of 300"), again.stderr)
    XCTAssertEqual(try record(first).stepsTrained, 20)
  }

  /// Run B's TraC phase starts from run A's end-of-BC checkpoint (A trained only the BC stage; B has
  /// another alpha, eta, beta and step count): B's policy and log are those of B trained alone.
  func testTraCPhaseStartsFromAnotherRunsBCStage() throws {
    let dataset = try CLI.datasetFile()
    let stageOut = temporaryDirectory("stage-a")
    let stageDirectory = temporaryDirectory("stage-a-dir")
    let stageRun = try CLI.run(
      Self.binary, arguments(dataset, out: stageOut, checkpoints: stageDirectory, steps: 100))
    XCTAssertEqual(stageRun.status, 0, stageRun.stderr)
    let stageRecord = try record(stageOut)
    let stageFile = stageDirectory.appendingPathComponent(Checkpoint.bcStageFileName)
    XCTAssertTrue(FileManager.default.fileExists(atPath: stageFile.path))

    let tracOptions = ["--alpha", "1", "--eta", "0.5", "--beta", "0.5"]
    let alone = temporaryDirectory("stage-b-alone")
    XCTAssertEqual(
      try CLI.run(Self.binary, arguments(dataset, out: alone, steps: 250, extra: tracOptions)).status, 0)
    let shared = temporaryDirectory("stage-b-shared")
    let result = try CLI.run(
      Self.binary,
      arguments(
        dataset, out: shared, steps: 250, extra: tracOptions + ["--init-from-checkpoint", stageFile.path]))
    XCTAssertEqual(result.status, 0, result.stderr)
    let sharedRecord = try record(shared)
    XCTAssertTrue(result.stderr.contains("from BC stage \(stageRecord.bcStage!)"), result.stderr)
    XCTAssertEqual(
      try Data(contentsOf: shared.appendingPathComponent(Self.policy)),
      try Data(contentsOf: alone.appendingPathComponent(Self.policy)))
    XCTAssertTrue(try logLines(shared) == logLines(alone), "train.jsonl differs")
    XCTAssertEqual(sharedRecord.bcStage, stageRecord.bcStage)
    XCTAssertEqual(sharedRecord.resumedFromRun, stageRecord.runID)
    XCTAssertNotEqual(sharedRecord.runID, stageRecord.runID)
    XCTAssertEqual(sharedRecord.resumedFromStep, 100)
    XCTAssertEqual(sharedRecord.stepsTrained, 150)

    // Another seed is another stage: refused, naming both stages.
    let otherOut = temporaryDirectory("stage-c").appendingPathComponent("run")
    let other = try CLI.run(
      Self.binary,
      arguments(dataset, out: otherOut, seed: 1, extra: ["--init-from-checkpoint", stageFile.path]))
    XCTAssertEqual(other.status, 65, other.stderr)
    XCTAssertTrue(
      other.stderr.contains("is of BC stage \(stageRecord.bcStage!), not this run's BC stage"), other.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: otherOut.path))
  }
}
