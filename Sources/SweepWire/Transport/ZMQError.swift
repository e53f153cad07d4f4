import CZMQ
import TracCore

/// A failed libzmq call: which call, with `errno` kept next to libzmq's words for it.
public struct ZMQError: Error, CustomStringConvertible, Sendable, Equatable {
  public let call: String
  public let errnoCode: Int32

  public init(call: String, errnoCode: Int32 = zmq_errno()) {
    self.call = call
    self.errnoCode = errnoCode
  }

  public var description: String {
    "\(call) failed: \(String(cString: zmq_strerror(errnoCode))) (errno \(errnoCode))"
  }

  /// The call timed out or would have blocked.
  public var isTimeout: Bool { errnoCode == EAGAIN }
  /// The context was terminated: the process is stopping.
  public var isTerminated: Bool { errnoCode == ETERM }
}
