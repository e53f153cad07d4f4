/// Mean and sample standard deviation (n - 1 in the denominator; 0 for one value), as the paper's
/// tables report them; both nil for no values.
public struct MeanStd: Codable, Equatable, Sendable {
  public var mean: Double?
  public var std: Double?

  public init(mean: Double?, std: Double?) {
    self.mean = mean
    self.std = std
  }

  public init(_ values: [Double]) {
    guard !values.isEmpty else {
      self.init(mean: nil, std: nil)
      return
    }
    let mean = values.reduce(0, +) / Double(values.count)
    self.init(mean: mean, std: Statistics.sampleVariance(values, mean: mean).squareRoot())
  }

  /// Both keys always, `null` when unknown (docs/REPORT.md).
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(mean, forKey: .mean)
    try container.encode(std, forKey: .std)
  }
}

enum Statistics {
  static func mean(_ values: [Double]) -> Double? {
    values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
  }

  /// Sum of squared deviations over n - 1; 0 for fewer than two values.
  static func sampleVariance(_ values: [Double], mean: Double? = nil) -> Double {
    guard values.count > 1 else { return 0 }
    let center = mean ?? values.reduce(0, +) / Double(values.count)
    return values.reduce(0) { $0 + ($1 - center) * ($1 - center) } / Double(values.count - 1)
  }

  /// The pooled standard deviation of several groups: the square root of the mean of the groups'
  /// sample variances, over groups with at least two values; nil when there is none.
  static func pooledStd(_ groups: [[Double]]) -> Double? {
    let variances = groups.filter { $0.count > 1 }.map { sampleVariance($0) }
    return mean(variances)?.squareRoot()
  }
}
