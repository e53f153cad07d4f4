/// One attempt of one run: attempts of a run are numbered 1, 2, ... and never reused.
public struct AttemptID: Hashable, Sendable, Codable, CustomStringConvertible {
  public var run: RunID
  public var number: Int

  public init(run: RunID, number: Int) {
    self.run = run
    self.number = number
  }

  /// `3f2a9c01d4e5b6a7#2`
  public var description: String { "\(run)#\(number)" }
}
