/// RFC 4180 CSV: fields with a comma, quote or line break are quoted, quotes doubled. The form
/// `trac-sweep results --format csv` prints and pandas reads.
public enum CSV {
  public static func line(_ fields: [String]) -> String {
    fields.map { field in
      field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
        ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }.joined(separator: ",")
  }

  /// The header and the rows of `text`. Blank lines are skipped; an unterminated quote is an error
  /// naming the line it started on.
  public static func parse(_ text: String, source: String) throws(ReportError) -> RunTable {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var fieldWasQuoted = false
    var line = 1
    var quoteLine = 1
    var characters = text.makeIterator()
    var pending: Character? = nil

    func endRecord() {
      record.append(field)
      if !(record.count == 1 && record[0].isEmpty && !fieldWasQuoted) { records.append(record) }
      record = []
      field = ""
      fieldWasQuoted = false
    }

    while let character = pending ?? characters.next() {
      pending = nil
      if quoted {
        if character == "\"" {
          let next = characters.next()
          if next == "\"" {
            field.append("\"")
          } else {
            quoted = false
            pending = next
          }
        } else {
          if character == "\n" || character == "\r\n" { line += 1 }
          field.append(character)
        }
        continue
      }
      switch character {
      case "\"" where field.isEmpty:
        quoted = true
        fieldWasQuoted = true
        quoteLine = line
      case ",":
        record.append(field)
        field = ""
        fieldWasQuoted = false
      case "\n", "\r\n", "\r":
        endRecord()
        line += 1
      default:
        field.append(character)
      }
    }
    if quoted { throw .badInput("\(source), line \(quoteLine): a quoted field is never closed") }
    if !field.isEmpty || !record.isEmpty || fieldWasQuoted { endRecord() }
    guard let header = records.first else { throw .badInput("\(source) is empty: it has no header line") }
    return RunTable(columns: header, rows: Array(records.dropFirst()))
  }
}
