import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// One run of `trac-sweep train`, start to finish: load and hash the dataset, label, train, write
/// `policy.safetensors`, `train.jsonl` and `run.json` into the output directory; with a checkpoint
/// directory, resume from its checkpoint and write one every `checkpointEvery` steps.
public struct TrainingRun {
  /// The default of `--checkpoint-every`: at the paper's size (BallCircle, batch 96, one BLAS
  /// thread, 0.11-0.13 s a step) 1,000 steps are about two minutes of training, the most a kill
  /// loses, and a checkpoint (0.83 MB) took 36 ms to write and fsync on a loaded machine: 0.03% of
  /// the time (docs/CHECKPOINTS.md).
  public static let defaultCheckpointEvery = 1000
  /// train.jsonl's cadence when none is given: about 100 lines a run, at most one every 1,000 steps, and
  /// a divisor of both `bcSteps` and `steps`, so the lines are evenly spaced through the end of BC (a
  /// paper-size run of 100,000 steps, 30,000 BC, logs every 1,000; the demo's 1,500, 800 BC, every 10).
  public static func defaultLogEvery(steps: Int, bcSteps: Int) -> Int {
    let target = max(1, min(1000, steps / 100))
    func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
    let common = max(1, gcd(max(steps, 1), bcSteps > 0 && bcSteps < steps ? bcSteps : 0))
    return (1...target).reversed().first { common % $0 == 0 } ?? 1
  }

