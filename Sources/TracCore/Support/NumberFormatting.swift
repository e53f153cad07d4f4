import Foundation

/// A measured or computed number as tables and CSV files print it: the shortest decimal that stands
/// for `value` up to floating-point rounding noise (within `noiseULPs` units in the last place), without
/// a trailing `.0` for integers. A sum or mean of decimals carries rounding error in its last bits
/// (1.4200000000000006, 0.9200000000000006): they print as `1.42` and `0.92`, while a number with
/// real digits keeps them all (0.3461234567891234 stays). `nan`, `inf` and `-inf` as such.
public func formatDecimal(_ value: Double) -> String {
  guard value.isFinite else { return nonFinite(value) }
  guard value != 0 else { return "0" }
  let tolerance = Double(noiseULPs) * value.ulp
  for digits in 1...17 {
    if let rounded = Double(String(format: "%.\(digits)g", value)), abs(rounded - value) <= tolerance {
      return formatNumber(rounded)
    }
  }
  return formatNumber(value)
}

/// How far (in units in the last place) a decimal may be from a computed number and still print for it.
public let noiseULPs = 16

/// `value` rounded to `significantDigits` significant digits, for messages: `12.3` for 12.345678.
public func formatDecimal(_ value: Double, significantDigits: Int) -> String {
  guard value.isFinite else { return nonFinite(value) }
  let digits = min(max(significantDigits, 1), 17)
  guard let rounded = Double(String(format: "%.\(digits)g", value)) else { return formatNumber(value) }
  return formatNumber(rounded == 0 ? 0 : rounded)
}

private func nonFinite(_ value: Double) -> String { value.isNaN ? "nan" : value < 0 ? "-inf" : "inf" }

/// A duration in seconds for log lines and messages, rounded to three significant digits: `250 ms`,
/// `1.5 s`, `12.3 s`, `126 s`.
public func formatSeconds(_ seconds: Double) -> String {
  guard seconds.isFinite else { return "\(seconds) s" }
  if abs(seconds) < 1 { return "\(formatDecimal(seconds * 1000, significantDigits: 3)) ms" }
  return "\(formatDecimal(seconds, significantDigits: 3)) s"
}
