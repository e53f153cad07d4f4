import CProcess
import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// Forks and execs trainer children, all from one thread that lives as long as the worker.
///
/// Why not Foundation's `Process` or `posix_spawn`: the child must ask the kernel for
/// `PR_SET_PDEATHSIG` between fork and exec, so that it dies with the worker, and neither can run
/// code there. Why one long-lived thread: Linux sends the parent-death signal when the *thread*
/// that forked the child exits, not the process, so a child forked on a pooled thread (Dispatch,
/// the concurrency pool) would be killed whenever that thread retires.
final class ChildSpawner: @unchecked Sendable {
  static let shared = ChildSpawner()

  private let condition = NSCondition()
  private var jobs: [() -> Void] = []

  private init() {
    let thread = Thread { [unowned self] in self.serve() }
    thread.name = "trac-sweep spawner"
    thread.start()
  }

  private func serve() {
    while true {
      condition.lock()
      while jobs.isEmpty { condition.wait() }
      let job = jobs.removeFirst()
      condition.unlock()
      job()
    }
  }

  /// Starts `request` on the spawner thread and waits until the child has exec'd (or failed to).
  func spawn(_ request: SpawnRequest) throws -> pid_t {
    let result = SpawnResult()
    condition.lock()
    jobs.append { result.set(Result { try forkExec(request) }) }
    condition.signal()
    condition.unlock()
    return try result.get()
  }
}

/// What a child is started with; descriptors are open in the worker and closed by the caller.
struct SpawnRequest {
  var executable: String
  var arguments: [String]
  var environment: [String]
  var workingDirectory: String?
  var standardInput: Int32
  var standardOutput: Int32
  var standardError: Int32
}

private final class SpawnResult: @unchecked Sendable {
  private let semaphore = DispatchSemaphore(value: 0)
  private var result: Result<pid_t, any Error>?

  func set(_ value: Result<pid_t, any Error>) {
    result = value
    semaphore.signal()
  }

  func get() throws -> pid_t {
    semaphore.wait()
    return try result!.get()
  }
}

/// The steps of the child's setup, reported to the parent through the error pipe.
private enum ChildStep: Int32 {
  case setProcessGroup = 1, setParentDeathSignal, redirect, changeDirectory, exec

  var call: String {
    switch self {
    case .setProcessGroup: return "setpgid"
    case .setParentDeathSignal: return "prctl(PR_SET_PDEATHSIG)"
    case .redirect: return "dup2"
    case .changeDirectory: return "chdir"
    case .exec: return "execve"
    }
  }
}

/// Everything the child uses between fork and exec, prepared before the fork: the child only makes
/// system calls, since another thread may have held the allocator's or the runtime's locks at fork.
private struct ChildSetup {
  var path: UnsafeMutablePointer<CChar>
  var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
  var envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
  var workingDirectory: UnsafeMutablePointer<CChar>?
  var standardInput: Int32
  var standardOutput: Int32
  var standardError: Int32
  var errorPipe: Int32
  var parentPID: pid_t
  var emptySignalSet: UnsafeMutablePointer<sigset_t>
  var report: UnsafeMutablePointer<Int32>
  var closeRange: CloseRange?
  var descriptorLimit: Int32
}

private typealias CloseRange = @convention(c) (UInt32, UInt32, Int32) -> Int32

/// glibc has close_range(2) since 2.34; Swift's Glibc module does not declare it, so look it up.
private let closeRangeFunction: CloseRange? = {
  guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "close_range") else { return nil }
  return unsafeBitCast(symbol, to: CloseRange.self)
}()

