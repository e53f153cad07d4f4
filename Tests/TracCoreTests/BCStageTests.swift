import Foundation
import TracCore
import XCTest

final class BCStageTests: XCTestCase {
  func spec(_ change: (inout RunSpec) -> Void = { _ in }) -> RunSpec {
    var spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: String(repeating: "a", count: 64), algorithm: .trac,
      hyperparameters: Hyperparameters(), costThreshold: 20, seed: 0)
    change(&spec)
    return spec
  }

  /// What TraC reads after the switch, and what is not a training input, leaves the stage alone.
  func testTraCPhaseInputsDoNotChangeTheStage() throws {
    let base = try XCTUnwrap(spec().bcStage?.stageID)
    XCTAssertEqual(base.count, 16)
    let same: [(String, (inout RunSpec) -> Void)] = [
      ("alpha", { $0.hyperparameters.alpha = 0.05 }),
      ("eta", { $0.hyperparameters.eta = 1.0 }),
      ("beta", { $0.hyperparameters.beta = 0.5 }),
      ("gamma", { $0.hyperparameters.gamma = 0.9 }),
      ("reference", { $0.hyperparameters.reference = .uniform }),
      ("steps", { $0.hyperparameters.steps = 60_000 }),
      ("eval episodes", { $0.evalEpisodes = 5 }),
      ("eval seed", { $0.evalSeed = 3 }),
    ]
    for (name, change) in same {
      let changed = spec(change)
      XCTAssertNotEqual(changed.runID, spec().runID, name)
      XCTAssertEqual(changed.bcStage?.stageID, base, name)
    }
  }

  /// Every input of the BC phase makes another stage.
  func testBCPhaseInputsChangeTheStage() throws {
    let base = try XCTUnwrap(spec().bcStage?.stageID)
    let different: [(String, (inout RunSpec) -> Void)] = [
      ("seed", { $0.seed = 10 }),
      ("x", { $0.hyperparameters.x = 0.25 }),
      ("y", { $0.hyperparameters.y = 0.25 }),
      ("batch size", { $0.hyperparameters.batchSize = 64 }),
      ("lr", { $0.hyperparameters.lr = 3e-4 }),
      ("bc steps", { $0.hyperparameters.bcSteps = 20_000 }),
      ("cost threshold", { $0.costThreshold = 40 }),
      ("dataset", { $0.datasetSHA256 = String(repeating: "b", count: 64) }),
      ("task", { $0.task = "OfflineCarCircle-v0" }),
      ("seg ratio", { $0.hyperparameters.segRatio = 0.75 }),
      ("segments", { $0.hyperparameters.segments = .desirable }),
      ("trainer format", { $0.trainerFormatVersion += 1 }),
    ]
    var ids: Set<String> = [base]
    for (name, change) in different {
      let id = try XCTUnwrap(spec(change).bcStage?.stageID, name)
      XCTAssertTrue(ids.insert(id).inserted, "\(name) gives a stage id already seen")
    }
  }

  func testRunsWithoutABCPhaseHaveNoStage() {
    XCTAssertNil(spec { $0.hyperparameters.bcSteps = 0 }.bcStage)
    XCTAssertNil(spec { $0.algorithm = .bcAll }.bcStage)
    XCTAssertNil(spec { $0.algorithm = .bcSafe }.bcStage)
    XCTAssertNotEqual(spec().bcStage?.stageID, spec().runID, "stage ids and run ids are kept apart")
  }
}
