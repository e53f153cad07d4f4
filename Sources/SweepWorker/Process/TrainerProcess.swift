import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// A trainer child: the one place in trac-sweep that starts processes.
///
/// The child runs in its own process group (so a signal reaches the Python evaluator it starts
/// too), writes stdout and stderr to files, and is killed by the kernel if the worker dies
/// (`PR_SET_PDEATHSIG`, set between fork and exec: see `ChildSpawner`). A thread waits for it; when
/// it exits, whatever it left running in its group is killed before it is reaped.
public final class TrainerProcess: @unchecked Sendable {
  public let pid: pid_t
  public let launch: TrainerLaunch
  public let startedAt: ContinuousClock.Instant

  private let lock = NSLock()
  /// Once reaped, the pid (and process group id) may belong to someone else: no more signals.
  private var reaped = false
  private var terminationRequested = false
  private let exitBox = ExitBox()

  private init(pid: pid_t, launch: TrainerLaunch, startedAt: ContinuousClock.Instant) {
    self.pid = pid
    self.launch = launch
    self.startedAt = startedAt
  }

  /// Starts the child. Throws when the log files cannot be opened or the program cannot be
  /// executed (the error names the failing call and keeps its errno).
  public static func start(_ launch: TrainerLaunch) throws -> TrainerProcess {
    let standardInput = open("/dev/null", O_RDONLY | O_CLOEXEC)
    guard standardInput >= 0 else { throw systemCallError("open", path: "/dev/null") }
    defer { close(standardInput) }
    let standardOutput = try openLog(launch.stdoutLog)
    defer { close(standardOutput) }
    let standardError = try openLog(launch.stderrLog)
    defer { close(standardError) }

    let request = SpawnRequest(
      executable: launch.executable.path, arguments: launch.arguments,
      environment: launch.childEnvironment().map { "\($0.key)=\($0.value)" }.sorted(),
      workingDirectory: launch.workingDirectory?.path, standardInput: standardInput,
      standardOutput: standardOutput, standardError: standardError)
    let startedAt = ContinuousClock.now
    let pid = try ChildSpawner.shared.spawn(request)
    let process = TrainerProcess(pid: pid, launch: launch, startedAt: startedAt)
    let reaper = Thread { process.waitForExit() }
    reaper.name = "trac-sweep reaper \(pid)"
    reaper.start()
    return process
  }

  private static func openLog(_ url: URL) throws -> Int32 {
    let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw systemCallError("open", path: url.path) }
    return descriptor
  }

  /// Waits for the child to exit.
  public func wait() async -> TrainerExit { await exitBox.wait() }

  /// Blocks the calling thread until the child exits or `timeout` passes (then nil).
  public func waitUntilExit(timeout: Duration) -> TrainerExit? { exitBox.wait(timeout: timeout) }

  /// How the child ended, or nil while it runs.
  public var exit: TrainerExit? { exitBox.value }

  /// Sends `signal` to the child's whole process group, if it has not been reaped yet.
  public func signal(_ signal: Int32) {
    lock.withLock {
      terminationRequested = true
      if !reaped { _ = kill(-pid, signal) }
    }
  }

  /// SIGTERM to the process group; SIGKILL if the child has not exited after `grace`.
  @discardableResult
  public func terminate(grace: Duration) async -> TrainerExit {
    signal(SIGTERM)
    let escalation = Task { [self] in
      try await Task.sleep(for: grace)
      self.signal(SIGKILL)
    }
    let exit = await wait()
    escalation.cancel()
    return exit
  }

  /// Runs on the reaper thread.
  private func waitForExit() {
    // Wait without reaping: while the child is a zombie its pid names its process group safely.
    var info = siginfo_t()
    var waitError: Int32 = 0
    while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
      if errno != EINTR {
        waitError = errno
        break
      }
    }
    let wallTime = ContinuousClock.now - startedAt
    let requested = lock.withLock {
      _ = kill(-pid, SIGKILL)  // whatever the trainer left behind in its group
      reaped = true
      return terminationRequested
    }
    var status: Int32 = 0
    var reapResult: pid_t = -1
    repeat { reapResult = waitpid(pid, &status, 0) } while reapResult < 0 && errno == EINTR

    var tail = StderrTail.read(from: launch.stderrLog)
    var exitStatus: Int32?
    var signal: Int32?
    if reapResult == pid, waitError == 0 {
      let terminatingSignal = status & 0x7f
      if terminatingSignal == 0 { exitStatus = (status >> 8) & 0xff } else { signal = terminatingSignal }
    } else {
      // Someone else reaped the child (SIGCHLD ignored?): its status is gone. Report a failure.
      let note = "trac-sweep worker: lost the exit status of process \(pid): " + errnoDescription(waitError)
      tail = tail.isEmpty ? note : tail + "\n" + note
    }
    exitBox.fulfill(
      TrainerExit(
        exitStatus: exitStatus, signal: signal, wallTime: wallTime, stderrTail: tail,
        terminatedOnRequest: requested))
  }
}

/// The child's exit, once known, for async and blocking waiters alike.
private final class ExitBox: @unchecked Sendable {
  private let condition = NSCondition()
  private var exit: TrainerExit?
  private var waiters: [CheckedContinuation<TrainerExit, Never>] = []

  var value: TrainerExit? {
    condition.lock()
    defer { condition.unlock() }
    return exit
  }

  func fulfill(_ value: TrainerExit) {
    condition.lock()
    exit = value
    let waiting = waiters
    waiters = []
    condition.broadcast()
    condition.unlock()
    for waiter in waiting { waiter.resume(returning: value) }
  }

  func wait() async -> TrainerExit {
    await withCheckedContinuation { continuation in
      condition.lock()
      if let exit {
        condition.unlock()
        continuation.resume(returning: exit)
      } else {
        waiters.append(continuation)
        condition.unlock()
      }
    }
  }

  func wait(timeout: Duration) -> TrainerExit? {
    let deadline = Date(timeIntervalSinceNow: timeout.seconds)
    condition.lock()
    defer { condition.unlock() }
    while exit == nil {
      if !condition.wait(until: deadline) { break }
    }
    return exit
  }
}
