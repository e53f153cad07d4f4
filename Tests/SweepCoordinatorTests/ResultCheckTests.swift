import Foundation
import SweepCoordinator
import TracCore
import TracSweepTesting
import XCTest

/// Nothing is recorded on trust: what a `succeeded` result must carry.
final class ResultCheckTests: XCTestCase {
  let run: RunID = "0123456789abcdef"
  var spec: RunSpec {
    RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: String(repeating: "ab", count: 32), algorithm: .trac,
      hyperparameters: Hyperparameters(), costThreshold: 20, seed: 0, evalEpisodes: 2)
  }

  func runJSON(_ runID: String = "0123456789abcdef", reward: String = "0.4", evaluation: Bool = true) -> Data
  {
    let evaluated =
      #", "evaluation": {"by_threshold": [{"normalized_reward": {"mean": \#(reward)}, "normalized_cost": {"mean": 0.5}}]}"#
    return Data(#"{"run_id": "\#(runID)"\#(evaluation ? evaluated : "")}"#.utf8)
  }

  func files(_ runJSON: Data?, policy: Data? = FakeTrainer.policyFile(observationDim: 8, actionDim: 2))
    -> [(name: ArtifactName, data: Data)]
  {
    var files: [(name: ArtifactName, data: Data)] = []
    if let runJSON { files.append(("run.json", runJSON)) }
    if let policy { files.append(("policy.safetensors", policy)) }
    return files
  }

  func testAResultOfItsRunWithAFiniteEvaluationAndTheTasksShapesIsRecorded() {
    XCTAssertNil(ResultCheck.problem(with: files(runJSON()), of: run, spec: spec))
    // A cost of exactly 0 is written `0`: a number, not a boolean.
    XCTAssertNil(ResultCheck.problem(with: files(runJSON(reward: "0")), of: run, spec: spec))
    XCTAssertNil(ResultCheck.problem(with: files(runJSON(reward: "1")), of: run, spec: spec))
  }

  func testEveryMissingOrWrongPieceIsNamed() {
    let cases: [([(name: ArtifactName, data: Data)], String)] = [
      ([], "no run.json"),
      (files(Data("[1]".utf8)), "not a JSON object"),
      (files(Data(#"{"seed": 1}"#.utf8)), "no run_id"),
      (files(runJSON("fedcba9876543210")), "not of run 0123456789abcdef"),
      (files(runJSON(evaluation: false)), "no evaluation"),
      (files(runJSON(reward: "null")), "no finite normalized_reward.mean"),
      (files(runJSON(reward: #""NaN""#)), "no finite normalized_reward.mean"),
      (files(runJSON(reward: "true")), "no finite normalized_reward.mean"),
      (
        files(Data(#"{"run_id": "0123456789abcdef", "evaluation": {"by_threshold": []}}"#.utf8)),
        "no by_threshold"
      ),
      (files(runJSON(), policy: nil), "no policy.safetensors"),
      (files(runJSON(), policy: FakeTrainer.policyFile(observationDim: 8, actionDim: 3)), "shape"),
      (files(runJSON(), policy: FakeTrainer.policyFile(observationDim: 34, actionDim: 8)), "shape"),
      (
        files(runJSON(), policy: FakeTrainer.policyFile(observationDim: 8, actionDim: 2).prefix(5000)),
        "outside the file"
      ),
      (files(runJSON(), policy: Data("fake policy".utf8)), "header"),
    ]
    for (files, expected) in cases {
      let problem = ResultCheck.problem(with: files, of: run, spec: spec)
      XCTAssertTrue(problem?.contains(expected) ?? false, "\(expected): \(problem ?? "accepted")")
    }
  }

  func testARunThatAsksForNoEvaluationNeedsNone() {
    var trainOnly = spec
    trainOnly.evalEpisodes = 0
    XCTAssertNil(ResultCheck.problem(with: files(runJSON(evaluation: false)), of: run, spec: trainOnly))
    // An evaluation that is there is still checked.
    XCTAssertNotNil(ResultCheck.problem(with: files(runJSON(reward: "null")), of: run, spec: trainOnly))
  }
}
