import TracCore

// Tests write identifiers as literals (`"0123456789abcdef" as RunID`). A literal that breaks its rule is
// a bug in the test, so it stops the test at once. Only the test kit has these: the product parses
// every identifier with the throwing initializers.

extension RunID: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) { try! self.init(value) }
}

extension SweepID: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) { try! self.init(value) }
}

extension WorkerID: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) { try! self.init(value) }
}

extension ArtifactName: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) { try! self.init(value) }
}

extension SHA256Digest: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) { try! self.init(value) }
}

extension AttemptID {
  /// `AttemptID("0123456789abcdef", 2)`.
  public init(_ run: RunID, _ number: Int) { try! self.init(run: run, number: number) }
}
