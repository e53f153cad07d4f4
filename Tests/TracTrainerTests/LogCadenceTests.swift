import TracTrainer
import XCTest

/// train.jsonl's default cadence: enough lines for a curve in a short run, evenly spaced through the end of
/// BC, never more often than a paper-size run needs.
final class LogCadenceTests: XCTestCase {
  func testTheDefaultGivesAboutAHundredEvenlySpacedLinesAndAtMostOneEvery1000Steps() {
    XCTAssertEqual(TrainingRun.defaultLogEvery(steps: 100_000, bcSteps: 30_000), 1000, "the paper's size")
    XCTAssertEqual(TrainingRun.defaultLogEvery(steps: 1500, bcSteps: 800), 10, "the demo: 150 lines")
    XCTAssertEqual(TrainingRun.defaultLogEvery(steps: 1500, bcSteps: 500), 10)
    XCTAssertEqual(TrainingRun.defaultLogEvery(steps: 900, bcSteps: 300), 6)
    XCTAssertEqual(TrainingRun.defaultLogEvery(steps: 1000, bcSteps: 0), 10, "no BC phase")
    XCTAssertEqual(TrainingRun.defaultLogEvery(steps: 50, bcSteps: 20), 1)
    for (steps, bcSteps) in [(1500, 800), (1000, 333), (100_000, 30_000), (7, 3)] {
      let every = TrainingRun.defaultLogEvery(steps: steps, bcSteps: bcSteps)
      XCTAssertEqual(steps % every, 0)
      XCTAssertEqual(bcSteps % every, 0)
    }
  }
}
