import Foundation

/// The kind of a `results` column's values (the reply's `types`): the rows carry every value as text,
/// `""` for a missing one; a client reads `integer` and `number` fields as numbers, `boolean` ones
/// (`true`, `false`) as booleans.
public enum ResultColumnKind: String, Codable, Sendable, CaseIterable {
  case text, integer, number, boolean
}

extension ResultsReply {
  /// The rows as a JSON array of objects, keys in column order, values typed by `types` (numbers,
  /// booleans, strings; `null` for an empty field): what `trac-sweep results --format json` prints.
  /// A field that does not read as its kind stays a string; without `types` every value is a string.
  public func typedJSON() -> String {
    let kinds = (types ?? []).map { ResultColumnKind(rawValue: $0) ?? .text }
    let objects = rows.map { row in
      let fields = zip(columns, row).enumerated().map { index, field in
        let kind = kinds.count == columns.count ? kinds[index] : .text
        return "    \(Self.jsonString(field.0)): \(Self.jsonValue(field.1, kind))"
      }
      return fields.isEmpty ? "  {}" : "  {\n" + fields.joined(separator: ",\n") + "\n  }"
    }
    return objects.isEmpty ? "[]" : "[\n" + objects.joined(separator: ",\n") + "\n]"
  }

  static func jsonValue(_ text: String, _ kind: ResultColumnKind) -> String {
    if text.isEmpty { return "null" }
    switch kind {
    case .integer:
      if Int64(text) != nil || UInt64(text) != nil { return text }
    case .number:
      if let value = Double(text), value.isFinite {
        return text.wholeMatch(of: jsonNumber) != nil ? text : "\(value)"
      }
    case .boolean:
      if text == "true" || text == "false" { return text }
    case .text: break
    }
    return jsonString(text)
  }

  /// JSON's number grammar (RFC 8259, section 6).
  nonisolated(unsafe) private static let jsonNumber = #/-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/#

  static func jsonString(_ text: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
  }
}
