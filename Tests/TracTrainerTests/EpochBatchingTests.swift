import Foundation
import TracCore
import TracTrainer
import XCTest

/// `batching: epochs` (docs/ALGORITHM.md section 5): the official TraC code's loader, two workers each
/// walking a permutation in batches whose last holds what is left; deterministic, resumable, its own run.
final class EpochBatchingTests: XCTestCase {
  let task = try! TaskInfo.named("OfflineBallCircle-v0")
  let (dataset, _) = learnableDataset(episodes: 30)

  func values(steps: Int = 60) -> Hyperparameters {
    var values = Hyperparameters()
    values.batchSize = 8
    values.bcSteps = 25
    values.steps = steps
    values.lr = 1e-3
    return values
  }

  func trainer(_ batching: Batching, steps: Int = 60) throws -> Trainer {
    try Trainer(
      dataset: dataset, task: task, algorithm: .trac, hyperparameters: values(steps: steps), costThreshold: 5,
      seed: 3, batching: batching)
  }

  func trainToEnd(_ trainer: Trainer) -> [Float] {
    while trainer.completedSteps < trainer.totalSteps { trainer.step() }
    return trainer.network.parameters.values
  }

  /// A pass: two permutations (the official loader's two workers), each cut into batches whose last holds
  /// what is left, interleaved batch by batch; the next pass draws two new ones.
  func testAPassInterleavesTwoPermutationsEachEndingWithWhatIsLeft() throws {
    let trainer = try trainer(.epochs, steps: 200)
    let count = trainer.labels.count
    XCTAssertNotEqual(count % 8, 0, "the test needs a permutation that does not divide into full batches")
    let perWorker = (count + 7) / 8
    var batches: [[Int32]] = []
    for _ in 0..<(4 * perWorker) {
      trainer.step()
      batches.append(trainer.lastBatch)
    }
    let everySegment = Set((0..<Int32(count)).map { $0 })
    for pass in 0..<2 {
      let passBatches = Array(batches[(pass * 2 * perWorker)..<((pass + 1) * 2 * perWorker)])
      for worker in 0..<2 {
        let mine = stride(from: worker, to: passBatches.count, by: 2).map { passBatches[$0] }
        XCTAssertEqual(
          mine.map(\.count), Array(repeating: 8, count: perWorker - 1) + [count % 8], "pass \(pass)")
        XCTAssertEqual(mine.flatMap { $0 }.count, count)
        XCTAssertEqual(Set(mine.flatMap { $0 }), everySegment, "one permutation: every segment once")
      }
    }
    XCTAssertNotEqual(batches[0], batches[1], "the two workers' permutations differ")
    XCTAssertNotEqual(batches[0], batches[2 * perWorker], "a new pass draws new permutations")
  }

  func testEpochBatchingIsDeterministicResumableAndNotTheFullBatchRun() throws {
    let uninterrupted = trainToEnd(try trainer(.epochs))
    XCTAssertTrue(trainToEnd(try trainer(.epochs)) == uninterrupted, "the same run twice: the same weights")
    XCTAssertFalse(trainToEnd(try trainer(.full)) == uninterrupted, "epochs and full batching differ")
    var spec = RunSpec(
      task: task.dsrlID, datasetSHA256: String(repeating: "0", count: 64), algorithm: .trac,
      hyperparameters: values(), costThreshold: 5, seed: 3)
    spec.batching = .epochs
    for stop in [1, 7, 25, 26, 41] {
      let first = try trainer(.epochs)
      while first.completedSteps < stop { first.step() }
      let checkpoint = Checkpoint(
        spec: spec, shape: first.shape, state: first.saveState(), log: LogState(), trainLog: Data("{}\n".utf8)
      )
      let read = try Checkpoint.decode(checkpoint.encoded(), file: "c.safetensors")
      let second = try trainer(.epochs)
      try second.restore(read.state)
      XCTAssertTrue(trainToEnd(second) == uninterrupted, "stopped at step \(stop): the weights differ")
    }
  }

  func testBatchingIsPartOfTheRunAndStageIdsOnlyWhenNotFull() throws {
    let full = RunSpec(
      task: task.dsrlID, datasetSHA256: String(repeating: "0", count: 64), algorithm: .trac,
      hyperparameters: values(), costThreshold: 5, seed: 3)
    XCTAssertFalse(String(decoding: full.canonicalJSON, as: UTF8.self).contains("batching"))
    var epochs = full
    epochs.batching = .epochs
    XCTAssertTrue(String(decoding: epochs.canonicalJSON, as: UTF8.self).contains(#""batching":"epochs""#))
    XCTAssertNotEqual(epochs.runID, full.runID)
    XCTAssertNotEqual(epochs.bcStage?.stageID, full.bcStage?.stageID, "the BC phase is batched differently")
    XCTAssertEqual(epochs.stageUnit?.batching, .epochs)
    let decoded = try JSONCodec.decoder.decode(RunSpec.self, from: epochs.canonicalJSON)
    XCTAssertEqual(decoded, epochs)
  }

  func testTheGridKeySetsEveryRunAndKeepsDefaultSweepIds() throws {
    let base = """
      {"name": "k", "task": "OfflineBallCircle-v0", "algorithm": ["trac", "bc_all"], "cost_thresholds": [10],
       "seeds": [0]
      """
    let plain = try GridFile(parsing: Data((base + "}").utf8))
    let full = try GridFile(parsing: Data((base + #", "batching": "full"}"#).utf8))
    let epochs = try GridFile(parsing: Data((base + #", "batching": "epochs"}"#).utf8))
    XCTAssertEqual(plain.sweepID, full.sweepID, "the default is left out of the canonical form")
    XCTAssertNotEqual(plain.sweepID, epochs.sweepID)
    XCTAssertTrue(epochs.runs.allSatisfy { $0.spec(datasetSHA256: "ab").batching == .epochs })
    XCTAssertTrue(plain.runs.allSatisfy { $0.spec(datasetSHA256: "ab").batching == .full })
    XCTAssertThrowsError(try GridFile(parsing: Data((base + #", "batching": "epoch"}"#).utf8))) { error in
      XCTAssertTrue("\(error)".contains("$.batching") && "\(error)".contains("full, epochs"), "\(error)")
    }
  }
}
