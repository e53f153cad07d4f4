import TracCore

/// A run's id: the content hash of its `RunSpec` (`RunSpec.runID`). Two sweeps with the same run share it.
public struct RunID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
  ExpressibleByStringLiteral
{
  public let rawValue: String

  public init(rawValue: String) { self.rawValue = rawValue }
  public init(_ rawValue: String) { self.rawValue = rawValue }
  public init(stringLiteral value: String) { self.rawValue = value }
  /// The id of the run `spec` describes.
  public init(of spec: RunSpec) { self.rawValue = spec.runID }

  public var description: String { rawValue }
  public static func < (lhs: RunID, rhs: RunID) -> Bool { lhs.rawValue < rhs.rawValue }
}
