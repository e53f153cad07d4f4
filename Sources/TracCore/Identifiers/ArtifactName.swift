/// The name of a file that travels with a result (`policy.safetensors`, `run.json`, `train.jsonl`): one
/// plain file name, never a path, never hidden.
public struct ArtifactName: ValidatedIdentifier {
  public static let kind = "file name"
  public static let rule = "1 to 128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
  public let rawValue: String

  public init(checked text: String) { rawValue = text }
  public static func isValid(_ text: String) -> Bool { IdentifierRules.isPlainName(text, maxLength: 128) }
}
