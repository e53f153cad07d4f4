import Foundation
import SweepWorker
import TracCore
import XCTest

final class TrainerArgumentsTests: XCTestCase {
  func spec(_ change: (inout RunSpec) -> Void = { _ in }) -> RunSpec {
    var spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: "ab", algorithm: .trac, hyperparameters: Hyperparameters(),
      costThreshold: 20, seed: 0)
    change(&spec)
    return spec
  }

  func arguments(_ spec: RunSpec, evaluate: Bool = true) -> [String] {
    TrainerArguments.make(
      spec: spec, specFile: URL(fileURLWithPath: "/out/spec.json"),
      dataset: URL(fileURLWithPath: "/data/d.hdf5"),
      outputDirectory: URL(fileURLWithPath: "/out"), evaluate: evaluate)
  }

  /// The trainer gets the run as its spec file, whatever the run's inputs are: no input travels as
  /// a printed number.
  func testTheRunTravelsAsItsSpecFile() {
    let changed = spec {
      $0.hyperparameters.warmupSteps = 200
      $0.hyperparameters.tracLRScale = 0.5
      $0.blas = .reproducible
    }
    for spec in [spec(), changed] {
      XCTAssertEqual(
        arguments(spec),
        ["train", "--spec", "/out/spec.json", "--dataset", "/data/d.hdf5", "--evaluate", "--out", "/out"])
    }
    // A run without evaluation episodes is not evaluated, whatever the worker's setting.
    XCTAssertFalse(arguments(spec { $0.evalEpisodes = 0 }).contains("--evaluate"))
    XCTAssertFalse(arguments(spec(), evaluate: false).contains("--evaluate"))
  }

  /// The spec file is the canonical JSON the run id hashes, and reads back as the same run.
  func testTheSpecFileIsTheCanonicalJSON() throws {
    let spec = spec { $0.hyperparameters.x = 0.1 + 0.2 }
    XCTAssertEqual(RunSpecFile.encode(spec), spec.canonicalJSON)
    XCTAssertEqual(RunSpec.id(ofCanonicalJSON: RunSpecFile.encode(spec)), spec.runID)
    XCTAssertEqual(try RunSpecFile.decode(RunSpecFile.encode(spec), file: "spec.json"), spec)
  }
}
