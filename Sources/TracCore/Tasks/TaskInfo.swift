/// A task of the DSRL benchmark that this project can train and evaluate on.
public struct TaskInfo: Sendable, Hashable, Codable {
  /// DSRL's id, e.g. `OfflineBallCircle-v0`.
  public let dsrlID: String
  /// Bullet-Safety-Gym's id, e.g. `SafetyBallCircle-v0`.
  public let bulletID: String
  public let observationDim: Int
  public let actionDim: Int
  public let episodeSteps: Int
  /// DSRL's fixed normalization constants (`dsrl/infos.py`), never recomputed from data.
  public let rewardMax: Double
  public let rewardMin: Double

  /// The eight BulletGym tasks (docs/ALGORITHM.md section 9). Observation and action widths were read off
  /// Bullet-Safety-Gym 1.4.0.
  public static let bulletGym: [TaskInfo] = [
    TaskInfo("AntCircle", 34, 8, 500, 460.7091979980469, 0.0177031010389328),
    TaskInfo("AntRun", 33, 8, 200, 955.4818725585938, 0.001767391717990563),
    TaskInfo("BallCircle", 8, 2, 200, 881.46337890625, 0.38312244415283203),
    TaskInfo("BallRun", 7, 2, 100, 1327.445556640625, 26.339754104614258),
    TaskInfo("CarCircle", 8, 2, 300, 534.3060913085938, 3.484419822692871),
    TaskInfo("CarRun", 7, 2, 200, 574.6533203125, 204.28726196289062),
    TaskInfo("DroneCircle", 18, 4, 300, 996.38916015625, 207.794189453125),
    TaskInfo("DroneRun", 17, 4, 200, 682.8330078125, 10.557029724121094),
  ]

  private init(
    _ name: String, _ observationDim: Int, _ actionDim: Int, _ episodeSteps: Int,
    _ rewardMax: Double, _ rewardMin: Double
  ) {
    self.dsrlID = "Offline\(name)-v0"
    self.bulletID = "Safety\(name)-v0"
    self.observationDim = observationDim
    self.actionDim = actionDim
    self.episodeSteps = episodeSteps
    self.rewardMax = rewardMax
    self.rewardMin = rewardMin
  }

  /// Looks a task up by its DSRL or Bullet id.
  public static func named(_ name: String) throws(TracError) -> TaskInfo {
    if let task = bulletGym.first(where: { $0.dsrlID == name || $0.bulletID == name }) {
      return task
    }
    let supported = bulletGym.map(\.dsrlID).joined(separator: ", ")
    var message = "unknown task '\(name)'; supported: \(supported) (or their Safety...-v0 Bullet ids)"
    if name.contains("Gymnasium") || name.contains("MetaDrive") {
      message += ". SafetyGymnasium and MetaDrive tasks are not supported yet: their simulators need"
      message += " Python 3.10, and these machines run 3.11"
    }
    throw TracError.invalidInput(message)
  }

  /// DSRL's normalized reward of an episode return.
  public func normalizedReward(_ episodeReturn: Double) -> Double {
    (episodeReturn - rewardMin) / (rewardMax - rewardMin)
  }
}

/// DSRL's normalized cost of an episode: `(cost + eps) / (threshold + eps)`, eps = 1 when the threshold
/// is 0 (so a zero threshold does not divide by zero), else 0.
public func normalizedCost(_ episodeCost: Double, threshold: Double) -> Double {
  let epsilon = threshold == 0 ? 1.0 : 0.0
  return (episodeCost + epsilon) / (threshold + epsilon)
}
