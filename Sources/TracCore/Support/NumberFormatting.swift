import Foundation

/// A measured or computed number as tables and CSV files print it: the shortest decimal equal to
/// `value` to `significantDigits` significant digits (15 by default, the most a double always keeps),
/// without a trailing `.0` for integers. A sum or mean of decimals carries rounding error in its last
/// bits (1.4200000000000006 for a mean of 1.42): it prints as `1.42`. With fewer digits it rounds, for
/// messages (`formatDecimal(12.345678, significantDigits: 3)` is `12.3`). `nan`, `inf` and `-inf` as such.
public func formatDecimal(_ value: Double, significantDigits: Int = 15) -> String {
  guard value.isFinite else { return value.isNaN ? "nan" : value < 0 ? "-inf" : "inf" }
  let digits = min(max(significantDigits, 1), 17)
  guard let rounded = Double(String(format: "%.\(digits)g", value)) else { return formatNumber(value) }
  return formatNumber(rounded == 0 ? 0 : rounded)
}

/// A duration in seconds for log lines and messages, rounded to three significant digits: `250 ms`,
/// `1.5 s`, `12.3 s`, `126 s`.
public func formatSeconds(_ seconds: Double) -> String {
  guard seconds.isFinite else { return "\(seconds) s" }
  if abs(seconds) < 1 { return "\(formatDecimal(seconds * 1000, significantDigits: 3)) ms" }
  return "\(formatDecimal(seconds, significantDigits: 3)) s"
}
