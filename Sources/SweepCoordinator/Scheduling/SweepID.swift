/// A sweep's short id: `GridFile.sweepID`, a hash of the grid's canonical form (same grid, same id).
public struct SweepID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
  ExpressibleByStringLiteral
{
  public let rawValue: String

  public init(rawValue: String) { self.rawValue = rawValue }
  public init(_ rawValue: String) { self.rawValue = rawValue }
  public init(stringLiteral value: String) { self.rawValue = value }

  public var description: String { rawValue }
  public static func < (lhs: SweepID, rhs: SweepID) -> Bool { lhs.rawValue < rhs.rawValue }
}
