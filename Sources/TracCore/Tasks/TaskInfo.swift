/// A benchmark family of DSRL: its simulator, and the TraC paper's defaults for its tasks.
public enum TaskFamily: String, Sendable, Hashable, Codable, CaseIterable {
  /// The eight Bullet-Safety-Gym tasks (`.venv`, Python 3.11).
  case bulletGym = "bullet_gym"
  /// DSRL's Safety-Gymnasium tasks: Car and Point navigation, and the velocity tasks
  /// (`.venv-safety-gymnasium`, Python 3.10).
  case safetyGymnasium = "safety_gymnasium"
  /// DSRL's nine MetaDrive tasks: MetaDrive 0.2.6.0 with dsrl 0.1.0's task definitions
  /// (`.venv-metadrive`, Python 3.9).
  case metadrive = "metadrive"

  /// The name a user knows the family by.
  public var displayName: String {
    switch self {
    case .bulletGym: "BulletGym (Bullet-Safety-Gym)"
    case .safetyGymnasium: "Safety-Gymnasium"
    case .metadrive: "MetaDrive"
    }
  }

  /// The TraC paper's hyperparameters for the family (appendix A.3, Table 4; docs/ALGORITHM.md).
  /// Safety-Gymnasium differs from BulletGym only in y, alpha, eta and the segment length ratio.
  /// MetaDrive's are those of the authors' public script for it (`scripts/run_metadrive.sh` of
  /// github.com/zgong11/TraC: safe_top_perc 0.25, gamma 1.0, seg_ratio 0.25, with
  /// `configs/trac_metadrive.yaml`'s 60,000 BC and 200,000 updates in all).
  public var defaultHyperparameters: Hyperparameters {
    var values = Hyperparameters()
    switch self {
    case .bulletGym:
      break
    case .safetyGymnasium:
      values.y = 0.5
      values.alpha = 0.1
      values.eta = 0.5
      values.segRatio = 0.75
    case .metadrive:
      values.x = 0.25
      values.gamma = 1.0
      values.segRatio = 0.25
      values.bcSteps = 60_000
      values.steps = 200_000
    }
    return values
  }

  /// The three cost thresholds the paper evaluates each task at (DSRL's; docs/ALGORITHM.md).
  public var paperCostThresholds: [Double] {
    switch self {
    case .bulletGym, .metadrive: [10, 20, 40]
    case .safetyGymnasium: [20, 40, 80]
    }
  }
}

/// A task of the DSRL benchmark that this project can train and evaluate on.
public struct TaskInfo: Sendable, Hashable, Codable {
  /// DSRL's id, e.g. `OfflineBallCircle-v0`, `OfflineCarButton1Gymnasium-v0`.
  public let dsrlID: String
  /// The simulator's id, e.g. `SafetyBallCircle-v0` (Bullet-Safety-Gym) or
  /// `SafetyCarButton1Gymnasium-v0` (Safety-Gymnasium); DSRL's file for the task is named after it.
  public let simulatorID: String
  public let family: TaskFamily
  public let observationDim: Int
  public let actionDim: Int
  public let episodeSteps: Int
  /// DSRL's fixed normalization constants (`dsrl/infos.py`), never recomputed from data.
  public let rewardMax: Double
  public let rewardMin: Double