  /// `progress.json` in the output directory: the step in hand, at most `progressInterval` old.
  public static let progressFileName = RunFiles.progress
  public static let progressInterval: Duration = .seconds(2)

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
  /// Where the run's checkpoints live: it resumes from the one there (of this run only) and writes
  /// one every `checkpointEvery` steps and at the end of BC. Nil: no checkpoints.
  public var checkpointDirectory: URL?
  public var checkpointEvery = TrainingRun.defaultCheckpointEvery
  /// A checkpoint at the end of a BC stage (another run's `bc-stage.safetensors`) to start the TraC
  /// phase from, when the stage ids match. A checkpoint of this run in `checkpointDirectory` wins.
  public var initialCheckpoint: URL?
  /// The BLAS mode (part of the run's spec) and what computes this process's steps; nil: the loaded
  /// kernel, as the library chose it.
  public var blas: BLASMode = .fastest
  /// How batches are cut (part of the run's spec, docs/ALGORITHM.md section 5).
  public var batching: Batching = .full
  /// The spec's `log_every` (a grid's setting, part of the run's spec); `logEvery` is the cadence used.
  public var specLogEvery: Int?
  public var blasRuntime: BLASRuntime?
  /// The spec the run was handed (`train --spec`): the run is refused, before any training, when the
  /// spec it computes (the dataset's digest included) is another run.
  public var expectedSpec: RunSpec?
  /// Says what the run starts from when it does not start from step 0 (stderr by default).
  public var notice: (String) -> Void = { FileHandle.standardError.write(Data("note: \($0)\n".utf8)) }

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
  /// (`TracError`, `DatasetError`, `CheckpointError`) are thrown before any training and leave no
  /// files behind in the output directory.
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
      costThreshold: costThreshold, seed: seed, batching: batching)
    let labelSeconds = (clock.now - labelStart).seconds
    let spec = RunSpec(
      task: task.dsrlID, datasetSHA256: digest, algorithm: algorithm, hyperparameters: hyperparameters,
      costThreshold: costThreshold, seed: seed, evalEpisodes: evalEpisodes, evalSeed: evalSeed, blas: blas,
      batching: batching, logEvery: specLogEvery)
    if let expected = expectedSpec, expected.runID != spec.runID {
      throw TracError.invalidInput(
        Self.mismatch(expected: expected, computed: spec, datasetPath: datasetPath))
    }
    var runtime = blasRuntime ?? BLASRuntime.current(mode: blas, source: "library")

    // Where to start, decided before anything is written: a checkpoint that does not fit is refused.
    var directoryLock: DirectoryLock?
    var start: Checkpoint?
    if let directory = checkpointDirectory {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      guard let lock = try DirectoryLock(directory) else {
        throw CheckpointDirectoryBusy(directory: directory.path)
      }
      directoryLock = lock
      AtomicFile.removeTemporaryFiles(of: Checkpoint.fileName, in: directory)
      AtomicFile.removeTemporaryFiles(of: Checkpoint.bcStageFileName, in: directory)
      let url = directory.appendingPathComponent(Checkpoint.fileName)
      if FileManager.default.fileExists(atPath: url.path) {
        start = try Self.resume(from: url, spec: spec, trainer: trainer)
        notice(
          "resuming run \(spec.runID) from step \(start!.step) of \(trainer.totalSteps)"
            + " (next phase \(start!.nextPhase.rawValue)), checkpoint \(url.path)")
      }
    }
    if start == nil, let initial = initialCheckpoint {
      start = try Self.startFromStage(initial, spec: spec, trainer: trainer)
      notice(
        "starting run \(spec.runID) at step \(start!.step) from BC stage \(spec.bcStage!.stageID)"
          + " (checkpoint \(initial.path) of run \(start!.runID))")
    }
    if let start, start.blasThreads != BLASThreads.count {
      notice(
        "the checkpoint was written with \(start.blasThreads) BLAS threads and this process has"
          + " \(BLASThreads.count): the policy may differ in its last bits from a run that never stopped")
    }
    defer { withExtendedLifetime(directoryLock) {} }
    // Which kernel trained the steps before this process's: never mixed silently.
    var kernelHistory: [KernelSteps] = []
    if let start {
      kernelHistory =
        start.kernelSteps.isEmpty
        ? [KernelSteps(from: 0, to: start.step, kernel: "unknown")] : start.kernelSteps
      let others = Set(kernelHistory.map(\.kernel).filter { !BLASLibrary.same($0, runtime.kernel) })
      if !others.isEmpty {
        if blas == .reproducible {
          throw CheckpointError(
            file: (checkpointDirectory?.appendingPathComponent(Checkpoint.fileName) ?? initialCheckpoint!)
              .path,
            reason:
              "was trained (in part) by the OpenBLAS kernel \(others.sorted().joined(separator: ", ")), and this"
              + " reproducible run computes with \(runtime.kernel)",
            checkpointRun: start.runID, thisRun: spec.runID)
        }
        notice(
          "steps \(kernelHistory.map { "\($0.from)-\($0.to) by \($0.kernel)" }.joined(separator: ", ")) were"
            + " trained by another OpenBLAS kernel than this process's \(runtime.kernel): the policy is not"
            + " the bytes one machine gives (run.json blas.trained_steps says which kernel trained which steps)"
        )
      }
    }

    try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
    let logURL = outputDirectory.appendingPathComponent(RunFiles.trainLog)
    // train.jsonl restarts from the checkpoint's copy: the lines up to its step, none past it.
    var logContents = start?.trainLog ?? Data()
    try AtomicFile.write(logContents, to: logURL)
    let log = try FileHandle(forWritingTo: logURL)
    defer { try? log.close() }
    try log.seekToEnd()
    let encoder = JSONCodec.canonicalEncoder
    let faults = FaultInjection.fromEnvironment()

    let startStep = trainer.completedSteps
    var logState = start?.log ?? LogState()
    var phaseSeconds: [TrainingPhase: Double] = [:]
    var phaseSteps: [TrainingPhase: Int] = [:]
    var checkpoints = 0
    var checkpointSeconds = 0.0
    var intervalStart = clock.now
    let trainStart = clock.now
    let elapsedBefore = logState.elapsedSeconds
    func writeCheckpoint(endOfBC: Bool) throws {
      // A run that ends with its BC stage (a stage unit) leaves the stage in its output, checkpoints
      // or not: that file is what the stage's dependents start from.
      let stageInOutput = endOfBC && trainer.completedSteps == trainer.totalSteps
      guard checkpointDirectory != nil || stageInOutput else { return }
      let writeStart = clock.now
      logState.elapsedSeconds = elapsedBefore + (writeStart - trainStart).seconds
      var checkpoint = Checkpoint(
        spec: spec, shape: trainer.shape, state: trainer.saveState(), log: logState, trainLog: logContents)
      checkpoint.blasThreads = BLASThreads.count
      checkpoint.kernelSteps = KernelSteps.appending(
        KernelSteps(from: startStep, to: trainer.completedSteps, kernel: runtime.kernel), to: kernelHistory)
      let bytes = checkpoint.encoded()
      // The stage's copy first: were the process killed between the two, the next attempt resumes
      // from an earlier checkpoint and writes both again.
      if stageInOutput {
        try AtomicFile.write(bytes, to: outputDirectory.appendingPathComponent(Checkpoint.bcStageFileName))
      }
      guard let directory = checkpointDirectory else { return }
      if endOfBC {
        try AtomicFile.write(bytes, to: directory.appendingPathComponent(Checkpoint.bcStageFileName))
      }
      let killMidway = faults.killDuringCheckpoint == trainer.completedSteps
      try AtomicFile.write(
        bytes, to: directory.appendingPathComponent(Checkpoint.fileName),
        midway: killMidway ? { FaultInjection.killSelf() } : nil)
      checkpoints += 1
      checkpointSeconds += (clock.now - writeStart).seconds
    }

    // Live progress (docs/FORMATS.md, progress.json): the step in hand every couple of seconds, whatever
    // --log-every says, for the worker's heartbeats; one line of train.jsonl's kind, replaced in place.
    let progressURL = outputDirectory.appendingPathComponent(Self.progressFileName)
    var live = (due: clock.now, start: clock.now, loss: 0.0, steps: 0)
    // With checkpoints, a SIGTERM costs no training: a checkpoint at the step in hand, then the signal.
    let termination = checkpointDirectory == nil ? nil : TerminationSignal.install()
    while trainer.completedSteps < trainer.totalSteps {
      let phase = trainer.phase
      let learningRate = trainer.nextLearningRate
      let stepStart = clock.now
      let (loss, accuracy) = trainer.step()
      phaseSeconds[phase, default: 0] += (clock.now - stepStart).seconds
      phaseSteps[phase, default: 0] += 1
      logState.intervalLoss += loss
      logState.intervalAccuracy += accuracy ?? 0
      logState.intervalSteps += 1
      let phaseEnds = phase == .bc && trainer.phase == .trac
      live.loss += loss
      live.steps += 1
      if stepStart >= live.due || trainer.completedSteps == trainer.totalSteps {
        let now = clock.now
        let report = TrainingProgress(
          step: trainer.completedSteps, totalSteps: trainer.totalSteps, phase: phase,
          loss: live.loss / Double(live.steps), accuracy: nil, learningRate: learningRate,
          stepsPerSecond: Double(live.steps) / max((now - live.start).seconds, 1e-9),
          elapsedSeconds: elapsedBefore + (now - trainStart).seconds)
        try? encoder.encode(report).write(to: progressURL, options: .atomic)
        live = (now + Self.progressInterval, now, 0, 0)
      }
      if trainer.completedSteps % logEvery == 0 || trainer.completedSteps == trainer.totalSteps || phaseEnds {
        let now = clock.now
        let report = TrainingProgress(
          step: trainer.completedSteps, totalSteps: trainer.totalSteps, phase: phase,
          loss: logState.intervalLoss / Double(logState.intervalSteps),
          accuracy: phase == .trac ? logState.intervalAccuracy / Double(logState.intervalSteps) : nil,
          learningRate: learningRate,
          stepsPerSecond: Double(logState.intervalSteps) / max((now - intervalStart).seconds, 1e-9),
          elapsedSeconds: elapsedBefore + (now - trainStart).seconds)
        let line = try encoder.encode(report) + Data("\n".utf8)
        try log.write(contentsOf: line)
        logContents.append(line)
        if phase == .trac {
          logState.lastTraCLoss = report.loss
          logState.lastAccuracy = report.accuracy
        } else {
          logState.lastBCLoss = report.loss
        }
        progress(report)
        logState.intervalLoss = 0
        logState.intervalAccuracy = 0
        logState.intervalSteps = 0
        intervalStart = now
      }
      // The end of BC is checkpointed even when it ends the run: that checkpoint is the BC stage.
      let checkpointDue =
        phaseEnds
        || (trainer.completedSteps % checkpointEvery == 0 && trainer.completedSteps < trainer.totalSteps)
      if checkpointDue { try writeCheckpoint(endOfBC: phaseEnds) }
      if let termination, termination.isRequested, trainer.completedSteps < trainer.totalSteps {
        if !checkpointDue { try writeCheckpoint(endOfBC: false) }
        termination.terminate()
      }
      if faults.killAfterStep == trainer.completedSteps { FaultInjection.killSelf() }
    }

    termination?.uninstall()
    try PolicyFile.write(
      trainer.network.parameters, task: task, runID: spec.runID,
      extraMetadata: ["algorithm": algorithm.rawValue, "trainer_version": TrainerVersion.string],
      to: outputDirectory.appendingPathComponent(RunFiles.policy))
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
        steps: trainer.completedSteps, phase: trainer.phase, bcLoss: logState.lastBCLoss,
        tracLoss: logState.lastTraCLoss, accuracy: logState.lastAccuracy))
    record.stepsTrained = trainer.completedSteps - startStep
    record.resumedFromStep = start?.step
    record.resumedFromRun = start?.runID
    record.bcStage = spec.bcStage?.stageID
    runtime.trainedSteps = KernelSteps.appending(
      KernelSteps(from: startStep, to: trainer.completedSteps, kernel: runtime.kernel), to: kernelHistory)
    record.blas = runtime
    if checkpointDirectory != nil {
      record.timing.checkpoints = checkpoints
      record.timing.checkpointSeconds = checkpointSeconds
    }
    if let evaluatorLocation {
      let evaluationStart = clock.now
      let evaluator = try EvaluatorProcess(location: evaluatorLocation)
      record.evaluation = try evaluator.evaluate(
        policy: outputDirectory.appendingPathComponent(RunFiles.policy), task: task,
        costThresholds: [costThreshold], episodes: evalEpisodes, seed: evalSeed)
      record.timing.evaluationSeconds = (clock.now - evaluationStart).seconds
      record.timing.totalSeconds = (clock.now - loadStart).seconds
    }
    try JSONCodec.prettyEncoder.encode(record).write(
      to: outputDirectory.appendingPathComponent(RunFiles.runJSON), options: .atomic)
    return record
  }

  /// Why the run computed is not the run of the spec it was handed.
  static func mismatch(expected: RunSpec, computed: RunSpec, datasetPath: String) -> String {
    let start = "the spec is run \(expected.runID), but this trainer computes run \(computed.runID)"
    if expected.datasetSHA256 != computed.datasetSHA256 {
      return start
        + ": the spec names the dataset with SHA-256 \(expected.datasetSHA256.prefix(64)), and \(datasetPath) has"
        + " SHA-256 \(computed.datasetSHA256)"
    }
    if expected.task != computed.task {
      return start + ": the spec's task \(expected.task.prefix(80)) is not a DSRL id (\(computed.task))"
    }
    return start
  }

  /// This run's own checkpoint, restored into `trainer`; refused when it is another run's or does
  /// not fit.
  static func resume(from url: URL, spec: RunSpec, trainer: Trainer) throws(CheckpointError) -> Checkpoint {
    let runID = spec.runID
    do throws(CheckpointError) {
      let checkpoint = try Checkpoint.read(url)
      guard checkpoint.runID == runID else {
        throw CheckpointError(
          file: url.path, reason: "belongs to another run", checkpointRun: checkpoint.runID)
      }
      do throws(TrainerStateMismatch) { try trainer.restore(checkpoint.state) } catch {
        throw CheckpointError(
          file: url.path, reason: "does not fit this run: \(error.reason)", checkpointRun: checkpoint.runID)
      }
      return checkpoint
    } catch {
      var error = error
      error.thisRun = runID
      throw error
    }
  }

  /// Another run's end-of-BC checkpoint with this run's BC stage, restored into `trainer`: the TraC
  /// phase starts from it. Its train.jsonl lines (the BC phase's) are taken over with this run's
  /// total steps.
  static func startFromStage(_ url: URL, spec: RunSpec, trainer: Trainer) throws(CheckpointError)
    -> Checkpoint
  {
    let runID = spec.runID
    do throws(CheckpointError) {
      var checkpoint = try Checkpoint.read(url)
      func fail(_ reason: String) -> CheckpointError {
        var error = CheckpointError(file: url.path, reason: reason, checkpointRun: checkpoint.runID)
        error.advice =
          "pass the \(Checkpoint.bcStageFileName) of a run with the same BC stage, or leave out --init-from-checkpoint"
        return error
      }
      guard let stage = spec.bcStage?.stageID else {
        throw fail("cannot start this run, which has no BC stage (only TraC runs with bc_steps > 0 have one)")
      }
      guard checkpoint.isEndOfBCStage else {
        throw fail(
          "is not the end of a BC stage (step \(checkpoint.step), \(checkpoint.state.tracUpdates) TraC updates;"
            + " BC stage \(checkpoint.bcStageID ?? "none"))")
      }
      guard checkpoint.bcStageID == stage else {
        throw fail("is of BC stage \(checkpoint.bcStageID ?? "none"), not this run's BC stage \(stage)")
      }
      do throws(TrainerStateMismatch) { try trainer.restore(checkpoint.state) } catch {
        throw fail("does not fit this run: \(error.reason)")
      }
      // The BC phase's log lines, with this run's total step count.
      var lines = Data()
      for line in checkpoint.trainLog.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
        guard var report = try? JSONCodec.decoder.decode(TrainingProgress.self, from: Data(line)) else {
          throw fail("holds a train.jsonl line that is not a training report")
        }
        report.totalSteps = trainer.totalSteps
        lines.append(try! JSONCodec.canonicalEncoder.encode(report) + Data("\n".utf8))
      }
      checkpoint.trainLog = lines
      return checkpoint
    } catch {
      var error = error
      error.thisRun = runID
      throw error
    }
  }
}

