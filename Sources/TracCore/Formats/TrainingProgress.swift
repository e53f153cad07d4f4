/// The two phases of a TraC run; the BC baselines are one long `bc` phase.
public enum TrainingPhase: String, Codable, Sendable {
  case bc
  case trac
}

/// What the trainer reports every `logEvery` steps: means over the steps since the last report. A line
/// of `train.jsonl`, and the content of `progress.json` (docs/FORMATS.md).
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

  public init(
    step: Int, totalSteps: Int, phase: TrainingPhase, loss: Double, accuracy: Double?, learningRate: Double,
    stepsPerSecond: Double, elapsedSeconds: Double
  ) {
    self.step = step
    self.totalSteps = totalSteps
    self.phase = phase
    self.loss = loss
    self.accuracy = accuracy
    self.learningRate = learningRate
    self.stepsPerSecond = stepsPerSecond
    self.elapsedSeconds = elapsedSeconds
  }

  enum CodingKeys: String, CodingKey {
    case step
    case totalSteps = "total_steps"
    case phase, loss, accuracy
    case learningRate = "lr"
    case stepsPerSecond = "steps_per_second"
    case elapsedSeconds = "elapsed_seconds"
  }
}
