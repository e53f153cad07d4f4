/// The trainer a run uses: TraC, or one of the paper's behaviour-cloning baselines.
public enum Algorithm: String, Codable, Sendable, CaseIterable {
  case trac
  /// Behaviour cloning on every episode.
  case bcAll = "bc_all"
  /// Behaviour cloning on the episodes whose cost is within the threshold.
  case bcSafe = "bc_safe"
}

/// The reference policy of the TraC phase.
public enum ReferencePolicy: String, Codable, Sendable, CaseIterable {
  /// The behaviour-cloned policy at the switch (TraC).
  case bc
  /// The constant log-probability 0 (the paper's Table 6 ablation).
  case uniform
}

/// Which labelled segments a TraC run trains on (the paper's Figure 6 ablation). The labels
/// themselves (docs/ALGORITHM.md section 3) do not change; the other segments are left out of BC and TraC.
public enum SegmentSelection: String, Codable, Sendable, CaseIterable {
  /// Desirable and undesirable segments: TraC itself.
  case both
  /// Only the desirable segments: the loss has only its l = 1 term.
  case desirable
  /// Only the undesirable segments: the loss has only its l = 0 term, with lambda_U = 1, since
  /// eta balances the undesirable term against desirable segments that are not there.
  case undesirable
}

/// Every hyperparameter of one run (docs/ALGORITHM.md), named as in grid files (docs/GRID.md).
public struct Hyperparameters: Codable, Hashable, Sendable {
  public var x: Double = 0.5
  public var y: Double = 0.0
  public var alpha: Double = 0.2
  public var eta: Double = 0.25
  public var beta: Double = 0.7
  public var gamma: Double = 0.99
  public var segRatio: Double = 1.0
  public var batchSize: Int = 96
  public var lr: Double = 1e-4
  public var bcSteps: Int = 30_000
  public var steps: Int = 100_000
  public var reference: ReferencePolicy = .bc
  public var segments: SegmentSelection = .both
  /// TraC updates over which the TraC-phase learning rate rises linearly to its full value
  /// (`lr * tracLRScale * min(1, k / warmupSteps)` at TraC update k = 1, 2, ...); 0: no warm-up.
  public var warmupSteps: Int = Hyperparameters.defaultWarmupSteps
  /// The TraC phase's learning rate as a multiple of `lr` (the BC phase uses `lr` itself).
  public var tracLRScale: Double = Hyperparameters.defaultTracLRScale

  /// The public TraC code's values (its config's warm-up and TraC-phase learning-rate factor).
  public static let defaultWarmupSteps = 10_000
  public static let defaultTracLRScale = 0.1

  public init() {}

  enum CodingKeys: String, CodingKey {
    case x, y, alpha, eta, beta, gamma
    case segRatio = "seg_ratio"
    case batchSize = "batch_size"
    case lr
    case bcSteps = "bc_steps"
    case steps, reference, segments
    case warmupSteps = "warmup_steps"
    case tracLRScale = "trac_lr_scale"
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    x = try container.decode(Double.self, forKey: .x)
    y = try container.decode(Double.self, forKey: .y)
    alpha = try container.decode(Double.self, forKey: .alpha)
    eta = try container.decode(Double.self, forKey: .eta)
    beta = try container.decode(Double.self, forKey: .beta)
    gamma = try container.decode(Double.self, forKey: .gamma)
    segRatio = try container.decode(Double.self, forKey: .segRatio)
    batchSize = try container.decode(Int.self, forKey: .batchSize)
    lr = try container.decode(Double.self, forKey: .lr)
    bcSteps = try container.decode(Int.self, forKey: .bcSteps)
    steps = try container.decode(Int.self, forKey: .steps)
    reference = try container.decode(ReferencePolicy.self, forKey: .reference)
    segments = try container.decodeIfPresent(SegmentSelection.self, forKey: .segments) ?? .both
    warmupSteps = try container.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? Self.defaultWarmupSteps
    tracLRScale = try container.decodeIfPresent(Double.self, forKey: .tracLRScale) ?? Self.defaultTracLRScale
  }

