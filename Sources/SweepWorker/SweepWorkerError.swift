import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// The error type of the worker's process, spool and run-directory code. A failed system call keeps
/// its raw `errno` and names the call and the path, like swift-nio's `IOError`.
public enum SweepWorkerError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A system call failed; `path` is the file or executable it was about, when there is one.
  case systemCall(call: String, errno: Int32, path: String?)
  /// The trainer could not be started: `call` is the step of the spawn that failed (`execve`, ...).
  case spawnFailed(executable: String, call: String, errno: Int32)
  /// A spooled file's name must be a plain file name, not `manifest.json`, not hidden.
  case invalidFileName(String)

  public var description: String {
    switch self {
    case .systemCall(let call, let errno, let path):
      let subject = path.map { " on \($0)" } ?? ""
      return "\(call) failed\(subject): \(errnoDescription(errno)) (errno \(errno))"
    case .spawnFailed(let executable, let call, let errno):
      return "cannot start \(executable): \(call) failed: \(errnoDescription(errno)) (errno \(errno))"
    case .invalidFileName(let name):
      return
        "invalid result file name '\(name)': expected a plain, visible file name other than manifest.json"
    }
  }
}

func errnoDescription(_ code: Int32) -> String {
  guard let message = strerror(code) else { return "unknown error" }
  return String(cString: message)
}

/// The current `errno` as a `SweepWorkerError` naming the call that failed.
func systemCallError(_ call: String, path: String? = nil) -> SweepWorkerError {
  .systemCall(call: call, errno: errno, path: path)
}
