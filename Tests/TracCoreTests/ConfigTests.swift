import TracCore
import XCTest

final class ConfigTests: XCTestCase {
  func testInvalidHyperparametersNameTheOption() {
    func option(_ change: (inout Hyperparameters) -> Void, _ algorithm: Algorithm = .trac) -> String? {
      var values = Hyperparameters()
      change(&values)
      do {
        try values.validate(algorithm: algorithm)
        return nil
      } catch {
        if case .invalidHyperparameter(let option, _) = error { return option }
        return "other"
      }
    }
    XCTAssertNil(option { _ in })
    XCTAssertEqual(option { $0.x = 1.2 }, "--x")
    XCTAssertEqual(option { $0.y = -0.1 }, "--y")
    XCTAssertEqual(
      option {
        $0.x = 0.7; $0.y = 0.5
      }, "--x/--y")
    XCTAssertEqual(option { $0.alpha = 0 }, "--alpha")
    XCTAssertEqual(
      option {
        $0.steps = 10; $0.bcSteps = 20
      }, "--steps")
    XCTAssertNil(
      option(
        {
          $0.steps = 10; $0.bcSteps = 20
        }, .bcAll))
    XCTAssertEqual(option { $0.gamma = 1.5 }, "--gamma")
    XCTAssertEqual(option { $0.batchSize = 0 }, "--batch-size")
    XCTAssertEqual(option { $0.lr = .nan }, "--lr")
  }

  func testUnknownTaskListsTheSupportedOnes() {
    XCTAssertEqual(try TaskInfo.named("SafetyBallCircle-v0").dsrlID, "OfflineBallCircle-v0")
    XCTAssertThrowsError(try TaskInfo.named("OfflineBallSquare-v0")) { error in
      XCTAssertTrue("\(error)".contains("OfflineAntRun-v0"))
    }
  }

  func testNormalization() throws {
    let task = try TaskInfo.named("OfflineBallCircle-v0")
    XCTAssertEqual(task.normalizedReward(881.46337890625), 1, accuracy: 1e-12)
    XCTAssertEqual(task.normalizedReward(0.38312244415283203), 0, accuracy: 1e-12)
    XCTAssertEqual(normalizedCost(30, threshold: 20), 1.5)
    XCTAssertEqual(normalizedCost(0, threshold: 0), 1)  // (0 + 1) / (0 + 1)
    XCTAssertEqual(normalizedCost(3, threshold: 0), 4)
  }

  func testRunIDIsAContentHash() {
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: "ab", algorithm: .trac, hyperparameters: Hyperparameters(),
      costThreshold: 20, seed: 0)
    var other = spec
    XCTAssertEqual(spec.runID, other.runID)
    XCTAssertEqual(spec.runID.count, 16)
    other.hyperparameters.eta = 0.5
    XCTAssertNotEqual(spec.runID, other.runID)
  }

  func testGeneratorIsReproducibleAndStreamsDiffer() {
    var first = SeededGenerator(seed: 42, stream: "a")
    var again = SeededGenerator(seed: 42, stream: "a")
    var other = SeededGenerator(seed: 42, stream: "b")
    let sequence = (0..<5).map { _ in first.next() }
    XCTAssertEqual(sequence, (0..<5).map { _ in again.next() })
    XCTAssertNotEqual(sequence, (0..<5).map { _ in other.next() })
    var bounded = SeededGenerator(seed: 1)
    XCTAssertTrue((0..<1000).allSatisfy { _ in (0..<7).contains(bounded.uniformInt(below: 7)) })
  }
}
