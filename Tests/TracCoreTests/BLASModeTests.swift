import Foundation
import TracCore
import XCTest

/// The `blas` setting (docs/PERFORMANCE.md): a grid key and part of the run id, left out at its default.
final class BLASModeTests: XCTestCase {
  let spec = RunSpec(
    task: "OfflineBallCircle-v0", datasetSHA256: String(repeating: "ab", count: 32), algorithm: .trac,
    hyperparameters: Hyperparameters(), costThreshold: 20, seed: 0)

  func testTheDefaultModeLeavesRunAndStageIdsUnchanged() throws {
    let json = String(decoding: try JSONCodec.canonicalEncoder.encode(spec), as: UTF8.self)
    XCTAssertFalse(json.contains("blas"), json)
    let stage = String(decoding: try JSONCodec.canonicalEncoder.encode(spec.bcStage!), as: UTF8.self)
    XCTAssertFalse(stage.contains("blas"), stage)
    XCTAssertEqual(try JSONCodec.decoder.decode(RunSpec.self, from: Data(json.utf8)).blas, .fastest)
  }

  func testAReproducibleRunIsAnotherRunWithAnotherStage() throws {
    var reproducible = spec
    reproducible.blas = .reproducible
    XCTAssertNotEqual(reproducible.runID, spec.runID)
    XCTAssertNotEqual(reproducible.bcStage?.stageID, spec.bcStage?.stageID)
    let json = try JSONCodec.canonicalEncoder.encode(reproducible)
    XCTAssertTrue(String(decoding: json, as: UTF8.self).contains(#""blas":"reproducible""#))
    XCTAssertEqual(try JSONCodec.decoder.decode(RunSpec.self, from: json), reproducible)
    // Its stage unit computes with the same kernel.
    XCTAssertEqual(reproducible.stageUnit?.blas, .reproducible)
    XCTAssertEqual(reproducible.stageUnit?.bcStage?.stageID, reproducible.bcStage?.stageID)
  }

  func testTheGridKeySetsEveryRunAndKeepsDefaultSweepIds() throws {
    let base = """
      {"name": "k", "task": "OfflineBallCircle-v0", "algorithm": ["trac", "bc_all"], "cost_thresholds": [10],
       "seeds": [0]
      """
    let plain = try GridFile(parsing: Data((base + "}").utf8))
    let fastest = try GridFile(parsing: Data((base + #", "blas": "fastest"}"#).utf8))
    let reproducible = try GridFile(parsing: Data((base + #", "blas": "reproducible"}"#).utf8))
    XCTAssertEqual(plain.sweepID, fastest.sweepID, "the default is left out of the canonical form")
    XCTAssertNotEqual(plain.sweepID, reproducible.sweepID)
    XCTAssertTrue(reproducible.runs.allSatisfy { $0.spec(datasetSHA256: "ab").blas == .reproducible })
    XCTAssertTrue(plain.runs.allSatisfy { $0.spec(datasetSHA256: "ab").blas == .fastest })
    XCTAssertThrowsError(try GridFile(parsing: Data((base + #", "blas": "fast"}"#).utf8))) { error in
      XCTAssertTrue("\(error)".contains("unknown BLAS mode \"fast\""), "\(error)")
    }
  }
}
