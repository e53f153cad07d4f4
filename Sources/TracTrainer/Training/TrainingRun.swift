import Foundation
import TracCore

/// One run of `trac-sweep train`, start to finish: load and hash the dataset, label, train, write
/// `policy.safetensors`, `train.jsonl` and `run.json` into the output directory.
public struct TrainingRun {
  public var datasetPath: String
  public var task: TaskInfo
  public var algorithm: Algorithm
  public var hyperparameters: Hyperparameters
  public var costThreshold: Double
  public var seed: UInt64
  public var evalEpisodes: Int = 20
  public var evalSeed: UInt64 = 0
  public var outputDirectory: URL
  /// Steps between two lines of train.jsonl (and progress reports).
  public var logEvery: Int = 1000
  /// Evaluate the final policy in the simulator and add the result to run.json.
  public var evaluate = false

  public init(
    datasetPath: String, task: TaskInfo, algorithm: Algorithm, hyperparameters: Hyperparameters,
    costThreshold: Double, seed: UInt64, outputDirectory: URL
  ) {
    self.datasetPath = datasetPath
    self.task = task
    self.algorithm = algorithm
    self.hyperparameters = hyperparameters
    self.costThreshold = costThreshold
    self.seed = seed
    self.outputDirectory = outputDirectory
  }

  /// Runs to the end. `progress` is called after every logged interval. Errors of the input
  /// (`TracError`, `DatasetError`) are thrown before any training and leave no files behind.
  public func run(progress: (TrainingProgress) -> Void = { _ in }) throws -> RunRecord {
    try hyperparameters.validate(algorithm: algorithm)
    // Find the evaluator before hours of training, not after.
    let evaluatorLocation = evaluate ? try EvaluatorProcess.Location.resolveEvaluator(for: task.family) : nil
    let startedAt = Date()
    let clock = ContinuousClock()
    let loadStart = clock.now
    let dataset = try DSRLDataset.load(path: datasetPath, task: task)
    let digest = try sha256Hex(ofFileAt: datasetPath)
    let loadSeconds = (clock.now - loadStart).seconds

    let labelStart = clock.now
    let trainer = try Trainer(
      dataset: dataset, task: task, algorithm: algorithm, hyperparameters: hyperparameters,
      costThreshold: costThreshold, seed: seed)
    let labelSeconds = (clock.now - labelStart).seconds
    let spec = RunSpec(
      task: task.dsrlID, datasetSHA256: digest, algorithm: algorithm, hyperparameters: hyperparameters,
      costThreshold: costThreshold, seed: seed, evalEpisodes: evalEpisodes, evalSeed: evalSeed)

    try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
    let logURL = outputDirectory.appendingPathComponent("train.jsonl")
    _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
    let log = try FileHandle(forWritingTo: logURL)
    defer { try? log.close() }
    let encoder = JSONCodec.canonicalEncoder

    var phaseSeconds: [TrainingPhase: Double] = [:]
    var phaseSteps: [TrainingPhase: Int] = [:]
    var lastLoss: [TrainingPhase: Double] = [:]
    var lastAccuracy: Double?
    var intervalLoss = 0.0
    var intervalAccuracy = 0.0
    var intervalSteps = 0
    var intervalStart = clock.now
    let trainStart = clock.now
    while trainer.completedSteps < trainer.totalSteps {
      let phase = trainer.phase
      let learningRate = trainer.nextLearningRate
      let stepStart = clock.now
      let (loss, accuracy) = trainer.step()
      phaseSeconds[phase, default: 0] += (clock.now - stepStart).seconds
      phaseSteps[phase, default: 0] += 1
      intervalLoss += loss
      intervalAccuracy += accuracy ?? 0
      intervalSteps += 1
      let phaseEnds = phase == .bc && trainer.phase == .trac
      if trainer.completedSteps % logEvery == 0 || trainer.completedSteps == trainer.totalSteps || phaseEnds {
        let now = clock.now
        let report = TrainingProgress(
          step: trainer.completedSteps, totalSteps: trainer.totalSteps, phase: phase,
          loss: intervalLoss / Double(intervalSteps),
          accuracy: phase == .trac ? intervalAccuracy / Double(intervalSteps) : nil,
          learningRate: learningRate,
          stepsPerSecond: Double(intervalSteps) / max((now - intervalStart).seconds, 1e-9),
          elapsedSeconds: (now - trainStart).seconds)
        try log.write(contentsOf: try encoder.encode(report) + Data("\n".utf8))
        lastLoss[phase] = report.loss
        if phase == .trac { lastAccuracy = report.accuracy }
        progress(report)
        intervalLoss = 0
        intervalAccuracy = 0
        intervalSteps = 0
        intervalStart = now
      }
    }

    try PolicyFile.write(
      trainer.network.parameters, task: task, runID: spec.runID,
      extraMetadata: ["algorithm": algorithm.rawValue, "trainer_version": TrainerVersion.string],
      to: outputDirectory.appendingPathComponent("policy.safetensors"))
    func rate(_ phase: TrainingPhase) -> Double? {
      guard let steps = phaseSteps[phase], let seconds = phaseSeconds[phase], seconds > 0 else { return nil }
      return Double(steps) / seconds
    }
    var record = RunRecord(
      runID: spec.runID, spec: spec, datasetPath: datasetPath, trainerVersion: TrainerVersion.string,
      startedAt: startedAt, finishedAt: Date(), host: ProcessInfo.processInfo.hostName,
      blasThreads: BLASThreads.count,
      data: .init(
        transitions: dataset.transitionCount, episodes: dataset.episodes.count,
        maxEpisodeLength: dataset.maxEpisodeLength, segmentLength: trainer.segments.length,
        segments: trainer.segments.count, safeSegments: trainer.labels.safeCount,
        unsafeSegments: trainer.labels.unsafeCount, desirableSegments: trainer.labels.desirableCount,
        undesirableSegments: trainer.labels.undesirableCount),
      timing: .init(
        loadSeconds: loadSeconds, labelSeconds: labelSeconds, bcSeconds: phaseSeconds[.bc] ?? 0,
        tracSeconds: phaseSeconds[.trac] ?? 0, totalSeconds: (clock.now - loadStart).seconds,
        bcStepsPerSecond: rate(.bc), tracStepsPerSecond: rate(.trac)),
      final: .init(
        steps: trainer.completedSteps, phase: trainer.phase, bcLoss: lastLoss[.bc], tracLoss: lastLoss[.trac],
        accuracy: lastAccuracy))
    if let evaluatorLocation {
      let evaluationStart = clock.now
      let evaluator = try EvaluatorProcess(location: evaluatorLocation)
      record.evaluation = try evaluator.evaluate(
        policy: outputDirectory.appendingPathComponent("policy.safetensors"), task: task,
        costThresholds: [costThreshold], episodes: evalEpisodes, seed: evalSeed)
      record.timing.evaluationSeconds = (clock.now - evaluationStart).seconds
      record.timing.totalSeconds = (clock.now - loadStart).seconds
    }
    try JSONCodec.prettyEncoder.encode(record).write(
      to: outputDirectory.appendingPathComponent("run.json"), options: .atomic)
    return record
  }
}

extension Duration {
  /// The duration in seconds as a Double.
  public var seconds: Double {
    let (whole, attoseconds) = components
    return Double(whole) + Double(attoseconds) * 1e-18
  }
}
