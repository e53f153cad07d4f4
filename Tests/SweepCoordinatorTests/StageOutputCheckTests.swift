import Foundation
import SweepCoordinator
import TracCore
import XCTest

/// A stage unit's result is recorded only with its end-of-BC checkpoint: the runs that start from it
/// would otherwise train from something else.
final class StageOutputCheckTests: XCTestCase {
  var unit: RunSpec {
    var values = Hyperparameters()
    values.bcSteps = 300
    values.steps = 1000
    let run = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: String(repeating: "ab", count: 32), algorithm: .trac,
      hyperparameters: values, costThreshold: 20, seed: 0, evalEpisodes: 0)
    return run.stageUnit!
  }

  /// A safetensors file whose header carries `metadata` (no tensors needed for the check).
  func checkpoint(_ metadata: [String: String]) -> Data {
    var header = try! JSONSerialization.data(withJSONObject: ["__metadata__": metadata])
    header += Data(repeating: 0x20, count: (8 - header.count % 8) % 8)
    var length = UInt64(header.count).littleEndian
    return Data(bytes: &length, count: 8) + header
  }

  func files(_ data: Data?) -> [(name: ArtifactName, data: Data)] {
    var files: [(name: ArtifactName, data: Data)] = [
      (ArtifactName(stringLiteral: "run.json"), Data("{}".utf8))
    ]
    if let data { files.append((ArtifactName(stringLiteral: "bc-stage.safetensors"), data)) }
    return files
  }

  func testTheUnitsOwnEndOfBCCheckpointIsAcceptedAndKeptByItsHash() throws {
    let run = RunID(stringLiteral: unit.runID)
    XCTAssertTrue(unit.isStageUnit)
    let good = checkpoint([
      "format": CheckpointFormat.current, "run_id": unit.runID, "step": "300",
      "bc_stage": unit.bcStage!.stageID,
    ])
    let check = StageOutputCheck(files(good))
    XCTAssertNil(check.problem(of: run, spec: unit))
    XCTAssertEqual(
      check.file?.reference, RunCheckpoint(sha256: SHA256Digest(of: good), size: good.count, step: 300))
    XCTAssertEqual(
      RunSummary(runJSON: Data(#"{"timing": {"bc_seconds": 12.5}}"#.utf8))?.bcSeconds, 12.5)
  }

  func testAnythingElseIsRefusedWithWhatItSays() throws {
    let run = RunID(stringLiteral: unit.runID)
    let stage = unit.bcStage!.stageID
    XCTAssertEqual(
      StageOutputCheck(files(nil)).problem(of: run, spec: unit),
      "it carries no readable bc-stage.safetensors, which a BC stage unit's result must")
    XCTAssertNotNil(StageOutputCheck(files(Data("not safetensors".utf8))).problem(of: run, spec: unit))
    let wrong: [(String, [String: String])] = [
      (
        "another stage",
        [
          "format": CheckpointFormat.current, "run_id": unit.runID, "step": "300",
          "bc_stage": "0000000000000000",
        ]
      ),
      (
        "another step",
        ["format": CheckpointFormat.current, "run_id": unit.runID, "step": "200", "bc_stage": stage]
      ),
      (
        "another run",
        ["format": CheckpointFormat.current, "run_id": "ffffffffffffffff", "step": "300", "bc_stage": stage]
      ),
      (
        "another format",
        ["format": "trac-checkpoint/0", "run_id": unit.runID, "step": "300", "bc_stage": stage]
      ),
      ("no stage", ["format": CheckpointFormat.current, "run_id": unit.runID, "step": "300"]),
    ]
    for (name, metadata) in wrong {
      let problem = try XCTUnwrap(
        StageOutputCheck(files(checkpoint(metadata))).problem(of: run, spec: unit), name)
      XCTAssertTrue(problem.contains("of BC stage \(stage)"), "\(name): \(problem)")
    }
  }
}
