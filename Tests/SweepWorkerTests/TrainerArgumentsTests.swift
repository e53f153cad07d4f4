import Foundation
import SweepWorker
import TracCore
import XCTest

final class TrainerArgumentsTests: XCTestCase {
  func arguments(_ change: (inout Hyperparameters) -> Void) -> [String] {
    var values = Hyperparameters()
    change(&values)
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: "ab", algorithm: .trac, hyperparameters: values,
      costThreshold: 20, seed: 0)
    return TrainerArguments.make(
      spec: spec, dataset: URL(fileURLWithPath: "/data/d.hdf5"),
      outputDirectory: URL(fileURLWithPath: "/out"),
      evaluate: true)
  }

  /// The trainer must train what the run id says: a non-default warm-up or TraC scale is passed on;
  /// at their defaults the options are left out, so every older run's command line is unchanged.
  func testWarmUpAndTraCScaleArePassedOnlyWhenNotDefault() {
    let defaults = arguments { _ in }
    XCTAssertFalse(defaults.contains("--warmup-steps"))
    XCTAssertFalse(defaults.contains("--trac-lr-scale"))

    let changed = arguments {
      $0.warmupSteps = 200
      $0.tracLRScale = 0.5
    }
    XCTAssertEqual(changed.firstIndex(of: "--warmup-steps").map { changed[$0 + 1] }, "200")
    XCTAssertEqual(changed.firstIndex(of: "--trac-lr-scale").map { changed[$0 + 1] }, "0.5")
    XCTAssertEqual(arguments { $0.warmupSteps = 0 }.firstIndex(of: "--warmup-steps").map { _ in true }, true)
  }
}
