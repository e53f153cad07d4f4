/// A worker's id, chosen by the worker (`<host>-<8 hex digits>`) and kept in its work directory. It is
/// also the routing id of the worker's connection.
public struct WorkerID: ValidatedIdentifier {
  public static let kind = "worker id"
  public static let rule = "1 to 128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
  public let rawValue: String

  public init(checked text: String) { rawValue = text }
  public static func isValid(_ text: String) -> Bool { IdentifierRules.isPlainName(text, maxLength: 128) }
}
