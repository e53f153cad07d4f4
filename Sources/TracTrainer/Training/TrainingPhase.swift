/// The two phases of a TraC run; the BC baselines are one long `bc` phase.
public enum TrainingPhase: String, Codable, Sendable {
  case bc
  case trac
}

/// What the trainer reports every `logEvery` steps: means over the steps since the last report.
public struct TrainingProgress: Codable, Sendable {
  public var step: Int
  public var totalSteps: Int
  public var phase: TrainingPhase
  public var loss: Double
  /// TraC's classification accuracy; nil in BC.
  public var accuracy: Double?
  public var learningRate: Double
  public var stepsPerSecond: Double
  public var elapsedSeconds: Double

  enum CodingKeys: String, CodingKey {
    case step
    case totalSteps = "total_steps"
    case phase, loss, accuracy
    case learningRate = "lr"
    case stepsPerSecond = "steps_per_second"
    case elapsedSeconds = "elapsed_seconds"
  }
}