  /// The one table of tasks. Every value but the widths is DSRL's: `dsrl/infos.py` of
  /// github.com/liuzuxin/DSRL (DEFAULT_MAX_EPISODE_STEPS, MAX_EPISODE_REWARD, MIN_EPISODE_REWARD),
  /// copied with its citation into scripts/tests/fixtures/dsrl_tasks.json, which a test compares
  /// with this table (and scripts/trac_tasks.py with it too). Observation and action widths were
  /// read off the simulators DSRL pins: Bullet-Safety-Gym 1.4.0 and Safety-Gymnasium 0.4.0.
  public static let bulletGym: [TaskInfo] = [
    TaskInfo(bullet: "AntCircle", 34, 8, 500, 460.7091979980469, 0.0177031010389328),
    TaskInfo(bullet: "AntRun", 33, 8, 200, 955.4818725585938, 0.001767391717990563),
    TaskInfo(bullet: "BallCircle", 8, 2, 200, 881.46337890625, 0.38312244415283203),
    TaskInfo(bullet: "BallRun", 7, 2, 100, 1327.445556640625, 26.339754104614258),
    TaskInfo(bullet: "CarCircle", 8, 2, 300, 534.3060913085938, 3.484419822692871),
    TaskInfo(bullet: "CarRun", 7, 2, 200, 574.6533203125, 204.28726196289062),
    TaskInfo(bullet: "DroneCircle", 18, 4, 300, 996.38916015625, 207.794189453125),
    TaskInfo(bullet: "DroneRun", 17, 4, 200, 682.8330078125, 10.557029724121094),
  ]

  /// DSRL's 21 Safety-Gymnasium tasks (`Offline<name>Gymnasium-v0`, the velocity tasks `-v1`).
  public static let safetyGymnasium: [TaskInfo] = [
    TaskInfo(gymnasium: "CarButton1", 88, 2, 1000, 44.420003345738984, 0.0028926206826067613),
    TaskInfo(gymnasium: "CarButton2", 88, 2, 1000, 41.99513815522894, 0.001767391717990563),
    TaskInfo(gymnasium: "CarCircle1", 40, 2, 500, 24.94155502319336, 8.037073135375977),
    TaskInfo(gymnasium: "CarCircle2", 40, 2, 500, 25.950098037719727, 5.113386154174805),
    TaskInfo(gymnasium: "CarGoal1", 72, 2, 1000, 39.907809198384705, 0.012232819540852091),
    TaskInfo(gymnasium: "CarGoal2", 72, 2, 1000, 28.902897990056502, 0.001032874531954775),
    TaskInfo(gymnasium: "CarPush1", 88, 2, 1000, 16.304467598905237, 0.013700173533941762),
    TaskInfo(gymnasium: "CarPush2", 88, 2, 1000, 15.141648491514314, 0.00029391133526335267),
    TaskInfo(gymnasium: "PointButton1", 76, 2, 1000, 41.19301568767707, 0.008822109034937853),
    TaskInfo(gymnasium: "PointButton2", 76, 2, 1000, 42.8985953616709, 0.014114166087574098),
    TaskInfo(gymnasium: "PointCircle1", 28, 2, 500, 61.72819519042969, 20.067626953125),
    TaskInfo(gymnasium: "PointCircle2", 28, 2, 500, 54.02184295654297, 20.478347778320312),
    TaskInfo(gymnasium: "PointGoal1", 60, 2, 1000, 30.071114857340543, 0.01196012764197707),
    TaskInfo(gymnasium: "PointGoal2", 60, 2, 1000, 27.717709787852737, 0.002616959830266108),
    TaskInfo(gymnasium: "PointPush1", 76, 2, 1000, 16.518654299293367, 0.0014001545292344209),
    TaskInfo(gymnasium: "PointPush2", 76, 2, 1000, 14.691039145644403, 0.0012438183001730607),
    TaskInfo(gymnasium: "AntVelocity", 27, 8, 1000, 2976.276611328125, 6.1519012451171875, version: 1),
    TaskInfo(gymnasium: "HalfCheetahVelocity", 17, 6, 1000, 2806.93310546875, 5.7509765625, version: 1),
    TaskInfo(gymnasium: "HopperVelocity", 11, 3, 1000, 1911.396728515625, 37.05154800415039, version: 1),
    TaskInfo(gymnasium: "SwimmerVelocity", 8, 2, 1000, 238.95831298828125, 0.07114458084106445, version: 1),
    TaskInfo(gymnasium: "Walker2dVelocity", 17, 6, 1000, 3418.223876953125, 18.668498992919922, version: 1),
  ]

