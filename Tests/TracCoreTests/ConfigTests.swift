import Foundation
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

  /// Results are cached by run id across sweeps, so a change to the spec's encoding must not change
  /// the id of a run that existed before it. These ids were computed before `segments` was added.
  func testRunIDsFromBeforeTheSegmentsOptionAreUnchanged() throws {
    var values = Hyperparameters()
    values.alpha = 0.05
    values.reference = .uniform
    // Pinned at trainer format 1, the format these ids were computed in.
    var tracSpec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: String(repeating: "ab", count: 32), algorithm: .trac,
      hyperparameters: values, costThreshold: 20, seed: 10)
    tracSpec.trainerFormatVersion = 1
    var bcSpec = RunSpec(
      task: "OfflineAntRun-v0", datasetSHA256: String(repeating: "0f", count: 32), algorithm: .bcSafe,
      hyperparameters: Hyperparameters(), costThreshold: 40, seed: 0, evalEpisodes: 5, evalSeed: 3)
    bcSpec.trainerFormatVersion = 1
    XCTAssertEqual(tracSpec.runID, "be13d20b7071ae5d")
    XCTAssertEqual(bcSpec.runID, "35da15e249143216")
    let canonical =
      #"{"algorithm":"trac","cost_threshold":20,"dataset_sha256":"\#(String(repeating: "ab", count: 32))","#
      + #""eval_episodes":20,"eval_seed":0,"hyperparameters":{"alpha":0.05,"batch_size":96,"bc_steps":30000,"#
      + #""beta":0.7,"eta":0.25,"gamma":0.99,"lr":0.0001,"reference":"uniform","seg_ratio":1,"steps":100000,"#
      + #""x":0.5,"y":0},"seed":10,"task":"OfflineBallCircle-v0","trainer_format_version":1}"#
    XCTAssertEqual(
      String(decoding: try JSONCodec.canonicalEncoder.encode(tracSpec), as: UTF8.self), canonical)
    // A spec stored before the option (no "segments" key) reads back as `both`, with the same id.
    let stored = try JSONCodec.decoder.decode(RunSpec.self, from: Data(canonical.utf8))
    XCTAssertEqual(stored, tracSpec)
    XCTAssertEqual(stored.hyperparameters.segments, .both)
    XCTAssertEqual(stored.runID, "be13d20b7071ae5d")
    // A newer trainer format is another run: a result of the old trainer is not served for it.
    var current = tracSpec
    current.trainerFormatVersion = RunSpec.trainerFormatVersion
    XCTAssertEqual(RunSpec.trainerFormatVersion, 2)
    XCTAssertNotEqual(current.runID, tracSpec.runID)
  }

  func testSegmentSelectionIsPartOfTheRunID() throws {
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: "ab", algorithm: .trac, hyperparameters: Hyperparameters(),
      costThreshold: 20, seed: 0)
    var ids: Set<String> = [spec.runID]
    for selection in [SegmentSelection.desirable, .undesirable] {
      var other = spec
      other.hyperparameters.segments = selection
      ids.insert(other.runID)
      let json = try JSONCodec.canonicalEncoder.encode(other)
      XCTAssertTrue(String(decoding: json, as: UTF8.self).contains(#""segments":"\#(selection.rawValue)""#))
      XCTAssertEqual(try JSONCodec.decoder.decode(RunSpec.self, from: json), other)
    }
    XCTAssertEqual(ids.count, 3)
  }

  /// `warmup_steps` and `trac_lr_scale` came after runs were cached: at their defaults (10,000 and
  /// 0.1) they are left out of the encoding, so a default run keeps the id it had before them. The
  /// id below was computed before either existed.
  func testRunIDsFromBeforeTheWarmUpOptionsAreUnchanged() throws {
    let spec = RunSpec(
      task: "OfflineBallCircle-v0", datasetSHA256: String(repeating: "ab", count: 32), algorithm: .trac,
      hyperparameters: Hyperparameters(), costThreshold: 20, seed: 0)
    XCTAssertEqual(spec.hyperparameters.warmupSteps, 10_000)
    XCTAssertEqual(spec.hyperparameters.tracLRScale, 0.1)
    XCTAssertEqual(RunSpec.trainerFormatVersion, 2)
    XCTAssertEqual(spec.runID, "1ac245298a0ba42d")
    let canonical =
      #"{"algorithm":"trac","cost_threshold":20,"dataset_sha256":"\#(String(repeating: "ab", count: 32))","#
      + #""eval_episodes":20,"eval_seed":0,"hyperparameters":{"alpha":0.2,"batch_size":96,"bc_steps":30000,"#
      + #""beta":0.7,"eta":0.25,"gamma":0.99,"lr":0.0001,"reference":"bc","seg_ratio":1,"steps":100000,"#
      + #""x":0.5,"y":0},"seed":0,"task":"OfflineBallCircle-v0","trainer_format_version":2}"#
    XCTAssertEqual(String(decoding: try JSONCodec.canonicalEncoder.encode(spec), as: UTF8.self), canonical)
    // A spec stored before the options reads back at their defaults, with the same id.
    let stored = try JSONCodec.decoder.decode(RunSpec.self, from: Data(canonical.utf8))
    XCTAssertEqual(stored, spec)
    XCTAssertEqual(stored.runID, "1ac245298a0ba42d")

    // Another value is another run, written out and read back.
    var ids: Set<String> = [spec.runID]
    var shortWarmUp = spec
    shortWarmUp.hyperparameters.warmupSteps = 200
    var noWarmUp = spec
    noWarmUp.hyperparameters.warmupSteps = 0
    var scaled = spec
    scaled.hyperparameters.tracLRScale = 0.5
    for (other, key) in [
      (shortWarmUp, #""warmup_steps":200"#), (noWarmUp, #""warmup_steps":0"#),
      (scaled, #""trac_lr_scale":0.5"#),
    ] {
      let json = String(decoding: try JSONCodec.canonicalEncoder.encode(other), as: UTF8.self)
      XCTAssertTrue(json.contains(key), json)
      XCTAssertEqual(try JSONCodec.decoder.decode(RunSpec.self, from: Data(json.utf8)), other)
      ids.insert(other.runID)
    }
    XCTAssertEqual(ids.count, 4)
  }

  func testWarmUpOptionsAreValidated() {
    var values = Hyperparameters()
    values.warmupSteps = -1
    XCTAssertThrowsError(try values.validate(algorithm: .trac)) { error in
      XCTAssertEqual(
        "\(error)",
        "--warmup-steps: the TraC learning-rate warm-up must be at least 0 updates (0: none), got -1")
    }
    values.warmupSteps = 0
    XCTAssertNoThrow(try values.validate(algorithm: .trac))
    for scale in [0.0, -0.1, Double.nan] {
      values.tracLRScale = scale
      XCTAssertThrowsError(try values.validate(algorithm: .trac)) { error in
        XCTAssertTrue("\(error)".hasPrefix("--trac-lr-scale: "), "\(error)")
      }
    }
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
