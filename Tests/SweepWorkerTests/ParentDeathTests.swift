import Foundation
import SweepWorker
import TracSweepTesting
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// A trainer must not outlive its worker: the test starts this test binary as a stand-in worker,
/// which starts a trainer; then it kills the stand-in with SIGKILL, which no handler can catch.
final class ParentDeathTests: XCTestCase {
  static let helperDirectoryVariable = "TRAC_SWEEP_TEST_PARENT_DEATH_DIR"
  static let helperTest = "SweepWorkerTests.ParentDeathTests/testHelperStartsATrainerAndWaits"

  /// The stand-in worker's body; does nothing unless started by `testTrainerDiesWithItsWorker`.
  func testHelperStartsATrainerAndWaits() throws {
    guard let path = ProcessInfo.processInfo.environment[Self.helperDirectoryVariable] else { return }
    let directory = URL(fileURLWithPath: path)
    let trainer = try FakeTrainer.make(in: directory, behaviour: .hangs)
    let process = try TrainerProcess.start(
      TrainerLaunch(
        executable: trainer, arguments: ["train", "--out", directory.appendingPathComponent("out").path],
        stdoutLog: directory.appendingPathComponent("trainer.out"),
        stderrLog: directory.appendingPathComponent("trainer.err")))
    try "\(process.pid)".write(
      to: directory.appendingPathComponent("trainer.pid"), atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: 60)
  }

  func testTrainerDiesWithItsWorker() async throws {
    let scratch = try makeScratchDirectory(self)
    let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let worker = try TrainerProcess.start(
      TrainerLaunch(
        executable: URL(fileURLWithPath: testBinary), arguments: [Self.helperTest],
        environment: [Self.helperDirectoryVariable: scratch.path],
        stdoutLog: scratch.appendingPathComponent("worker.out"),
        stderrLog: scratch.appendingPathComponent("worker.err")))
    let pidFile = scratch.appendingPathComponent("trainer.pid")
    let started = await eventually(within: .seconds(20)) { pid_t(fileText(pidFile)) != nil }
    guard started, let trainerPID = pid_t(fileText(pidFile)) else {
      await worker.terminate(grace: .seconds(1))
      return XCTFail("the stand-in worker never started its trainer: \(worker.exit?.stderrTail ?? "")")
    }
    defer { kill(-trainerPID, SIGKILL) }  // its `sleep`, which the parent-death signal cannot reach
    XCTAssertTrue(isAlive(trainerPID))
    XCTAssertEqual(kill(worker.pid, SIGKILL), 0)
    let workerExit = await worker.wait()
    XCTAssertEqual(workerExit.signal, SIGKILL)
    let trainerGone = await eventually(within: .seconds(2)) { !isAlive(trainerPID) }
    XCTAssertTrue(trainerGone, "the trainer outlived its worker")
  }
}
