import TracCore

/// Every number of a report: what `summary.json` holds (docs/REPORT.md, `trac-sweep-report/1`), and what
/// the Markdown, HTML and the figures are drawn from. Encoded with snake_case keys (`ReportFiles`).
public struct SensitivityReport: Encodable, Sendable {
  public static let format = "trac-sweep-report/1"

  public var format = SensitivityReport.format
  public var generatedAt: String
  public var sweep: Sweep
  public var completeness: Completeness
  public var settings: [Setting]
  public var sensitivity: [TaskSensitivity]
  public var runs: [Run]
  /// How the runs were trained and evaluated (grid and run.json files).
  public var setup: Setup
  /// Per task, the TraC loss and accuracy against step, from the runs' train.jsonl.
  public var learningCurves: [LearningCurves]

  public struct Sweep: Encodable, Sendable {
    public var id: String
    public var name: String
    public var design: String
    public var tasks: [String]
    public var algorithms: [String]
    public var costThresholds: [Double]
    public var seeds: [UInt64]
    public var base: [String: HyperparameterValue]
    public var vary: [Variation]
  }

  public struct Variation: Encodable, Sendable {
    public var name: String
    public var values: [HyperparameterValue]
  }

  public struct Completeness: Encodable, Sendable {
    public var expected: Int
    public var recorded: Int
    public var complete: Bool
    /// How many of the runs not recorded are in each state (`pending`, `running`, `failed`, ...).
    public var notRecordedByState: [String: Int]
    public var missing: [MissingRun]
    /// The runs' results by what audits said of them (`passed`, `suspect`, ...; docs/SECURITY.md): the
    /// results drawn for audit only.
    public var audits: [String: Int] = [:]
  }

  public struct MissingRun: Encodable, Sendable {
    public var runID: String?
    public var task: String
    public var setting: String
    public var costThreshold: Double
    public var seed: UInt64
    public var state: String

    enum CodingKeys: String, CodingKey {
      case runID = "run_id"
      case task, setting, costThreshold, seed, state
    }
  }

  /// One (task, algorithm, grid point): its runs over every cost threshold and seed.
  public struct Setting: Encodable, Sendable {
    public var task: String
    public var algorithm: String
    public var point: String
    public var label: String
    public var varied: [String: HyperparameterValue]
    public var hyperparameters: [String: HyperparameterValue]
    public var runs: Int
    public var expected: Int
    /// How many distinct seeds the recorded runs have: a mean over fewer than 3 is marked.
    public var seeds: Int
    public var reward: MeanStd
    public var cost: MeanStd
    public var safeShare: Double?
    /// The paper's bold: mean normalized cost <= 1. Nil without a recorded run.
    public var safe: Bool?
    public var bestSafe: Bool
    public var byThreshold: [Threshold]
  }

  public struct Threshold: Encodable, Sendable {
    public var costThreshold: Double
    public var runs: Int
    public var seeds: Int
    public var reward: MeanStd
    public var cost: MeanStd
    public var safeShare: Double?
  }

  public struct TaskSensitivity: Encodable, Sendable {
    public var task: String
    public var design: String
    /// `one_at_a_time`: one curve per varied hyperparameter.
    public var curves: [Curve]
    /// `product`: the functional ANOVA of the TraC settings.
    public var anova: ANOVA?
    /// The BC settings of the task, to draw beside the curves.
    public var baselines: [Baseline]
  }

  public struct Curve: Encodable, Sendable {
    public var hyperparameter: String
    public var values: [HyperparameterValue]
    public var labels: [String]
    public var reward: CurveMetric
    public var cost: CurveMetric
  }

  public struct CurveMetric: Encodable, Sendable {
    public var means: [Double?]
    public var stds: [Double?]
    /// Largest minus smallest mean along the curve.
    public var range: Double?
    /// The pooled seed-to-seed standard deviation within (value, cost threshold) cells.
    public var seedStd: Double?
  }

  public struct ANOVA: Encodable, Sendable {
    public var complete: Bool
    public var missingCells: [String]
    public var reward: Decomposition
    public var cost: Decomposition
    public var heatmaps: [Heatmap]
  }

  public struct Decomposition: Encodable, Sendable {
    /// The variance of the cell means; nil when not computed.
    public var variance: Double?
    /// Share of the variance explained by each hyperparameter's main effect.
    public var main: [String: Double]
    public var pairs: [PairShare]
  }