private func forkExec(_ request: SpawnRequest) throws -> pid_t {
  let path = strdup(request.executable)!
  let argv = cStringArray([request.executable] + request.arguments)
  let envp = cStringArray(request.environment)
  let workingDirectory = request.workingDirectory.map { strdup($0)! }
  let emptySignalSet = UnsafeMutablePointer<sigset_t>.allocate(capacity: 1)
  sigemptyset(emptySignalSet)
  let report = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
  defer {
    free(path)
    freeCStringArray(argv)
    freeCStringArray(envp)
    free(workingDirectory)
    emptySignalSet.deallocate()
    report.deallocate()
  }

  var pipeEnds: [Int32] = [-1, -1]
  guard pipe(&pipeEnds) == 0 else { throw systemCallError("pipe") }
  _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
  _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
  defer { close(pipeEnds[0]) }

  let setup = ChildSetup(
    path: path, argv: argv, envp: envp, workingDirectory: workingDirectory,
    standardInput: request.standardInput, standardOutput: request.standardOutput,
    standardError: request.standardError, errorPipe: pipeEnds[1], parentPID: getpid(),
    emptySignalSet: emptySignalSet, report: report, closeRange: closeRangeFunction,
    descriptorLimit: Int32(clamping: min(max(sysconf(Int32(_SC_OPEN_MAX)), 1024), 65536)))

  let pid = fork()
  if pid == 0 { runChild(setup) }
  let forkErrno = errno
  close(pipeEnds[1])
  guard pid > 0 else {
    throw SweepWorkerError.spawnFailed(executable: request.executable, call: "fork", errno: forkErrno)
  }

  // The pipe closes on a successful exec (close-on-exec), or carries the failed step and errno.
  var received = 0
  while received < 8 {
    let count = read(pipeEnds[0], UnsafeMutableRawPointer(report) + received, 8 - received)
    if count < 0, errno == EINTR { continue }
    if count <= 0 { break }
    received += count
  }
  guard received == 8 else { return pid }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) < 0, errno == EINTR {}
  let step = ChildStep(rawValue: report[0])?.call ?? "spawn"
  throw SweepWorkerError.spawnFailed(executable: request.executable, call: step, errno: report[1])
}

/// Runs in the forked child. Async-signal-safe system calls only, no allocation, then exec.
private func runChild(_ setup: ChildSetup) -> Never {
  if setpgid(0, 0) != 0 { childFailed(setup, .setProcessGroup) }
  if trac_set_parent_death_signal(SIGKILL) != 0 { childFailed(setup, .setParentDeathSignal) }
  // The worker died between fork and prctl: the signal will never come, so go now.
  if getppid() != setup.parentPID { _exit(127) }
  if dup2(setup.standardInput, 0) < 0 || dup2(setup.standardOutput, 1) < 0
    || dup2(setup.standardError, 2) < 0
  {
    childFailed(setup, .redirect)
  }
  // Ignored signals and the blocked mask survive exec: the trainer must get SIGTERM's default action
  // even when the worker ignores SIGTERM to handle it on a dispatch source.
  var signalNumber: Int32 = 1
  while signalNumber < 32 {
    _ = signal(signalNumber, SIG_DFL)
    signalNumber += 1
  }
  sigprocmask(SIG_SETMASK, setup.emptySignalSet, nil)
  if let directory = setup.workingDirectory, chdir(directory) != 0 { childFailed(setup, .changeDirectory) }
  closeDescriptors(setup)
  execve(setup.path, setup.argv, setup.envp)
  childFailed(setup, .exec)
}

/// Closes every inherited descriptor above stderr except the error pipe (close-on-exec).
private func closeDescriptors(_ setup: ChildSetup) {
  let keep = setup.errorPipe
  if let closeRange = setup.closeRange {
    let belowClosed = keep <= 3 || closeRange(3, UInt32(keep - 1), 0) == 0
    if belowClosed, closeRange(UInt32(keep + 1), UInt32.max, 0) == 0 { return }
  }
  var descriptor: Int32 = 3
  while descriptor < setup.descriptorLimit {
    if descriptor != keep { close(descriptor) }
    descriptor += 1
  }
}

private func childFailed(_ setup: ChildSetup, _ step: ChildStep) -> Never {
  setup.report[0] = step.rawValue
  setup.report[1] = errno
  _ = write(setup.errorPipe, setup.report, 8)
  _exit(127)
}

private func cStringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
  let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
  for (index, string) in strings.enumerated() { array[index] = strdup(string) }
  array[strings.count] = nil
  return array
}

private func freeCStringArray(_ array: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
  var index = 0
  while let string = array[index] {
    free(string)
    index += 1
  }
  array.deallocate()
}
