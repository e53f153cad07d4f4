import TracCore

/// The results in the spool until the coordinator acknowledges them (docs/PROTOCOL.md section 5):
/// announced in `hello`, sent after every `welcome`, deleted on `ack`.
public struct ResultOutbox: Sendable {
  public enum State: Equatable, Sendable {
    /// In the spool, not sent on the current connection.
    case spooled
    /// Sent (queued on the socket); its `ack` is awaited.
    case sent
  }

  public private(set) var results: [AttemptID: State]

  public init(spooled: [AttemptID]) {
    results = Dictionary(spooled.map { ($0, .spooled) }, uniquingKeysWith: { first, _ in first })
  }

  public var spooled: Set<AttemptID> { Set(results.keys) }
  public var unacknowledged: Set<AttemptID> { Set(results.filter { $0.value == .sent }.keys) }
  public func contains(_ key: AttemptID) -> Bool { results[key] != nil }

  /// The result is in the spool (again, when deleting it after its `ack` failed).
  public mutating func spooled(_ key: AttemptID) {
    if results[key] == nil { results[key] = .spooled }
  }

  /// The result left; nothing if it is no longer spooled.
  public mutating func sent(_ key: AttemptID) {
    if results[key] != nil { results[key] = .sent }
  }

  public mutating func acknowledged(_ key: AttemptID) { results[key] = nil }
}
