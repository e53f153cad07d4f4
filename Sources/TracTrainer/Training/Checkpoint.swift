import Foundation
import TracCore

/// Where the training log stands at a checkpoint: the sums of the logging interval under way, the
/// training time so far, and the last logged losses that run.json reports.
public struct LogState: Codable, Equatable, Sendable {
  public var intervalLoss = 0.0
  public var intervalAccuracy = 0.0
  public var intervalSteps = 0
  public var elapsedSeconds = 0.0
  public var lastBCLoss: Double?
  public var lastTraCLoss: Double?
  public var lastAccuracy: Double?

  public init() {}

  enum CodingKeys: String, CodingKey {
    case intervalLoss = "interval_loss"
    case intervalAccuracy = "interval_accuracy"
    case intervalSteps = "interval_steps"
    case elapsedSeconds = "elapsed_seconds"
    case lastBCLoss = "last_bc_loss"
    case lastTraCLoss = "last_trac_loss"
    case lastAccuracy = "last_accuracy"
  }
}

/// A run's complete state at a step, as one safetensors file (docs/CHECKPOINTS.md): the trainer's
/// state, the run's inputs, and train.jsonl up to the step, so that a checkpoint alone (copied to
/// another machine) continues the run: the resumed run writes the same policy, byte for byte, as
/// a run that never stopped.
public struct Checkpoint: Sendable {
  public static let format = CheckpointFormat.current
  /// The newest checkpoint of a run, in its checkpoint directory.
  public static let fileName = RunFiles.checkpoint
  /// The checkpoint at the end of the BC phase (step = bc_steps, before the switch), kept: it can
  /// start the TraC phase of any run with the same BC stage.
  public static let bcStageFileName = RunFiles.bcStage

  /// The inputs of the run that wrote it.
  public var spec: RunSpec
  /// The policy's shape (the weights in `state` are in its flat order).
  public var shape: PolicyShape
  public var state: TrainerState
  public var log: LogState
  /// train.jsonl as it stood at this step: every line up to the step, none past it.
  public var trainLog: Data
  public var trainerVersion = TrainerVersion.string
  public var blasThreads = 1
  /// Which OpenBLAS kernel trained which of its steps (docs/PERFORMANCE.md); empty in checkpoints
  /// written before kernels were recorded.
  public var kernelSteps: [KernelSteps] = []

  public init(spec: RunSpec, shape: PolicyShape, state: TrainerState, log: LogState, trainLog: Data) {
    precondition(state.parameters.count == shape.parameterCount)
    self.spec = spec
    self.shape = shape
    self.state = state
    self.log = log
    self.trainLog = trainLog
  }

  public var runID: String { spec.runID }
  public var step: Int { state.completedSteps }
  /// The BC stage of the run that wrote it (nil for runs without one).
  public var bcStageID: String? { spec.bcStage?.stageID }
  /// The phase of the next update. At the end of BC this is `trac` with no TraC update made yet:
  /// the switch (reference, fresh optimizer) happens in the next update.
  public var nextPhase: TrainingPhase {
    spec.algorithm == .trac && step >= spec.hyperparameters.bcSteps ? .trac : .bc
  }
  /// Whether this is the end of a BC stage: step = bc_steps of a run that has a stage, no TraC update yet.
  public var isEndOfBCStage: Bool {
    bcStageID != nil && step == spec.hyperparameters.bcSteps && state.tracUpdates == 0
  }

  // MARK: Encoding