/// Another trainer is using the checkpoint directory (a run started twice on one machine).
public struct CheckpointDirectoryBusy: Error, CustomStringConvertible, Sendable {
  public let directory: String
  public var description: String {
    "another trainer is using the checkpoint directory \(directory) (it holds \(directory)/.lock)"
  }
}

/// Test-only fault injection: `TRAC_TRAINER_TEST_KILL=step:N` makes the trainer SIGKILL itself
/// right after step N (its log line and any checkpoint written), `checkpoint:N` halfway through
/// writing step N's checkpoint. Tests use it to kill a real process at an exact point.
struct FaultInjection {
  var killAfterStep: Int?
  var killDuringCheckpoint: Int?

  static func fromEnvironment() -> FaultInjection {
    var faults = FaultInjection()
    guard let value = ProcessInfo.processInfo.environment["TRAC_TRAINER_TEST_KILL"] else { return faults }
    let parts = value.split(separator: ":")
    guard parts.count == 2, let step = Int(parts[1]) else { return faults }
    switch parts[0] {
    case "step": faults.killAfterStep = step
    case "checkpoint": faults.killDuringCheckpoint = step
    default: break
    }
    return faults
  }

  static func killSelf() -> Never {
    kill(getpid(), SIGKILL)
    fatalError("SIGKILL did not stop the process")
  }
}
