extension Duration {
  /// The duration in seconds as a Double.
  public var seconds: Double {
    let (whole, attoseconds) = components
    return Double(whole) + Double(attoseconds) * 1e-18
  }

  /// The duration in whole milliseconds (rounded down), as protocol fields and socket options take it.
  public var wholeMilliseconds: Int64 {
    let (whole, attoseconds) = components
    return whole * 1000 + attoseconds / 1_000_000_000_000_000
  }
}
