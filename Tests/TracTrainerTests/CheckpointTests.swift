import Foundation
import TracCore
import TracTrainer
import XCTest

final class CheckpointTests: XCTestCase {
  let task = try! TaskInfo.named("OfflineBallCircle-v0")
  let (dataset, _) = learnableDataset(episodes: 30)

  func hyperparameters(alpha: Double = 1, eta: Double = 0.25, beta: Double = 0.7, steps: Int = 60)
    -> Hyperparameters
  {
    var values = Hyperparameters()
    values.batchSize = 8
    values.bcSteps = 25
    values.steps = steps
    values.lr = 1e-3
    values.alpha = alpha
    values.eta = eta
    values.beta = beta
    return values
  }

  func trainer(_ values: Hyperparameters, seed: UInt64 = 3) throws -> Trainer {
    try Trainer(
      dataset: dataset, task: task, algorithm: .trac, hyperparameters: values, costThreshold: 5, seed: seed)
  }

  func spec(_ values: Hyperparameters, seed: UInt64 = 3) -> RunSpec {
    RunSpec(
      task: task.dsrlID, datasetSHA256: String(repeating: "0", count: 64), algorithm: .trac,
      hyperparameters: values, costThreshold: 5, seed: seed)
  }

  func trainToEnd(_ trainer: Trainer) -> [Float] {
    while trainer.completedSteps < trainer.totalSteps { trainer.step() }
    return trainer.network.parameters.values
  }

  /// Stopping at any step (in BC, at the end of BC before the switch, right after it, in TraC),
  /// going through the file format and continuing in a new trainer gives the same weights, bit for
  /// bit, as never stopping.
  func testRestoringAtAnyStepGivesTheUninterruptedWeights() throws {
    let values = hyperparameters()
    let uninterrupted = trainToEnd(try trainer(values))
    for stop in [0, 10, 25, 26, 40, 59] {
      let first = try trainer(values)
      while first.completedSteps < stop { first.step() }
      let checkpoint = Checkpoint(
        spec: spec(values), shape: first.shape, state: first.saveState(), log: LogState(),
        trainLog: Data("{}\n".utf8))
      let read = try Checkpoint.decode(checkpoint.encoded(), file: "c.safetensors")
      XCTAssertEqual(read.state, first.saveState(), "step \(stop)")
      XCTAssertEqual(read.state.referenceTerms != nil, stop > 25, "the reference is cached after the switch")
      let second = try trainer(values)
      try second.restore(read.state)
      XCTAssertTrue(trainToEnd(second) == uninterrupted, "stopped at step \(stop): the weights differ")
    }
  }

  /// The same for the ablations and the baselines: a uniform reference, no BC phase, BC-Safe.
  func testRestoringGivesTheUninterruptedWeightsForAblationsAndBaselines() throws {
    var uniform = hyperparameters()
    uniform.reference = .uniform
    var noPretraining = hyperparameters()
    noPretraining.bcSteps = 0
    let cases: [(String, Algorithm, Hyperparameters, [Int])] = [
      ("uniform reference", .trac, uniform, [25, 30]),
      ("bc_steps 0", .trac, noPretraining, [0, 1, 30]),
      ("bc_safe", .bcSafe, hyperparameters(), [25, 30]),
    ]
    for (name, algorithm, values, stops) in cases {
      func make() throws -> Trainer {
        try Trainer(
          dataset: dataset, task: task, algorithm: algorithm, hyperparameters: values, costThreshold: 5,
          seed: 3)
      }
      let uninterrupted = trainToEnd(try make())
      for stop in stops {
        let first = try make()
        while first.completedSteps < stop { first.step() }
        var runSpec = spec(values)
        runSpec.algorithm = algorithm
        let checkpoint = Checkpoint(
          spec: runSpec, shape: first.shape, state: first.saveState(), log: LogState(), trainLog: Data())
        let second = try make()
        try second.restore(try Checkpoint.decode(checkpoint.encoded(), file: "c").state)
        XCTAssertTrue(
          trainToEnd(second) == uninterrupted, "\(name), stopped at step \(stop): the weights differ")
      }
    }
  }

  /// The end-of-BC state of a run starts the TraC phase of another run with the same BC stage
  /// (other alpha, eta, beta, total steps): the result is that run's own.
  func testAnEndOfBCStateStartsAnotherRunOfTheSameStage() throws {
    let a = hyperparameters(alpha: 1, steps: 60)
    let b = hyperparameters(alpha: 0.3, eta: 1, beta: 0.5, steps: 45)
    XCTAssertEqual(spec(a).bcStage, spec(b).bcStage)
    let alone = trainToEnd(try trainer(b))
    let first = try trainer(a)
    while first.completedSteps < a.bcSteps { first.step() }
    let stage = Checkpoint(
      spec: spec(a), shape: first.shape, state: first.saveState(), log: LogState(), trainLog: Data())
    XCTAssertTrue(stage.isEndOfBCStage)
    let second = try trainer(b)
    try second.restore(try Checkpoint.decode(stage.encoded(), file: "bc-stage").state)
    XCTAssertTrue(trainToEnd(second) == alone, "the weights differ from the run trained alone")
    XCTAssertFalse(trainToEnd(first) == alone, "another alpha must train another policy")
  }