  /// Leaves `segments`, `warmup_steps` and `trac_lr_scale` out at their defaults: run ids and sweep
  /// ids hash this encoding, and results are cached by run id, so every run that existed before
  /// these options keeps its id.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(x, forKey: .x)
    try container.encode(y, forKey: .y)
    try container.encode(alpha, forKey: .alpha)
    try container.encode(eta, forKey: .eta)
    try container.encode(beta, forKey: .beta)
    try container.encode(gamma, forKey: .gamma)
    try container.encode(segRatio, forKey: .segRatio)
    try container.encode(batchSize, forKey: .batchSize)
    try container.encode(lr, forKey: .lr)
    try container.encode(bcSteps, forKey: .bcSteps)
    try container.encode(steps, forKey: .steps)
    try container.encode(reference, forKey: .reference)
    if segments != .both { try container.encode(segments, forKey: .segments) }
    if warmupSteps != Self.defaultWarmupSteps { try container.encode(warmupSteps, forKey: .warmupSteps) }
    if tracLRScale != Self.defaultTracLRScale { try container.encode(tracLRScale, forKey: .tracLRScale) }
  }

  /// Refuses values out of range, naming the command-line option. Called before any work.
  public func validate(algorithm: Algorithm) throws(TracError) {
    func require(_ ok: Bool, _ option: String, _ message: String) throws(TracError) {
      if !ok { throw .invalidHyperparameter(option: option, message: message) }
    }
    func finite(_ value: Double, _ option: String) throws(TracError) {
      try require(value.isFinite, option, "must be a finite number, got \(value)")
    }
    for (value, option) in [
      (x, "--x"), (y, "--y"), (alpha, "--alpha"), (eta, "--eta"), (beta, "--beta"), (gamma, "--gamma"),
      (segRatio, "--seg-ratio"), (lr, "--lr"), (tracLRScale, "--trac-lr-scale"),
    ] {
      try finite(value, option)
    }
    try require(
      (0...1).contains(x), "--x", "the share of safe segments taken as desirable must be in [0, 1], got \(x)")
    try require(
      (0...1).contains(y), "--y",
      "the share of safe segments taken as undesirable must be in [0, 1], got \(y)")
    try require(x + y <= 1 + 1e-12, "--x/--y", "x + y must be at most 1, got \(x) + \(y) = \(x + y)")
    try require(alpha > 0, "--alpha", "the temperature must be positive, got \(alpha)")
    try require(eta >= 0, "--eta", "the balancing factor must be at least 0, got \(eta)")
    try require((0...1).contains(beta), "--beta", "the weight lower bound must be in [0, 1], got \(beta)")
    try require(gamma > 0 && gamma <= 1, "--gamma", "the discount must be in (0, 1], got \(gamma)")
    try require(segRatio > 0 && segRatio <= 1, "--seg-ratio", "must be in (0, 1], got \(segRatio)")
    try require(batchSize >= 1, "--batch-size", "must be at least 1, got \(batchSize)")
    try require(lr > 0, "--lr", "the learning rate must be positive, got \(lr)")
    try require(steps >= 1, "--steps", "must be at least 1, got \(steps)")
    try require(bcSteps >= 0, "--bc-steps", "must be at least 0, got \(bcSteps)")
    try require(
      warmupSteps >= 0, "--warmup-steps",
      "the TraC learning-rate warm-up must be at least 0 updates (0: none), got \(warmupSteps)")
    try require(
      tracLRScale > 0, "--trac-lr-scale",
      "the TraC phase's learning-rate factor must be positive, got \(tracLRScale)")
    if algorithm == .trac {
      try require(
        steps >= bcSteps, "--steps",
        "counts every update, BC included, so it must be at least --bc-steps (\(bcSteps)), got \(steps)")
    }
  }
}
