import Foundation
import SweepWire
import TracCore

/// What handling one message asks of the coordinator's loop: replies to send as soon as the message
/// is handled, and what waits for the commit of the pass it belongs to (the scheduler's commands, the
/// replies that report a change, the reads). The handlers fill it; the loop carries it out. A test
/// reads it instead of a socket.
public struct ServiceOutbox {
  /// One reply, to the peer whose routing id is `route`.
  public typealias Reply = (route: Data, message: WireMessage)
  /// A read (`status`, `results`, `report`, `metrics`), answered after the commit: every read then sees
  /// exactly the committed state, so a run that one read shows done has its row in every other.
  public typealias Read = (route: Data, answer: () throws -> any Encodable)

  /// The scheduler's time for this message.
  public let now: SchedulerInstant
  /// Sent once the message is handled, before the next one.
  public internal(set) var replies: [Reply] = []
  /// Carried out after the commit (acknowledgements above all).
  public internal(set) var commands: [SchedulerCommand] = []
  /// Replies to clients that report a change (a submitted sweep...), sent after the commit.
  public internal(set) var repliesAfterCommit: [Reply] = []
  public internal(set) var reads: [Read] = []

  public init(now: SchedulerInstant) { self.now = now }

  mutating func reply(_ route: Data, _ message: WireMessage) { replies.append((route, message)) }

  mutating func replyAfterCommit(_ route: Data, _ message: WireMessage) {
    repliesAfterCommit.append((route, message))
  }

  mutating func read(_ route: Data, _ answer: @escaping () throws -> any Encodable) {
    reads.append((route, answer))
  }

  /// Hands `event` to the scheduler as part of the pass under way: its commands wait for the commit.
  mutating func schedule(_ event: SchedulerEvent, on scheduler: DurableScheduler) throws {
    commands += try scheduler.handle(event, now: now, commit: false)
  }

  mutating func carryOut(_ more: [SchedulerCommand]) { commands += more }
}