  /// The file's bytes. The `checksum` entry of the metadata covers every other metadata entry and
  /// every tensor byte, so a flipped bit anywhere is found on reading.
  public func encoded() -> Data {
    var tensors: [(String, Safetensors.RawTensor)] = []
    for tensor in shape.tensors {
      tensors.append(
        (
          "policy.\(tensor.name)",
          Safetensors.RawTensor(
            Array(state.parameters[tensor.offset..<(tensor.offset + tensor.count)]), shape: tensor.shape)
        ))
    }
    tensors.append(("adam.first_moment", Safetensors.RawTensor(state.adamFirstMoment)))
    tensors.append(("adam.second_moment", Safetensors.RawTensor(state.adamSecondMoment)))
    tensors.append(("batches.permutation", Safetensors.RawTensor(state.batchPermutation)))
    if let terms = state.referenceTerms { tensors.append(("reference.terms", Safetensors.RawTensor(terms))) }
    tensors.append(("train_log", Safetensors.RawTensor(bytes: trainLog)))

    func hex(_ words: [UInt64]) -> String {
      words.map { String(format: "%016llx", $0) }.joined(separator: ",")
    }
    var metadata = CheckpointHeader(
      format: Self.format, runID: runID, step: state.completedSteps, bcStage: bcStageID
    ).metadata
    metadata.merge([
      "trainer_format_version": String(spec.trainerFormatVersion),
      "trainer_version": trainerVersion,
      "phase": nextPhase.rawValue,
      "trac_updates": String(state.tracUpdates),
      "adam_steps": String(state.adamSteps),
      "rng.batches": hex(state.batchGenerator),
      "rng.batches.position": String(state.batchPosition),
      "rng.dropout": hex(state.dropoutGenerator),
      "log": String(decoding: try! JSONCodec.canonicalEncoder.encode(log), as: UTF8.self),
      "run_spec": String(decoding: try! JSONCodec.canonicalEncoder.encode(spec), as: UTF8.self),
      "blas_threads": String(blasThreads),
    ]) { header, _ in header }
    if !kernelSteps.isEmpty {
      metadata["blas_trained_steps"] = String(
        decoding: try! JSONCodec.canonicalEncoder.encode(kernelSteps), as: UTF8.self)
    }
    metadata["checksum"] = Self.checksum(metadata: metadata, tensors: tensors.map(\.1.bytes))
    return Safetensors.encode(raw: tensors, metadata: metadata)
  }

  static func checksum(metadata: [String: String], tensors: [Data]) -> String {
    let hasher = SHA256()
    for key in metadata.keys.sorted() where key != "checksum" {
      hasher.update(Data(key.utf8) + [0] + Data(metadata[key]!.utf8) + [0])
    }
    for bytes in tensors { hasher.update(bytes) }
    return hasher.finalizeHex()
  }

