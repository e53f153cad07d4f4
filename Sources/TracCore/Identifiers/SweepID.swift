/// A sweep's short id: `GridFile.sweepID`, 8 hex digits of the grid's canonical hash (same grid, same id).
public struct SweepID: ValidatedIdentifier {
  public static let kind = "sweep id"
  public static let rule = "8 lowercase hexadecimal digits"
  public let rawValue: String

  public init(checked text: String) { rawValue = text }
  public static func isValid(_ text: String) -> Bool { IdentifierRules.isLowercaseHex(text, count: 8) }

  /// The id of the sweep `grid` makes.
  public init(of grid: GridFile) { rawValue = grid.sweepID }
}
