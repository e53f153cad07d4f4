import Foundation

/// What a client command says when Ctrl-C (SIGINT) ends it while it waits: the sweep keeps running on
/// the coordinator, and how to follow it. Written with write(2) from the signal handler (nothing
/// else is safe there), then the process ends with status 130, as an interrupted command does.
enum InterruptNote {
  /// The note's bytes, NUL-terminated, made before the handler is installed and never freed.
  nonisolated(unsafe) private static var note: UnsafeMutablePointer<CChar>?
  nonisolated(unsafe) private static var length = 0

  /// From now on SIGINT prints `message` (a line of its own) on stderr and exits 130.
  static func install(_ message: String) {
    let text = "\n" + message + "\n"
    let copy = strdup(text)
    note = copy
    length = strlen(copy!)
    signal(SIGINT) { _ in
      if let note = InterruptNote.note {
        _ = write(STDERR_FILENO, note, InterruptNote.length)
      }
      _exit(130)
    }
  }
}

/// What a waiting client command printed goes out at once, also to a pipe or a file, so nothing is lost
/// when the command is interrupted (libc buffers whole blocks for a pipe or a file).
enum PrintedOutput {
  static func flush() { fflush(nil) }
}
