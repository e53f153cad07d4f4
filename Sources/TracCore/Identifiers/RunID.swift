/// A run's id: the first 16 hex digits of the SHA-256 of its `RunSpec` (`RunSpec.runID`). It names
/// the run's artifact folder on the coordinator and its work folder on a worker.
public struct RunID: ValidatedIdentifier {
  public static let kind = "run id"
  public static let rule = "16 lowercase hexadecimal digits"
  public let rawValue: String

  public init(checked text: String) { rawValue = text }
  public static func isValid(_ text: String) -> Bool { IdentifierRules.isLowercaseHex(text, count: 16) }

  /// The id of the run `spec` describes.
  public init(of spec: RunSpec) { rawValue = spec.runID }
}