  func testAStateOfOtherDataIsRefusedAndChangesNothing() throws {
    let values = hyperparameters()
    let source = try trainer(values)
    for _ in 0..<30 { source.step() }
    var state = source.saveState()
    let target = try trainer(values, seed: 4)
    let before = target.saveState()
    var shorter = state
    shorter.batchPermutation.removeLast()
    XCTAssertThrowsError(try target.restore(shorter)) {
      XCTAssertTrue("\($0)".contains("labelled segments"), "\($0)")
    }
    state.tracUpdates = 2
    XCTAssertThrowsError(try target.restore(state)) {
      XCTAssertTrue("\($0)".contains("TraC updates"), "\($0)")
    }
    XCTAssertEqual(target.saveState(), before)
  }

  func testLogStateAndMetadataRoundTripExactly() throws {
    let values = hyperparameters()
    let trainer = try trainer(values)
    for _ in 0..<7 { trainer.step() }
    var log = LogState()
    log.intervalLoss = 0.1 + 0.2 + 1e-17 * 3
    log.intervalAccuracy = 1.0 / 3.0
    log.intervalSteps = 7
    log.elapsedSeconds = 12.345678901234567
    log.lastBCLoss = .pi
    let checkpoint = Checkpoint(
      spec: spec(values), shape: trainer.shape, state: trainer.saveState(), log: log,
      trainLog: Data("line 1\nline 2\n".utf8))
    let read = try Checkpoint.decode(checkpoint.encoded(), file: "x")
    XCTAssertEqual(read.log, log)
    XCTAssertEqual(read.trainLog, checkpoint.trainLog)
    XCTAssertEqual(read.spec, checkpoint.spec)
    XCTAssertEqual(read.runID, spec(values).runID)
    XCTAssertEqual(read.bcStageID, spec(values).bcStage?.stageID)
    XCTAssertEqual(read.nextPhase, .bc)
  }

  /// Truncated, bit-flipped and foreign files are refused with what is wrong; nothing is read from them.
  func testCorruptTruncatedAndForeignFilesAreRefused() throws {
    let values = hyperparameters()
    let trainer = try trainer(values)
    for _ in 0..<30 { trainer.step() }
    let bytes = Checkpoint(
      spec: spec(values), shape: trainer.shape, state: trainer.saveState(), log: LogState(), trainLog: Data()
    ).encoded()
    func reason(_ data: Data) -> String {
      do {
        _ = try Checkpoint.decode(data, file: "ckpt")
        return "accepted"
      } catch { return error.description }
    }
    XCTAssertEqual(reason(bytes), "accepted")
    XCTAssertTrue(reason(bytes.prefix(bytes.count - 100)).contains("truncated or corrupt"))
    XCTAssertTrue(reason(bytes.prefix(5)).contains("truncated or corrupt"))
    // A bit in the tensors, and a digit of a metadata value (the header stays valid JSON).
    let stepValue = try XCTUnwrap(bytes.range(of: Data("\"trac_updates\":\"".utf8))).upperBound
    for (position, bit) in [(bytes.count - 5, UInt8(0x10)), (bytes.count / 2, 0x01), (stepValue, 0x01)] {
      var flipped = bytes
      flipped[position] ^= bit
      let message = reason(flipped)
      XCTAssertTrue(message.contains("corrupt"), "byte \(position): \(message)")
    }
    let policy = Safetensors.encode(
      tensors: [("layers.0.bias", .init(shape: [2], values: [0, 1]))], metadata: ["format": "trac-policy/1"])
    XCTAssertTrue(reason(policy).contains("format trac-policy/1, expected trac-checkpoint/1"), reason(policy))
    var older = spec(values)
    older.trainerFormatVersion = 1
    let oldFormat = Checkpoint(
      spec: older, shape: trainer.shape, state: trainer.saveState(), log: LogState(), trainLog: Data()
    ).encoded()
    let message = reason(oldFormat)
    XCTAssertTrue(message.contains("trainer format 1; this trainer is format 2"), message)
    XCTAssertTrue(message.contains(older.runID), message)
  }

  func testAtomicWriteReplacesWholeAndLeavesNoTemporaryFile() throws {
    let directory = temporaryDirectory("atomic")
    let url = directory.appendingPathComponent("f.bin")
    try AtomicFile.write(Data("old".utf8), to: url)
    try AtomicFile.write(Data(repeating: 7, count: 100_000), to: url)
    XCTAssertEqual(try Data(contentsOf: url), Data(repeating: 7, count: 100_000))
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["f.bin"])
    // A leftover of a killed writer is cleared.
    try Data("half".utf8).write(to: directory.appendingPathComponent(".f.bin.tmp-123"))
    AtomicFile.removeTemporaryFiles(of: "f.bin", in: directory)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["f.bin"])
    let lock = try DirectoryLock(directory)
    XCTAssertNotNil(lock)
    XCTAssertNil(
      try DirectoryLock(directory), "a second lock in this process is refused (flock per open file)")
  }
}
