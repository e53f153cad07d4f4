/// One attempt of one run: `{"run_id": ..., "attempt": n}` in the protocol. Run ids arrive from the
/// network and become directory names, so a key can only be made from a safe run id.
public struct AttemptKey: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
  public let runID: String
  public let attempt: Int

  public init(runID: String, attempt: Int) throws {
    try AttemptKey.validate(runID: runID)
    guard attempt >= 1 else { throw SweepWorkerError.invalidAttempt(attempt) }
    self.runID = runID
    self.attempt = attempt
  }

  /// A run id is 1-128 ASCII letters, digits, `-` or `_` (in practice 16 hex digits).
  public static func validate(runID: String) throws {
    let allowed = runID.utf8.allSatisfy { byte in
      (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
        || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
        || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
    guard allowed, (1...128).contains(runID.utf8.count) else { throw SweepWorkerError.invalidRunID(runID) }
  }

  public static func < (lhs: AttemptKey, rhs: AttemptKey) -> Bool {
    (lhs.runID, lhs.attempt) < (rhs.runID, rhs.attempt)
  }

  public var description: String { "\(runID) attempt \(attempt)" }

  enum CodingKeys: String, CodingKey {
    case runID = "run_id"
    case attempt
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    try self.init(
      runID: container.decode(String.self, forKey: .runID),
      attempt: container.decode(Int.self, forKey: .attempt))
  }
}
