import Foundation

/// A strict reader of the Prometheus text exposition format (0.0.4): every line is a `# HELP`, a
/// `# TYPE` or a sample; names and label names follow the format's grammar; label values are quoted
/// with the three escapes; values are floats (or NaN, +Inf, -Inf); each family's TYPE comes before
/// its samples and once only; a sample belongs to the family declared last (histograms' `_bucket`,
/// `_sum`, `_count`); histogram buckets are cumulative and end in `le="+Inf"` equal to `_count`; no
/// series appears twice. Anything else throws with the line number.
struct PrometheusExposition {
  struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
  }

  var types: [String: String] = [:]
  var help: [String: String] = [:]
  var samples: [Sample] = []

  struct ParseError: Error, CustomStringConvertible {
    let description: String
  }

  init(parsing text: String) throws {
    guard text.isEmpty || text.hasSuffix("\n") else {
      throw ParseError(description: "the text does not end in a newline")
    }
    var family: String?
    var seen: Set<String> = []
    for (number, line) in zip(1..., text.split(separator: "\n", omittingEmptySubsequences: false).dropLast())
    {
      func fail(_ why: String) -> ParseError { ParseError(description: "line \(number): \(why): \(line)") }
      if line.hasPrefix("#") {
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0] == "#" else { throw fail("a comment that is not HELP or TYPE") }
        let name = String(parts[2])
        guard Self.isMetricName(name) else { throw fail("bad metric name") }
        switch parts[1] {
        case "HELP":
          guard help[name] == nil else { throw fail("a second HELP") }
          help[name] = parts.count == 4 ? String(parts[3]) : ""
        case "TYPE":
          guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
          else {
            throw fail("bad TYPE")
          }
          guard types[name] == nil else { throw fail("a second TYPE for \(name)") }
          guard
            !samples.contains(where: { Self.family(of: $0.name, types: [name: String(parts[3])]) == name })
          else {
            throw fail("TYPE after samples of \(name)")
          }
          types[name] = String(parts[3])
          family = name
        default: throw fail("a comment that is not HELP or TYPE")
        }
        continue
      }
      guard !line.isEmpty else { throw fail("an empty line") }
      let sample = try Self.sample(String(line), fail: fail)
      guard let current = family, Self.family(of: sample.name, types: [current: types[current]!]) == current
      else {
        throw fail("a sample outside its family's block")
      }
      let key =
        sample.name
        + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
      guard seen.insert(key).inserted else { throw fail("a series twice") }
      samples.append(sample)
    }
    try checkHistograms()
  }

  static func family(of name: String, types: [String: String]) -> String? {
    if types[name] != nil { return name }
    for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
      let base = String(name.dropLast(suffix.count))
      if types[base] == "histogram" { return base }
    }
    return nil
  }

  static func isMetricName(_ name: String) -> Bool {
    name.range(of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*$"#, options: .regularExpression) != nil
  }

  static func sample(_ line: String, fail: (String) -> ParseError) throws -> Sample {
    var index = line.startIndex
    while index < line.endIndex, line[index] != "{", line[index] != " " { index = line.index(after: index) }
    let name = String(line[..<index])
    guard isMetricName(name) else { throw fail("bad metric name") }
    var labels: [String: String] = [:]
    if index < line.endIndex, line[index] == "{" {
      index = line.index(after: index)
      while true {
        guard index < line.endIndex else { throw fail("unterminated labels") }
        if line[index] == "}" {
          index = line.index(after: index)
          break
        }
        var end = index
        while end < line.endIndex, line[end] != "=" { end = line.index(after: end) }
        let label = String(line[index..<end])
        guard label.range(of: #"^[a-zA-Z_][a-zA-Z0-9_]*$"#, options: .regularExpression) != nil else {
          throw fail("bad label name '\(label)'")
        }
        guard end < line.endIndex, line.index(after: end) < line.endIndex,
          line[line.index(after: end)] == "\""
        else {
          throw fail("label value not quoted")
        }
        index = line.index(end, offsetBy: 2)
        var value = ""
        while true {
          guard index < line.endIndex else { throw fail("unterminated label value") }
          let character = line[index]
          if character == "\"" { break }
          if character == "\\" {
            index = line.index(after: index)
            guard index < line.endIndex else { throw fail("dangling escape") }
            switch line[index] {
            case "\\": value.append("\\")
            case "\"": value.append("\"")
            case "n": value.append("\n")
            default: throw fail("unknown escape")
            }
          } else {
            guard character != "\n" else { throw fail("raw newline in a label value") }
            value.append(character)
          }
          index = line.index(after: index)
        }
        index = line.index(after: index)
        guard labels[label] == nil else { throw fail("label \(label) twice") }
        labels[label] = value
        if index < line.endIndex, line[index] == "," { index = line.index(after: index) }
      }
    }
    guard index < line.endIndex, line[index] == " " else { throw fail("no space before the value") }
    let fields = line[line.index(after: index)...].split(separator: " ", omittingEmptySubsequences: false)
    guard fields.count == 1 || (fields.count == 2 && Int64(fields[1]) != nil) else {
      throw fail("bad value or timestamp")
    }
    let text = String(fields[0])
    let value: Double
    switch text {
    case "NaN": value = .nan
    case "+Inf": value = .infinity
    case "-Inf": value = -.infinity
    default:
      guard
        text.range(of: #"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"#, options: .regularExpression)
          != nil,
        let number = Double(text)
      else { throw fail("bad value '\(text)'") }
      value = number
    }
    return Sample(name: name, labels: labels, value: value)
  }

  private func checkHistograms() throws {
    for (name, type) in types where type == "histogram" {
      let buckets = samples.filter { $0.name == name + "_bucket" }
      guard let last = buckets.last, last.labels["le"] == "+Inf" else {
        throw ParseError(description: "\(name): no le=\"+Inf\" bucket last")
      }
      var previous = -Double.infinity
      var previousBound = -Double.infinity
      for bucket in buckets {
        guard let le = bucket.labels["le"], let bound = le == "+Inf" ? Double.infinity : Double(le) else {
          throw ParseError(description: "\(name): a bucket without a numeric le")
        }
        guard bound > previousBound, bucket.value >= previous else {
          throw ParseError(description: "\(name): buckets not increasing and cumulative")
        }
        previous = bucket.value
        previousBound = bound
      }
      guard let count = samples.first(where: { $0.name == name + "_count" }),
        samples.contains(where: { $0.name == name + "_sum" }), count.value == last.value
      else {
        throw ParseError(description: "\(name): _count missing or not the +Inf bucket")
      }
    }
  }

  func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
    samples.first { sample in
      sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
    }?.value
  }
}