  /// Reads and checks a checkpoint file. Anything unreadable, truncated, corrupt, of another format
  /// or of another trainer format is a `CheckpointError` naming the file and, when it can be read,
  /// the checkpoint's run.
  public static func read(_ url: URL) throws(CheckpointError) -> Checkpoint {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      throw CheckpointError(file: url.path, reason: "cannot be read (\(error.localizedDescription))")
    }
    return try decode(data, file: url.path)
  }

  public static func decode(_ data: Data, file: String) throws(CheckpointError) -> Checkpoint {
    let decoded: (tensors: [String: Safetensors.RawTensor], metadata: [String: String], body: Data)
    do throws(Safetensors.FormatError) { decoded = try Safetensors.decodeFile(raw: data, file: file) } catch {
      throw CheckpointError(file: file, reason: "is truncated or corrupt: \(error.message)")
    }
    let (tensors, metadata, body) = decoded
    guard metadata["format"] == format else {
      throw CheckpointError(
        file: file,
        reason:
          "is not a checkpoint this trainer reads (format \(metadata["format"] ?? "missing"), expected \(format))",
        checkpointRun: metadata["run_id"])
    }
    let checkpointRun = metadata["run_id"]
    func fail(_ reason: String) -> CheckpointError {
      CheckpointError(file: file, reason: reason, checkpointRun: checkpointRun)
    }
    // The body, every tensor's bytes in file order, is what the checksum covers.
    guard let stored = metadata["checksum"], stored == checksum(metadata: metadata, tensors: [body])
    else { throw fail("is corrupt: its checksum does not match its contents") }
    guard metadata["trainer_format_version"] == String(RunSpec.trainerFormatVersion) else {
      throw fail(
        "was written by trainer format \(metadata["trainer_format_version"] ?? "unknown"); this trainer is format"
          + " \(RunSpec.trainerFormatVersion) and would not continue it to the same result")
    }
    func integer(_ key: String) throws(CheckpointError) -> Int {
      guard let text = metadata[key], let value = Int(text) else { throw fail("has no valid '\(key)'") }
      return value
    }
    func words(_ key: String) throws(CheckpointError) -> [UInt64] {
      guard let text = metadata[key] else { throw fail("has no '\(key)'") }
      let values = text.split(separator: ",").compactMap { UInt64($0, radix: 16) }
      guard values.count == 4 else { throw fail("has no valid '\(key)'") }
      return values
    }
    func json<T: Decodable>(_ type: T.Type, _ key: String) throws(CheckpointError) -> T {
      guard let text = metadata[key], let value = try? JSONCodec.decoder.decode(type, from: Data(text.utf8))
      else { throw fail("has no valid '\(key)'") }
      return value
    }
    func floats(_ name: String) throws(CheckpointError) -> [Float] {
      guard let values = tensors[name]?.floats else { throw fail("has no F32 tensor '\(name)'") }
      return values
    }
    let spec = try json(RunSpec.self, "run_spec")
    guard spec.runID == checkpointRun else { throw fail("is corrupt: its run_spec is not of its run_id") }
    guard let first = tensors["policy.layers.0.weight"], first.shape.count == 2,
      let last = tensors["policy.layers.2.weight"], last.shape.count == 2
    else { throw fail("has no policy.layers.0.weight or policy.layers.2.weight of two dimensions") }
    let shape = PolicyShape(observationDim: first.shape[1], actionDim: last.shape[0])
    var parameters: [Float] = []
    for tensor in shape.tensors {
      let values = try floats("policy.\(tensor.name)")
      guard tensors["policy.\(tensor.name)"]?.shape == tensor.shape else {
        throw fail("has tensor policy.\(tensor.name) of shape \(tensors["policy.\(tensor.name)"]!.shape)")
      }
      parameters += values
    }
    guard let permutation = tensors["batches.permutation"]?.int32s else {
      throw fail("has no I32 tensor 'batches.permutation'")
    }
    guard let trainLog = tensors["train_log"], trainLog.dtype == .u8 else {
      throw fail("has no U8 tensor 'train_log'")
    }
    var referenceTerms: [Double]?
    if let terms = tensors["reference.terms"] {
      guard let values = terms.doubles else { throw fail("has a 'reference.terms' that is not F64") }
      referenceTerms = values
    }
    let state = TrainerState(
      completedSteps: try integer("step"), tracUpdates: try integer("trac_updates"), parameters: parameters,
      adamFirstMoment: try floats("adam.first_moment"), adamSecondMoment: try floats("adam.second_moment"),
      adamSteps: try integer("adam_steps"), batchGenerator: try words("rng.batches"),
      batchPermutation: permutation, batchPosition: try integer("rng.batches.position"),
      dropoutGenerator: try words("rng.dropout"), referenceTerms: referenceTerms)
    guard parameters.count == shape.parameterCount else {
      throw fail("has policy tensors of the wrong sizes")
    }
    var checkpoint = Checkpoint(
      spec: spec, shape: shape, state: state, log: try json(LogState.self, "log"), trainLog: trainLog.bytes)
    checkpoint.trainerVersion = metadata["trainer_version"] ?? "unknown"
    checkpoint.blasThreads = Int(metadata["blas_threads"] ?? "") ?? 1
    if metadata["blas_trained_steps"] != nil {
      checkpoint.kernelSteps = try json([KernelSteps].self, "blas_trained_steps")
    }
    return checkpoint
  }
}

/// A checkpoint that cannot be used for this run: unreadable, truncated, corrupt, of another
/// format, trainer format, run or BC stage. `trac-sweep train` exits with status 65: retrying with
/// the same checkpoint cannot help, and training on from it is never done silently.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
  public var file: String
  public var reason: String
  /// The run that wrote the checkpoint, when its header could be read.
  public var checkpointRun: String?
  /// The run being trained, filled in by the trainer.
  public var thisRun: String?
  public var advice = "delete it (or pass another --checkpoint-dir) to train this run from step 0"

  public init(file: String, reason: String, checkpointRun: String? = nil, thisRun: String? = nil) {
    self.file = file
    self.reason = reason
    self.checkpointRun = checkpointRun
    self.thisRun = thisRun
  }

  public var description: String {
    "refusing checkpoint \(file): it \(reason) (checkpoint of run \(checkpointRun ?? "unknown: unreadable");"
      + " this run is \(thisRun ?? "unknown")); \(advice)"
  }
}
