import Foundation

/// `run.json` (docs/FORMATS.md, docs/run.schema.json): every input, the data's shape after labelling,
/// wall time per phase, speed, and the final losses. The evaluation is added when the policy is evaluated.
/// The trainer writes it (`JSONCodec.prettyEncoder`); the coordinator decodes it once, when a result
/// arrives (`JSONCodec.decoder`); the report reads run folders with it.
public struct RunRecord: Codable, Sendable {
  public static let format = "trac-run/1"

  public var format = RunRecord.format
  public var runID: String
  public var spec: RunSpec
  public var datasetPath: String
  public var trainerVersion: String
  public var startedAt: Date
  public var finishedAt: Date
  public var host: String
  public var blasThreads: Int
  /// The BLAS library and kernel that computed the run, and which kernel trained which steps.
  public var blas: BLASRuntime?
  public var data: DataSummary
  public var timing: Timing
  public var final: FinalMetrics
  /// Updates this process made: all of them, unless it resumed from a checkpoint.
  public var stepsTrained: Int?
  /// The step of the checkpoint this process started from; nil when it started from step 0.
  public var resumedFromStep: Int?
  /// The run whose checkpoint it started from: this run's own id when it resumed, another run's
  /// when its TraC phase started from that run's BC stage.
  public var resumedFromRun: String?
  /// The id of the run's BC stage (nil for runs without one): runs with the same stage id have the
  /// same state at the switch to TraC.
  public var bcStage: String?
  /// The final policy in the simulator at the run's threshold; nil until evaluated.
  public var evaluation: EvaluationResult?

  public init(
    runID: String, spec: RunSpec, datasetPath: String, trainerVersion: String, startedAt: Date,
    finishedAt: Date,
    host: String, blasThreads: Int, data: DataSummary, timing: Timing, final: FinalMetrics
  ) {
    self.runID = runID
    self.spec = spec
    self.datasetPath = datasetPath
    self.trainerVersion = trainerVersion
    self.startedAt = startedAt
    self.finishedAt = finishedAt
    self.host = host
    self.blasThreads = blasThreads
    self.data = data
    self.timing = timing
    self.final = final
  }

  public struct DataSummary: Codable, Sendable {
    public var transitions: Int
    public var episodes: Int
    public var maxEpisodeLength: Int
    public var segmentLength: Int
    public var segments: Int
    public var safeSegments: Int
    public var unsafeSegments: Int
    public var desirableSegments: Int
    public var undesirableSegments: Int

    public init(
      transitions: Int, episodes: Int, maxEpisodeLength: Int, segmentLength: Int, segments: Int,
      safeSegments: Int, unsafeSegments: Int, desirableSegments: Int, undesirableSegments: Int
    ) {
      self.transitions = transitions
      self.episodes = episodes
      self.maxEpisodeLength = maxEpisodeLength
      self.segmentLength = segmentLength
      self.segments = segments
      self.safeSegments = safeSegments
      self.unsafeSegments = unsafeSegments
      self.desirableSegments = desirableSegments
      self.undesirableSegments = undesirableSegments
    }

    enum CodingKeys: String, CodingKey {
      case transitions, episodes
      case maxEpisodeLength = "max_episode_length"
      case segmentLength = "segment_length"
      case segments
      case safeSegments = "safe_segments"
      case unsafeSegments = "unsafe_segments"
      case desirableSegments = "desirable_segments"
      case undesirableSegments = "undesirable_segments"
    }
  }

  public struct Timing: Codable, Sendable {
    public var loadSeconds: Double
    public var labelSeconds: Double
    public var bcSeconds: Double
    public var tracSeconds: Double
    public var totalSeconds: Double
    public var evaluationSeconds: Double?
    public var bcStepsPerSecond: Double?
    public var tracStepsPerSecond: Double?
    /// Checkpoints written and the time spent writing them (fsync included).
    public var checkpoints: Int?
    public var checkpointSeconds: Double?

    public init(
      loadSeconds: Double, labelSeconds: Double, bcSeconds: Double, tracSeconds: Double, totalSeconds: Double,
      bcStepsPerSecond: Double?, tracStepsPerSecond: Double?
    ) {
      self.loadSeconds = loadSeconds
      self.labelSeconds = labelSeconds
      self.bcSeconds = bcSeconds
      self.tracSeconds = tracSeconds
      self.totalSeconds = totalSeconds
      self.bcStepsPerSecond = bcStepsPerSecond
      self.tracStepsPerSecond = tracStepsPerSecond
    }

    enum CodingKeys: String, CodingKey {
      case loadSeconds = "load_seconds"
      case labelSeconds = "label_seconds"
      case bcSeconds = "bc_seconds"
      case tracSeconds = "trac_seconds"
      case totalSeconds = "total_seconds"
      case evaluationSeconds = "evaluation_seconds"
      case bcStepsPerSecond = "bc_steps_per_second"
      case tracStepsPerSecond = "trac_steps_per_second"
      case checkpoints
      case checkpointSeconds = "checkpoint_seconds"
    }
  }

  public struct FinalMetrics: Codable, Sendable {
    public var steps: Int
    public var phase: TrainingPhase
    public var bcLoss: Double?
    public var tracLoss: Double?
    public var accuracy: Double?

    public init(steps: Int, phase: TrainingPhase, bcLoss: Double?, tracLoss: Double?, accuracy: Double?) {
      self.steps = steps
      self.phase = phase
      self.bcLoss = bcLoss
      self.tracLoss = tracLoss
      self.accuracy = accuracy
    }

    enum CodingKeys: String, CodingKey {
      case steps, phase
      case bcLoss = "bc_loss"
      case tracLoss = "trac_loss"
      case accuracy
    }
  }

  enum CodingKeys: String, CodingKey {
    case format
    case runID = "run_id"
    case spec
    case datasetPath = "dataset_path"
    case trainerVersion = "trainer_version"
    case startedAt = "started_at"
    case finishedAt = "finished_at"
    case host
    case blasThreads = "blas_threads"
    case blas
    case data, timing, final
    case stepsTrained = "steps_trained"
    case resumedFromStep = "resumed_from_step"
    case resumedFromRun = "resumed_from_run"
    case bcStage = "bc_stage"
    case evaluation
  }
}