  public struct PairShare: Encodable, Sendable {
    public var hyperparameters: [String]
    public var share: Double
  }

  public struct Heatmap: Encodable, Sendable {
    public var hyperparameters: [String]
    public var values: [[HyperparameterValue]]
    public var reward: [[Double?]]
    public var cost: [[Double?]]
  }

  public struct Baseline: Encodable, Sendable {
    public var label: String
    public var reward: MeanStd
    public var cost: MeanStd
  }

  /// One recorded run, for the scatter plot.
  public struct Run: Encodable, Sendable {
    public var runID: String?
    public var task: String
    public var algorithm: String
    public var label: String
    public var varied: [String: HyperparameterValue]
    public var costThreshold: Double
    public var seed: UInt64
    public var normalizedReward: Double
    public var normalizedCost: Double
    public var safe: Bool
    /// The run's policy file as the results give it, and the folder of its artifacts.
    public var policy: String?
    public var artifacts: String?

    enum CodingKeys: String, CodingKey {
      case runID = "run_id"
      case task, algorithm, label, varied, costThreshold, seed, normalizedReward, normalizedCost, safe
      case policy, artifacts
    }
  }

  /// The training setup: what the grid says, completed by what the runs' run.json files recorded.
  public struct Setup: Encodable, Sendable {
    public var tasks: [TaskSetup]
    public var algorithms: [String]
    /// Every hyperparameter of TracCore, in its order: the base value and the varied values.
    public var hyperparameters: [SetupHyperparameter]
    public var evalEpisodes: [Int]
    public var evalSeeds: [UInt64]
    /// The trainer format (RunSpec.trainerFormatVersion) the runs recorded; this build's when none was read.
    public var trainerFormats: [Int]
    public var trainerFormatSource: String
    public var trainerVersions: [String]
    /// Recorded runs, and how many of their run.json files were read.
    public var recordedRuns: Int
    public var runFilesRead: Int
    /// Why run.json files were not read (the first such problem), if any was not.
    public var runFilesProblem: String?
    /// Runs that started their TraC phase from a shared BC stage (their `steps_trained` leaves the
    /// stage out); nil when none did.
    public var stageSharing: StageSharing?
  }

  /// What sharing BC stages saved this sweep's runs (docs/CHECKPOINTS.md), from the result columns
  /// `bc_stage`, `steps_trained`, `steps` and `bc_steps`.
  public struct StageSharing: Encodable, Sendable {
    /// Distinct stages the runs started from, and the runs.
    public var stages: Int
    public var runs: Int
    /// Per stage, bc_steps x (its runs - 1): the BC steps not trained again.
    public var bcStepsNotRepeated: Int
    /// The steps those runs would have trained alone (their `steps`).
    public var stepsAlone: Int
  }

  public struct TaskSetup: Encodable, Sendable {
    public var task: String
    /// The grid's dataset file; nil: the task's DSRL file found in $DSRL_DATASET_DIR where it ran.
    public var datasetPath: String?
    /// The dataset file's name as the runs recorded it, else the grid's.
    public var datasetName: String?
    /// Distinct values the runs recorded (more than one: the runs did not all see the same data).
    public var datasetSHA256: [String]
    public var episodes: [Int]
    public var transitions: [Int]
  }

  public struct SetupHyperparameter: Encodable, Sendable {
    public var name: String
    public var base: HyperparameterValue
    public var varied: [HyperparameterValue]?
    public var tracOnly: Bool
  }

  public struct LearningCurves: Encodable, Sendable {
    public var task: String
    /// TraC runs recorded, and how many of their train.jsonl files were read.
    public var runs: Int
    public var runsRead: Int
    /// Why train.jsonl files were not read (the first problem), if any was not.
    public var problem: String?
    public var settings: [LearningCurve]
  }

  /// One TraC setting: at each logged step, the mean ± std over its runs (cost thresholds and seeds).
  public struct LearningCurve: Encodable, Sendable {
    public var label: String
    public var runs: Int
    public var steps: [Int]
    public var loss: CurveSeries
    public var accuracy: CurveSeries
  }

  public struct CurveSeries: Encodable, Sendable {
    public var means: [Double?]
    public var stds: [Double?]
  }
}
