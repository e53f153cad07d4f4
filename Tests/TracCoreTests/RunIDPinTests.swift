import Foundation
import TracCore
import XCTest

/// Run ids and stage ids are content hashes of the canonical JSON of a spec: results are cached by
/// them, so they must never change by accident (a refactoring of the Codable code, a new key, the
/// way a number is printed). The ids and JSON below were computed at commit 8c8c2e6.
final class RunIDPinTests: XCTestCase {
  static let sha = String(repeating: "ab", count: 32)

  static var base: RunSpec {
    RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: sha, algorithm: .trac, hyperparameters: Hyperparameters(),
      costThreshold: 20, seed: 0)
  }

  /// Every optional key present: a non-default BLAS mode, segments, warm-up and TraC lr scale, a
  /// Double that prints with 17 digits and a seed above Int64.max.
  static var reproducible: RunSpec {
    var spec = base
    spec.blas = .reproducible
    spec.hyperparameters.x = 0.1 + 0.2
    spec.hyperparameters.lr = 3e-4
    spec.hyperparameters.segments = .desirable
    spec.hyperparameters.warmupSteps = 500
    spec.hyperparameters.tracLRScale = 0.25
    spec.hyperparameters.bcSteps = 800
    spec.hyperparameters.steps = 1500
    spec.costThreshold = 12.5
    spec.seed = 9_223_372_036_854_775_813
    spec.evalEpisodes = 5
    spec.evalSeed = 7
    return spec
  }

  static var bcAll: RunSpec {
    var spec = base
    spec.algorithm = .bcAll
    spec.hyperparameters.steps = 2000
    return spec
  }

  static var bcSafe: RunSpec {
    var spec = base
    spec.algorithm = .bcSafe
    spec.costThreshold = 40
    spec.seed = 3
    return spec
  }

  func canonical<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONCodec.canonicalEncoder.encode(value), as: UTF8.self)
  }

  func check(_ spec: RunSpec, json: String, runID: String, file: StaticString = #filePath, line: UInt = #line)
    throws
  {
    XCTAssertEqual(try canonical(spec), json, file: file, line: line)
    XCTAssertEqual(spec.runID, runID, file: file, line: line)
    // The canonical JSON reads back as the same spec (what `train --spec` relies on).
    let decoded = try JSONCodec.decoder.decode(RunSpec.self, from: Data(json.utf8))
    XCTAssertEqual(decoded, spec, file: file, line: line)
    XCTAssertEqual(decoded.runID, runID, file: file, line: line)
  }

  func checkStage(
    _ stage: BCStage?, json: String, stageID: String, file: StaticString = #filePath, line: UInt = #line
  )
    throws
  {
    let stage = try XCTUnwrap(stage, file: file, line: line)
    XCTAssertEqual(try canonical(stage), json, file: file, line: line)
    XCTAssertEqual(stage.stageID, stageID, file: file, line: line)
    let decoded = try JSONCodec.decoder.decode(BCStage.self, from: Data(json.utf8))
    XCTAssertEqual(decoded, stage, file: file, line: line)
  }

  func testDefaultTraCRun() throws {
    try check(
      Self.base,
      json:
        #"{"algorithm":"trac","cost_threshold":20,"dataset_sha256":"ababababababababababababababab"#
        + #"ababababababababababababababababab","eval_episodes":20,"eval_seed":0,"hyperparameters":{"#
        + #""alpha":0.2,"batch_size":96,"bc_steps":30000,"beta":0.7,"eta":0.25,"gamma":0.99,"lr":0.0"#
        + #"001,"reference":"bc","seg_ratio":1,"steps":100000,"x":0.5,"y":0},"seed":0,"task":"Offlin"#
        + #"eBallCircle-v0","trainer_format_version":2}"#,
      runID: "1ac245298a0ba42d")
    try checkStage(
      Self.base.bcStage,
      json:
        #"{"batch_size":96,"bc_steps":30000,"cost_threshold":20,"dataset_sha256":"abababababababab"#
        + #"abababababababababababababababababababababababab","format":"trac-bc-stage/1","lr":0.0001"#
        + #","seed":0,"seg_ratio":1,"segments":"both","task":"OfflineBallCircle-v0","trainer_format_"#
        + #"version":2,"x":0.5,"y":0}"#,
      stageID: "44bc2cccfe8f56c0")
    try check(
      try XCTUnwrap(Self.base.stageUnit),
      json:
        #"{"algorithm":"trac","cost_threshold":20,"dataset_sha256":"ababababababababababababababab"#
        + #"ababababababababababababababababab","eval_episodes":0,"eval_seed":0,"hyperparameters":{""#
        + #"alpha":0.2,"batch_size":96,"bc_steps":30000,"beta":0.7,"eta":0.25,"gamma":0.99,"lr":0.00"#
        + #"01,"reference":"bc","seg_ratio":1,"steps":30000,"x":0.5,"y":0},"seed":0,"task":"OfflineB"#
        + #"allCircle-v0","trainer_format_version":2}"#,
      runID: "8a58297b892aad85")
  }

  func testReproducibleRunWithEveryOptionalKey() throws {
    try check(
      Self.reproducible,
      json:
        #"{"algorithm":"trac","blas":"reproducible","cost_threshold":12.5,"dataset_sha256":"ababab"#
        + #"ababababababababababababababababababababababababababababab","eval_episodes":5,"eval_seed"#
        + #"":7,"hyperparameters":{"alpha":0.2,"batch_size":96,"bc_steps":800,"beta":0.7,"eta":0.25,"#
        + #""gamma":0.99,"lr":0.0003,"reference":"bc","seg_ratio":1,"segments":"desirable","steps":1"#
        + #"500,"trac_lr_scale":0.25,"warmup_steps":500,"x":0.30000000000000004,"y":0},"seed":922337"#
        + #"2036854775813,"task":"OfflineBallCircle-v0","trainer_format_version":2}"#,
      runID: "933575f5e506e417")
    try checkStage(
      Self.reproducible.bcStage,
      json:
        #"{"batch_size":96,"bc_steps":800,"blas":"reproducible","cost_threshold":12.5,"dataset_sha"#
        + #"256":"abababababababababababababababababababababababababababababababab","format":"trac-b"#
        + #"c-stage/1","lr":0.0003,"seed":9223372036854775813,"seg_ratio":1,"segments":"desirable",""#
        + #"task":"OfflineBallCircle-v0","trainer_format_version":2,"x":0.30000000000000004,"y":0}"#,
      stageID: "861495c56bc9d62f")
    try check(
      try XCTUnwrap(Self.reproducible.stageUnit),
      json:
        #"{"algorithm":"trac","blas":"reproducible","cost_threshold":12.5,"dataset_sha256":"ababab"#
        + #"ababababababababababababababababababababababababababababab","eval_episodes":0,"eval_seed"#
        + #"":0,"hyperparameters":{"alpha":0.2,"batch_size":96,"bc_steps":800,"beta":0.7,"eta":0.25,"#
        + #""gamma":0.99,"lr":0.0003,"reference":"bc","seg_ratio":1,"segments":"desirable","steps":8"#
        + #"00,"x":0.30000000000000004,"y":0},"seed":9223372036854775813,"task":"OfflineBallCircle-v"#
        + #"0","trainer_format_version":2}"#,
      runID: "4c665afb1262c558")
  }

  func testBCBaselines() throws {
    XCTAssertNil(Self.bcAll.bcStage)
    XCTAssertNil(Self.bcSafe.bcStage)
    try check(
      Self.bcAll,
      json:
        #"{"algorithm":"bc_all","cost_threshold":20,"dataset_sha256":"abababababababababababababab"#
        + #"abababababababababababababababababab","eval_episodes":20,"eval_seed":0,"hyperparameters""#
        + #":{"alpha":0.2,"batch_size":96,"bc_steps":30000,"beta":0.7,"eta":0.25,"gamma":0.99,"lr":0"#
        + #".0001,"reference":"bc","seg_ratio":1,"steps":2000,"x":0.5,"y":0},"seed":0,"task":"Offlin"#
        + #"eBallCircle-v0","trainer_format_version":2}"#,
      runID: "c31339670f9c1f3b")
    try check(
      Self.bcSafe,
      json:
        #"{"algorithm":"bc_safe","cost_threshold":40,"dataset_sha256":"abababababababababababababa"#
        + #"babababababababababababababababababab","eval_episodes":20,"eval_seed":0,"hyperparameters"#
        + #"":{"alpha":0.2,"batch_size":96,"bc_steps":30000,"beta":0.7,"eta":0.25,"gamma":0.99,"lr":"#
        + #"0.0001,"reference":"bc","seg_ratio":1,"steps":100000,"x":0.5,"y":0},"seed":3,"task":"Off"#
        + #"lineBallCircle-v0","trainer_format_version":2}"#,
      runID: "5c421055c24dcd67")
  }
}
