/// One attempt of one run: `{"run_id": ..., "attempt": n}` on the wire. Attempts of a run are
/// numbered 1, 2, ... and never reused. The unit a lease, a result and an acknowledgement refer to.
public struct AttemptID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
  public let run: RunID
  public let number: Int

  /// The largest attempt number accepted from the wire: far above any retry budget.
  public static let maxNumber = 1_000_000

  public init(run: RunID, number: Int) throws(InvalidIdentifier) {
    guard (1...Self.maxNumber).contains(number) else {
      throw InvalidIdentifier(kind: "attempt number", value: "\(number)", rule: "from 1 to \(Self.maxNumber)")
    }
    self.run = run
    self.number = number
  }

  /// An attempt this process numbered itself (counting from 1); a number from elsewhere goes through
  /// the throwing initializer.
  public init(run: RunID, counted number: Int) {
    precondition(number >= 1, "attempts are numbered from 1")
    self.run = run
    self.number = number
  }

  /// `3f2a9c01d4e5b6a7#2`
  public var description: String { "\(run)#\(number)" }

  public static func < (lhs: AttemptID, rhs: AttemptID) -> Bool {
    (lhs.run, lhs.number) < (rhs.run, rhs.number)
  }

  enum CodingKeys: String, CodingKey {
    case run = "run_id"
    case number = "attempt"
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let run = try container.decode(RunID.self, forKey: .run)
    let number = try container.decode(Int.self, forKey: .number)
    do {
      try self.init(run: run, number: number)
    } catch {
      throw DecodingError.dataCorrupted(
        .init(
          codingPath: container.codingPath + [CodingKeys.number], debugDescription: error.description,
          underlyingError: error))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(run, forKey: .run)
    try container.encode(number, forKey: .number)
  }
}
