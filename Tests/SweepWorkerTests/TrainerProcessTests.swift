import Foundation
import SweepWorker
import TracCore
import TracSweepTesting
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

final class TrainerProcessTests: XCTestCase {
  private let key = AttemptID(RunID(stringLiteral: "0123456789abcdef"), 1)

  /// Starts a fake trainer the way the worker starts `trac-sweep train`.
  private func startFake(_ behaviour: FakeTrainer.Behaviour) throws -> (TrainerProcess, AttemptDirectory) {
    let scratch = try makeScratchDirectory(self)
    let trainer = try FakeTrainer.make(in: scratch, behaviour: behaviour)
    let attempt = try RunDirectory(workDirectory: scratch).prepare(key)
    let process = try TrainerProcess.start(
      TrainerLaunch(
        executable: trainer,
        arguments: ["train", "--task", "OfflineBallCircle-v0", "--out", attempt.outputDirectory.path],
        in: attempt))
    return (process, attempt)
  }

  /// Waits until the fake has set up its signal handling.
  private func waitUntilReady(_ attempt: AttemptDirectory) async {
    let ready = await eventually(within: .seconds(5)) {
      fileText(attempt.stdoutLog).contains(FakeTrainer.readyLine)
    }
    XCTAssertTrue(ready, "the fake trainer never got ready")
  }

  func testSucceededRunLeavesItsArtifactsAndStdoutLog() async throws {
    let (process, attempt) = try startFake(FakeTrainer.Behaviour(stdout: "policy saved\n"))
    let exit = await process.wait()
    XCTAssertEqual(exit.outcome, .succeeded)
    XCTAssertEqual(exit.exitStatus, 0)
    XCTAssertNil(exit.signal)
    XCTAssertFalse(exit.terminatedOnRequest)
    XCTAssertEqual(exit.stderrTail, "")
    XCTAssertGreaterThan(exit.wallSeconds, 0)
    // A run that is not a BC stage unit leaves no bc-stage.safetensors.
    XCTAssertEqual(
      attempt.existingArtifacts().map(\.lastPathComponent), ["run.json", "policy.safetensors", "train.jsonl"])
    XCTAssertTrue(fileText(attempt.stdoutLog).contains("policy saved"))
    XCTAssertEqual(process.exit, exit)
    XCTAssertEqual(process.waitUntilExit(timeout: .zero), exit)
  }

  func testFailedRunKeepsItsExitStatusAndStderrTail() async throws {
    let stderr = "loading dataset\nTraceback (most recent call last):\nRuntimeError: evaluator crashed\n"
    let (process, attempt) = try startFake(.fails(status: 3, stderr: stderr))
    let exit = await process.wait()
    XCTAssertEqual(exit.outcome, .failed)
    XCTAssertEqual(exit.exitStatus, 3)
    XCTAssertNil(exit.signal)
    XCTAssertEqual(
      exit.stderrTail, "loading dataset\nTraceback (most recent call last):\nRuntimeError: evaluator crashed")
    XCTAssertEqual(attempt.existingArtifacts(), [])
  }

  func testExitStatus65IsAnInputError() async throws {
    let (process, _) = try startFake(.inputError("error: no desirable segments at cost threshold 20\n"))
    let exit = await process.wait()
    XCTAssertEqual(exit.outcome, .inputError)
    XCTAssertEqual(exit.exitStatus, 65)
    XCTAssertEqual(exit.stderrTail, "error: no desirable segments at cost threshold 20")
  }

  func testStderrTailIsTheLastLinesOfALongStderr() async throws {
    let lines = (0..<5000).map { "step \($0): loss is still decreasing, nothing to worry about" }
    let (process, _) = try startFake(.fails(status: 1, stderr: lines.joined(separator: "\n") + "\n"))
    let exit = await process.wait()
    XCTAssertEqual(
      exit.stderrTail.split(separator: "\n").map(String.init), Array(lines.suffix(StderrTail.maxLines)))
    XCTAssertLessThanOrEqual(exit.stderrTail.utf8.count, StderrTail.maxBytes)
  }

