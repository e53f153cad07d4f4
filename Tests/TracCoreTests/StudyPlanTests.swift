import Foundation
import TracCore
import XCTest

/// `trac-sweep plan`: a run two files share is counted once, a BC stage that two or more new runs start
/// from is trained once (as the coordinator's scheduler does), and hours follow each task's shapes.
final class StudyPlanTests: XCTestCase {
  func grid(_ name: String, task: String = "OfflineBallCircle-v0", vary: String, steps: Int = 1000) throws
    -> GridFile
  {
    let text = """
      {"name": "\(name)", "task": "\(task)", "algorithm": "trac",
       "base": {"bc_steps": 400, "steps": \(steps)}, "vary": \(vary), "design": "one_at_a_time",
       "cost_thresholds": [10, 20], "seeds": [0, 1], "eval": {"episodes": 20, "seed": 0}}
      """
    return try GridFile(parsing: Data(text.utf8))
  }

  func testRunsSharedBetweenFilesAndBCStagesAreCountedOnce() throws {
    // alpha is TraC-only: its 3 values at each (threshold, seed) share one BC stage (4 units).
    let alpha = try grid("alpha", vary: #"{"alpha": [0.1, 0.2, 0.5]}"#)
    // x changes the labelling, so each x has its own stage; x = 0.5 at alpha 0.2 is alpha's base run.
    let x = try grid("x", vary: #"{"x": [0.25, 0.5]}"#)
    let plan = StudyPlan(grids: [alpha, x])
    let first = plan.lines[0]
    XCTAssertEqual([first.runs, first.newRuns, first.stageUnits], [12, 12, 4])
    XCTAssertEqual(first.updates, 4 * 400 + 12 * 600, "each unit's BC once, then each run's TraC")
    let second = plan.lines[1]
    XCTAssertEqual([second.runs, second.newRuns, second.stageUnits], [8, 4, 0], "x = 0.5 runs are alpha's")
    XCTAssertEqual(second.updates, 4 * 1000, "a run alone with its stage trains BC itself")
    XCTAssertEqual(plan.total.newRuns, 16)
    XCTAssertEqual(plan.total.updates, first.updates + second.updates)
    XCTAssertGreaterThan(second.cpuHoursAlone, second.cpuHours, "alone, x = 0.5 is trained too")
    XCTAssertEqual(StudyPlan(grids: [x]).total.updates, 8 * 1000)
  }

  func testALaterFileReusesAStageUnitAnEarlierFileMade() throws {
    let first = try grid("a", vary: #"{"alpha": [0.1, 0.2]}"#)
    let second = try grid("b", vary: #"{"eta": [0.5]}"#)
    let plan = StudyPlan(grids: [first, second])
    // b's eta = 0.5 runs (one per threshold and seed) start from a's units: TraC steps only.
    XCTAssertEqual([plan.lines[1].newRuns, plan.lines[1].stageUnits], [4, 0])
    XCTAssertEqual(plan.lines[1].updates, 4 * 600)
  }

  func testHoursFollowSegmentLengthObservationWidthAndBatch() throws {
    let cost = TrainerCost.measured
    let ball = try XCTUnwrap(TaskInfo.all.first { $0.dsrlID == "OfflineBallCircle-v0" })
    let ant = try XCTUnwrap(TaskInfo.all.first { $0.dsrlID == "OfflineAntCircle-v0" })
    let drive = try XCTUnwrap(TaskInfo.all.first { $0.dsrlID == "OfflineMetadrive-mediummean-v0" })
    var values = Hyperparameters()
    XCTAssertEqual(TrainerCost.segmentLength(ball, values), 200)
    XCTAssertGreaterThan(cost.secondsPerUpdate(ant, values), 2 * cost.secondsPerUpdate(ball, values))
    var half = values
    half.batchSize = 48
    XCTAssertEqual(
      cost.secondsPerUpdate(ball, half), cost.secondsPerUpdate(ball, values) / 2, accuracy: 1e-12)
    values.segRatio = 0.25
    XCTAssertEqual(TrainerCost.segmentLength(drive, values), 250)
    // A MetaDrive grid starts from MetaDrive's defaults (seg_ratio 0.25): its updates are priced at L 250.
    let plan = StudyPlan(grids: [try grid("m", task: "OfflineMetadrive-mediummean-v0", vary: "{}")]).total
    XCTAssertEqual(plan.runs, 4)
    XCTAssertEqual(
      plan.cpuHours * 3600 / Double(plan.updates),
      250 * (cost.secondsPerStep + cost.secondsPerStepPerObservation * 259), accuracy: 1e-12)
  }
}
