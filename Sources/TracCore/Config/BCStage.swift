import Foundation

/// The behaviour-cloning stage of a TraC run (docs/CHECKPOINTS.md): exactly the inputs the
/// BC phase reads. Two runs with the same stage have the same state at the switch to TraC (weights,
/// optimizer, every random stream), so one's end-of-BC checkpoint can start the other's TraC phase.
///
/// What the BC phase reads, and so what is here:
/// - the data and its labelling: the dataset, the task, the cost threshold, x, y, the segment
///   selection and seg_ratio decide which segments are labelled and so what BC trains on (beta only
///   sets the weights of the labelled segments, which BC does not read);
/// - the seed: the `segments`, `init`, `batches` and `dropout` streams are derived from it and
///   nothing else, and before the switch only BC consumes `batches` and `dropout`;
/// - batch_size, lr and bc_steps, and the trainer format version (how the trainer computes);
/// - the BLAS mode: a `reproducible` run's stage is computed by the one reproducible kernel, so it is
///   shared only with other `reproducible` runs (left out of the JSON at `fastest`, like in the run id).
///
/// Not here: alpha, eta, beta, gamma, the reference choice, the TraC learning-rate warm-up and the
/// total steps: TraC reads them after the switch. Evaluation settings are not training inputs.
/// A new hyperparameter that the BC phase reads must be added here (and a test beside it).
public struct BCStage: Codable, Hashable, Sendable {
  public static let format = "trac-bc-stage/1"

  public var format = BCStage.format
  public var task: String
  public var datasetSHA256: String
  public var costThreshold: Double
  public var seed: UInt64
  public var x: Double
  public var y: Double
  public var segments: SegmentSelection
  public var segRatio: Double
  public var batchSize: Int
  public var lr: Double
  public var bcSteps: Int
  public var trainerFormatVersion: Int
  public var blas: BLASMode
  public var batching: Batching

  /// The BC stage of `spec`; nil for runs without one (the BC baselines, and TraC with bc_steps 0).
  public init?(_ spec: RunSpec) {
    let values = spec.hyperparameters
    guard spec.algorithm == .trac, values.bcSteps > 0 else { return nil }
    task = spec.task
    datasetSHA256 = spec.datasetSHA256
    costThreshold = spec.costThreshold
    seed = spec.seed
    x = values.x
    y = values.y
    segments = values.segments
    segRatio = values.segRatio
    batchSize = values.batchSize
    lr = values.lr
    bcSteps = values.bcSteps
    trainerFormatVersion = spec.trainerFormatVersion
    blas = spec.blas
    batching = spec.batching
  }

  enum CodingKeys: String, CodingKey {
    case format, task
    case datasetSHA256 = "dataset_sha256"
    case costThreshold = "cost_threshold"
    case seed, x, y, segments
    case segRatio = "seg_ratio"
    case batchSize = "batch_size"
    case lr
    case bcSteps = "bc_steps"
    case trainerFormatVersion = "trainer_format_version"
    case blas, batching
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    format = try container.decode(String.self, forKey: .format)
    task = try container.decode(String.self, forKey: .task)
    datasetSHA256 = try container.decode(String.self, forKey: .datasetSHA256)
    costThreshold = try container.decode(Double.self, forKey: .costThreshold)
    seed = try container.decode(UInt64.self, forKey: .seed)
    x = try container.decode(Double.self, forKey: .x)
    y = try container.decode(Double.self, forKey: .y)
    segments = try container.decode(SegmentSelection.self, forKey: .segments)
    segRatio = try container.decode(Double.self, forKey: .segRatio)
    batchSize = try container.decode(Int.self, forKey: .batchSize)
    lr = try container.decode(Double.self, forKey: .lr)
    bcSteps = try container.decode(Int.self, forKey: .bcSteps)
    trainerFormatVersion = try container.decode(Int.self, forKey: .trainerFormatVersion)
    blas = try container.decodeIfPresent(BLASMode.self, forKey: .blas) ?? .fastest
    batching = try container.decodeIfPresent(Batching.self, forKey: .batching) ?? .full
  }

  /// `blas` only when it is not `fastest` and `batching` only when it is not `full`, so every stage id
  /// from before these settings is unchanged.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(format, forKey: .format)
    try container.encode(task, forKey: .task)
    try container.encode(datasetSHA256, forKey: .datasetSHA256)
    try container.encode(costThreshold, forKey: .costThreshold)
    try container.encode(seed, forKey: .seed)
    try container.encode(x, forKey: .x)
    try container.encode(y, forKey: .y)
    try container.encode(segments, forKey: .segments)
    try container.encode(segRatio, forKey: .segRatio)
    try container.encode(batchSize, forKey: .batchSize)
    try container.encode(lr, forKey: .lr)
    try container.encode(bcSteps, forKey: .bcSteps)
    try container.encode(trainerFormatVersion, forKey: .trainerFormatVersion)
    if blas != .fastest { try container.encode(blas, forKey: .blas) }
    if batching != .full { try container.encode(batching, forKey: .batching) }
  }

  /// The stage id: the first 16 hex digits of the SHA-256 of the stage's canonical JSON, like a
  /// run id (the `format` field keeps the two kinds of id apart).
  public var stageID: String { RunSpec.id(ofCanonicalJSON: try! JSONCodec.canonicalEncoder.encode(self)) }
}

extension RunSpec {
  /// The run's BC stage, nil when it has none.
  public var bcStage: BCStage? { BCStage(self) }

  /// The run that trains only this run's BC stage, for a TraC run that trains past it: the BC stage's
  /// inputs as they are, every input BC does not read at its default, `steps = bc_steps` and no
  /// evaluation. Its end-of-BC checkpoint (written when the run ends) starts this run's TraC phase, and
  /// that of every run with the same stage. Nil when the run has no stage or ends with it.
  public var stageUnit: RunSpec? {
    guard let unit = stageUnitCandidate, unit != self else { return nil }
    return unit
  }

  /// Whether this run trains only a BC stage, exactly as `stageUnit` makes it: its result carries the
  /// stage's end-of-BC checkpoint.
  public var isStageUnit: Bool { stageUnitCandidate == self }

  private var stageUnitCandidate: RunSpec? {
    guard let stage = bcStage, hyperparameters.steps >= stage.bcSteps else { return nil }
    var values = Hyperparameters()
    values.x = stage.x
    values.y = stage.y
    values.segments = stage.segments
    values.segRatio = stage.segRatio
    values.batchSize = stage.batchSize
    values.lr = stage.lr
    values.bcSteps = stage.bcSteps
    values.steps = stage.bcSteps
    var unit = RunSpec(
      task: task, datasetSHA256: datasetSHA256, algorithm: .trac, hyperparameters: values,
      costThreshold: costThreshold, seed: seed, evalEpisodes: 0, evalSeed: 0, blas: stage.blas,
      batching: stage.batching)
    unit.trainerFormatVersion = trainerFormatVersion
    return unit
  }
}