  func testTerminateStopsTheTrainerAndItsGroupWithSIGTERM() async throws {
    let (process, attempt) = try startFake(.hangs)
    await waitUntilReady(attempt)
    XCTAssertNil(process.waitUntilExit(timeout: .milliseconds(50)), "a hanging trainer exited")
    let started = ContinuousClock.now
    let exit = await process.terminate(grace: .seconds(10))
    XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "SIGTERM should have been enough")
    XCTAssertEqual(exit.signal, SIGTERM)
    XCTAssertNil(exit.exitStatus)
    XCTAssertEqual(exit.outcome, .failed)
    XCTAssertTrue(exit.terminatedOnRequest)
    let groupGone = await eventually(within: .seconds(2)) { livingMembers(ofGroup: process.pid).isEmpty }
    XCTAssertTrue(groupGone, "the trainer's `sleep` outlived it")
  }

  func testTerminateKillsATrainerThatIgnoresSIGTERMAfterTheGrace() async throws {
    let (process, attempt) = try startFake(
      FakeTrainer.Behaviour(delay: .seconds(3600), ignoresTermination: true))
    await waitUntilReady(attempt)
    let started = ContinuousClock.now
    let exit = await process.terminate(grace: .milliseconds(300))
    let elapsed = ContinuousClock.now - started
    XCTAssertEqual(exit.signal, SIGKILL)
    XCTAssertTrue(exit.terminatedOnRequest)
    XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(300))
    XCTAssertLessThan(elapsed, .seconds(3))
    let groupGone = await eventually(within: .seconds(2)) { livingMembers(ofGroup: process.pid).isEmpty }
    XCTAssertTrue(groupGone, "the trainer's `sleep` outlived it")
  }

  func testChildHasItsOwnProcessGroupAndOneBLASThread() async throws {
    let scratch = try makeScratchDirectory(self)
    let process = try TrainerProcess.start(
      TrainerLaunch(
        executable: URL(fileURLWithPath: "/bin/sh"),
        arguments: ["-c", #"echo "$OPENBLAS_NUM_THREADS $TRAC_TEST_MARK"; cut -d' ' -f5 /proc/$$/stat"#],
        environment: ["OPENBLAS_NUM_THREADS": "8", "TRAC_TEST_MARK": "added"],
        stdoutLog: scratch.appendingPathComponent("stdout.log"),
        stderrLog: scratch.appendingPathComponent("stderr.log")))
    let exit = await process.wait()
    XCTAssertEqual(exit.outcome, .succeeded, exit.stderrTail)
    XCTAssertEqual(fileText(scratch.appendingPathComponent("stdout.log")), "1 added\n\(process.pid)\n")
  }

  func testProcessesTheTrainerLeavesBehindAreKilledWhenItExits() async throws {
    let scratch = try makeScratchDirectory(self)
    let stdout = scratch.appendingPathComponent("stdout.log")
    let process = try TrainerProcess.start(
      TrainerLaunch(
        executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "sleep 30 & echo $!"],
        stdoutLog: stdout, stderrLog: scratch.appendingPathComponent("stderr.log")))
    let exit = await process.wait()
    XCTAssertEqual(exit.outcome, .succeeded)
    let leftover = try XCTUnwrap(pid_t(fileText(stdout).trimmingCharacters(in: .whitespacesAndNewlines)))
    let gone = await eventually(within: .seconds(2)) { !isAlive(leftover) }
    XCTAssertTrue(gone, "the trainer's background process outlived it")
  }

  func testMissingExecutableIsASpawnErrorWithItsErrno() throws {
    let scratch = try makeScratchDirectory(self)
    let launch = TrainerLaunch(
      executable: scratch.appendingPathComponent("no-such-trainer"), arguments: ["train"],
      stdoutLog: scratch.appendingPathComponent("stdout.log"),
      stderrLog: scratch.appendingPathComponent("stderr.log"))
    XCTAssertThrowsError(try TrainerProcess.start(launch)) { error in
      XCTAssertEqual(
        error as? SweepWorkerError,
        .spawnFailed(executable: launch.executable.path, call: "execve", errno: ENOENT))
    }
  }

  /// The parent-death signal follows the thread that forked: children must not die with the
  /// (pooled, short-lived) thread that asked for them.
  func testTrainerOutlivesTheThreadThatStartedIt() async throws {
    let scratch = try makeScratchDirectory(self)
    let trainer = try FakeTrainer.make(in: scratch, behaviour: .hangs)
    let launch = TrainerLaunch(
      executable: trainer, arguments: ["--out", scratch.appendingPathComponent("out").path],
      stdoutLog: scratch.appendingPathComponent("stdout.log"),
      stderrLog: scratch.appendingPathComponent("stderr.log"))
    let started = StartedProcess()
    let thread = Thread { started.set(Result { try TrainerProcess.start(launch) }) }
    thread.start()
    let process = try started.get()
    let threadDone = await eventually(within: .seconds(2)) { thread.isFinished }
    XCTAssertTrue(threadDone)
    try await Task.sleep(for: .milliseconds(300))
    XCTAssertNil(process.exit, "the trainer died with the thread that started it")
    XCTAssertTrue(isAlive(process.pid))
    let exit = await process.terminate(grace: .seconds(2))
    XCTAssertEqual(exit.signal, SIGTERM)
  }
}

private final class StartedProcess: @unchecked Sendable {
  private let semaphore = DispatchSemaphore(value: 0)
  private var result: Result<TrainerProcess, any Error>?

  func set(_ value: Result<TrainerProcess, any Error>) {
    result = value
    semaphore.signal()
  }

  func get() throws -> TrainerProcess {
    semaphore.wait()
    return try result!.get()
  }
}