  /// DSRL's nine MetaDrive tasks: three roads (easy, medium, hard) x three traffic densities (sparse,
  /// mean, dense), `OfflineMetadrive-<road><traffic>-v0`; DSRL's files are `SafeMetaDrive-<...>-v0-*.hdf5`.
  /// Observation 259 (ego state, navigation, 240 lidar beams), action 2 (steering, throttle/brake).
  public static let metadrive: [TaskInfo] = [
    TaskInfo(metadrive: "easysparse", 425.8006286621094, 20.094310760498047),
    TaskInfo(metadrive: "easymean", 425.82440185546875, 22.142553329467773),
    TaskInfo(metadrive: "easydense", 425.81732177734375, 19.71139144897461),
    TaskInfo(metadrive: "mediumsparse", 269.80084228515625, 17.446578979492188),
    TaskInfo(metadrive: "mediummean", 269.8221435546875, 17.032529830932617),
    TaskInfo(metadrive: "mediumdense", 269.7813415527344, 15.102348327636719),
    TaskInfo(metadrive: "hardsparse", 486.80523681640625, 17.247974395751953),
    TaskInfo(metadrive: "hardmean", 486.9967956542969, 19.387981414794922),
    TaskInfo(metadrive: "harddense", 486.63616943359375, 15.386894226074219),
  ]

  /// Every supported task (all 38 of DSRL's), BulletGym first, MetaDrive last.
  public static let all: [TaskInfo] = bulletGym + safetyGymnasium + metadrive

  private init(
    bullet name: String, _ observationDim: Int, _ actionDim: Int, _ episodeSteps: Int, _ rewardMax: Double,
    _ rewardMin: Double
  ) {
    self.init(
      dsrlID: "Offline\(name)-v0", simulatorID: "Safety\(name)-v0", family: .bulletGym,
      observationDim: observationDim, actionDim: actionDim, episodeSteps: episodeSteps, rewardMax: rewardMax,
      rewardMin: rewardMin)
  }

  private init(
    gymnasium name: String, _ observationDim: Int, _ actionDim: Int, _ episodeSteps: Int, _ rewardMax: Double,
    _ rewardMin: Double, version: Int = 0
  ) {
    self.init(
      dsrlID: "Offline\(name)Gymnasium-v\(version)", simulatorID: "Safety\(name)Gymnasium-v\(version)",
      family: .safetyGymnasium, observationDim: observationDim, actionDim: actionDim,
      episodeSteps: episodeSteps,
      rewardMax: rewardMax, rewardMin: rewardMin)
  }

  private init(metadrive name: String, _ rewardMax: Double, _ rewardMin: Double) {
    self.init(
      dsrlID: "OfflineMetadrive-\(name)-v0", simulatorID: "SafeMetaDrive-\(name)-v0", family: .metadrive,
      observationDim: 259, actionDim: 2, episodeSteps: 1000, rewardMax: rewardMax, rewardMin: rewardMin)
  }

  private init(
    dsrlID: String, simulatorID: String, family: TaskFamily, observationDim: Int, actionDim: Int,
    episodeSteps: Int, rewardMax: Double, rewardMin: Double
  ) {
    self.dsrlID = dsrlID
    self.simulatorID = simulatorID
    self.family = family
    self.observationDim = observationDim
    self.actionDim = actionDim
    self.episodeSteps = episodeSteps
    self.rewardMax = rewardMax
    self.rewardMin = rewardMin
  }

  /// Looks a task up by its DSRL or simulator id.
  public static func named(_ name: String) throws(TracError) -> TaskInfo {
    if let task = all.first(where: { $0.dsrlID == name || $0.simulatorID == name }) {
      return task
    }
    let supported = all.map(\.dsrlID).joined(separator: ", ")
    var message = "unknown task '\(name)'"
    if let match = all.first(where: {
      $0.dsrlID.lowercased() == name.lowercased() || $0.simulatorID.lowercased() == name.lowercased()
    }) {
      message += " (task ids are case-sensitive: did you mean '\(match.dsrlID)'?)"
    }
    message += "; supported: \(supported) (or their simulator ids: the names of DSRL's dataset files)"
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
