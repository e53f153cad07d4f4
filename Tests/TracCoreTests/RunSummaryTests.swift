import Foundation
import TracCore
import XCTest

/// `RunSummary`: what the coordinator keeps of a run.json, decoded once when the result arrives.
final class RunSummaryTests: XCTestCase {
  func testReadsTheFieldsOfARunRecord() throws {
    let json = #"""
      {"format": "trac-run/1", "run_id": "00000000000000aa", "bc_stage": "11", "resumed_from_run": "22",
       "timing": {"total_seconds": 12.5, "bc_seconds": 3},
       "evaluation": {"reward_return": {"mean": 100, "std": 1}, "cost_return": {"mean": 7.5, "std": 2},
         "by_threshold": [
           {"cost_threshold": 20, "safe": true, "normalized_reward": {"mean": 0.5, "std": 0.25, "per_episode": []},
            "normalized_cost": {"mean": 0.75, "std": 0.125, "per_episode": []}},
           {"cost_threshold": 40, "safe": false, "normalized_reward": {"mean": 9, "std": 9},
            "normalized_cost": {"mean": 9, "std": 9}}]}}
      """#
    let summary = try XCTUnwrap(RunSummary(runJSON: Data(json.utf8)))
    var expected = RunSummary()
    expected.rewardMean = 0.5
    expected.rewardStd = 0.25
    expected.costMean = 0.75
    expected.costStd = 0.125
    expected.safe = true
    expected.rewardReturnMean = 100
    expected.costReturnMean = 7.5
    expected.totalSeconds = 12.5
    expected.bcSeconds = 3
    expected.bcStage = "11"
    expected.resumedFromRun = "22"
    XCTAssertEqual(summary, expected)
  }

  /// Each field on its own: a missing one, or one of another type, is nil and leaves the others.
  func testAFieldOfAnotherTypeIsNil() throws {
    let json = #"""
      {"run_id": 5, "bc_stage": 3, "timing": {"total_seconds": "nan", "bc_seconds": 4},
       "evaluation": {"by_threshold": [{"safe": "yes", "normalized_reward": {"mean": "nan", "std": 1}}]}}
      """#
    let summary = try XCTUnwrap(RunSummary(runJSON: Data(json.utf8)))
    XCTAssertNil(summary.bcStage)
    XCTAssertNil(summary.totalSeconds)
    XCTAssertEqual(summary.bcSeconds, 4)
    XCTAssertNil(summary.safe)
    XCTAssertNil(summary.rewardMean)
    XCTAssertEqual(summary.rewardStd, 1)
    XCTAssertNil(summary.costMean)
    XCTAssertEqual(RunSummary(runJSON: Data("{}".utf8)), RunSummary())
    XCTAssertNil(RunSummary(runJSON: Data("[1]".utf8)))
    XCTAssertNil(RunSummary(runJSON: Data("not json".utf8)))
  }
}
