import Foundation
import SweepWire
import TracCore

/// How a trainer child ended: what the worker reports and spools for the attempt.
public struct TrainerExit: Sendable, Equatable {
  /// The exit status, or nil when a signal killed the child.
  public var exitStatus: Int32?
  /// The signal that killed the child, if one did.
  public var signal: Int32?
  /// From the start of the child to its exit.
  public var wallTime: Duration
  /// The last lines of the child's stderr (at most `StderrTail.maxLines` lines and
  /// `StderrTail.maxBytes` bytes), shown to users with a failed attempt.
  public var stderrTail: String
  /// True when the worker asked the child to stop (`terminate`, `signal`): the attempt was cancelled
  /// or released, which is not a trainer failure.
  public var terminatedOnRequest: Bool

  public init(
    exitStatus: Int32?, signal: Int32?, wallTime: Duration, stderrTail: String, terminatedOnRequest: Bool
  ) {
    self.exitStatus = exitStatus
    self.signal = signal
    self.wallTime = wallTime
    self.stderrTail = stderrTail
    self.terminatedOnRequest = terminatedOnRequest
  }

  public var outcome: TrainerOutcome { TrainerOutcome(exitStatus: exitStatus) }

  /// True when SIGTERM, SIGINT or SIGHUP that the worker did not send ended the child: the machine or
  /// its batch system is stopping the whole job (Slurm's `scancel` and preemption signal every process
  /// of a job, the trainers as well as the worker). That is not a trainer failure either.
  public var interruptedFromOutside: Bool {
    guard !terminatedOnRequest, let signal else { return false }
    return signal == SIGTERM || signal == SIGINT || signal == SIGHUP
  }

  public var wallSeconds: Double { wallTime.seconds }
}
