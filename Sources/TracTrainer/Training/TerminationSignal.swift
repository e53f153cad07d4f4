import Dispatch
import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// SIGTERM during training (a worker handing the run back, Slurm's signal before a time limit): the
/// training loop finishes the step in hand, writes a checkpoint, and the process then dies of the
/// SIGTERM as before, so whoever sent it sees the same exit. Installed only with a checkpoint directory;
/// outside the training loop SIGTERM has its default effect.
final class TerminationSignal: @unchecked Sendable {
  private let request = StopRequest()
  private let source: DispatchSourceSignal

  private init() {
    signal(SIGTERM, SIG_IGN)
    source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
    source.setEventHandler { [request] in request.request() }
    source.resume()
  }

  static func install() -> TerminationSignal { TerminationSignal() }

  var isRequested: Bool { request.isRequested }

  /// Back to SIGTERM's default; a SIGTERM received in the meantime ends the process now.
  func uninstall() {
    source.cancel()
    signal(SIGTERM, SIG_DFL)
    if isRequested { terminate() }
  }

  /// Dies of SIGTERM, as if the handler had never been installed.
  func terminate() -> Never {
    source.cancel()
    signal(SIGTERM, SIG_DFL)
    raise(SIGTERM)
    exit(128 + SIGTERM)
  }
}
