import Foundation
import TracCore
import XCTest

final class GridFileTests: XCTestCase {
  /// docs/GRID.md's example, verbatim.
  static let designExample = """
    {
      "name": "ballcircle-alpha-eta",
      "task": "OfflineBallCircle-v0",
      "dataset": "datasets/SafetyBallCircle-v0-demo.hdf5",
      "algorithm": "trac",
      "base": {"x": 0.5, "y": 0.0, "alpha": 0.2, "eta": 0.25, "beta": 0.7,
               "gamma": 0.99, "seg_ratio": 1.0, "batch_size": 96, "lr": 1e-4,
               "bc_steps": 30000, "steps": 100000},
      "vary": {"alpha": [0.05, 0.1, 0.2, 0.5], "eta": [0.1, 0.25, 0.5, 1.0]},
      "design": "one_at_a_time",
      "cost_thresholds": [10, 20, 40],
      "seeds": [0, 10, 20],
      "eval": {"episodes": 20, "seed": 0}
    }
    """

  /// The example's keys as JSON text, in its order (the order of `vary` matters, so no dictionaries).
  static let exampleMembers: KeyValuePairs<String, String> = [
    "name": #""ballcircle-alpha-eta""#,
    "task": #""OfflineBallCircle-v0""#,
    "dataset": #""datasets/SafetyBallCircle-v0-demo.hdf5""#,
    "algorithm": #""trac""#,
    "base": #"""
    {"x": 0.5, "y": 0.0, "alpha": 0.2, "eta": 0.25, "beta": 0.7, "gamma": 0.99, "seg_ratio": 1.0,
     "batch_size": 96, "lr": 1e-4, "bc_steps": 30000, "steps": 100000}
    """#,
    "vary": #"{"alpha": [0.05, 0.1, 0.2, 0.5], "eta": [0.1, 0.25, 0.5, 1.0]}"#,
    "design": #""one_at_a_time""#,
    "cost_thresholds": "[10, 20, 40]",
    "seeds": "[0, 10, 20]",
    "eval": #"{"episodes": 20, "seed": 0}"#,
  ]

  /// The example with some top-level keys given other JSON text; nil removes a key.
  static func example(_ changes: [String: String?] = [:]) -> Data {
    var members = exampleMembers.map { (key: $0.key, value: $0.value) }
    for (key, value) in changes where !members.contains(where: { $0.key == key }) {
      if let value { members.append((key, value)) }
    }
    let text = members.compactMap { member -> String? in
      let value: String? = if let change = changes[member.key] { change } else { member.value }
      return value.map { "\"\(member.key)\": \($0)" }
    }
    return Data(("{" + text.joined(separator: ",\n") + "}").utf8)
  }

  static func parse(_ text: String) throws -> GridFile { try GridFile(parsing: Data(text.utf8)) }

  /// The error of a grid that must be refused; fails the test if it is accepted.
  func error(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> GridError? {
    do {
      let grid = try GridFile(parsing: data)
      XCTFail("accepted a bad grid with \(grid.runs.count) runs", file: file, line: line)
      return nil
    } catch {
      return error
    }
  }

  func error(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> GridError? {
    error(Data(text.utf8), file: file, line: line)
  }

  // MARK: Expansion

  func testDesignExampleExpandsOneAtATime() throws {
    let grid = try Self.parse(Self.designExample)
    XCTAssertEqual(try GridFile(parsing: Self.example()).canonicalJSON, grid.canonicalJSON)
    XCTAssertEqual(grid.name, "ballcircle-alpha-eta")
    XCTAssertEqual(grid.tasks.map(\.task.dsrlID), ["OfflineBallCircle-v0"])
    XCTAssertEqual(grid.tasks.map(\.datasetPath), ["datasets/SafetyBallCircle-v0-demo.hdf5"])
    XCTAssertEqual(grid.algorithms, [.trac])
    XCTAssertEqual(grid.design, .oneAtATime)
    XCTAssertEqual(grid.vary.map(\.name), [.alpha, .eta])
    XCTAssertEqual(grid.evalEpisodes, 20)

    // alpha 0.2 and eta 0.25 are the base values: 1 + 3 + 3 points, the base point not repeated.
    XCTAssertEqual(
      grid.points.map(\.id), ["base", "alpha=0.05", "alpha=0.1", "alpha=0.5", "eta=0.1", "eta=0.5", "eta=1"])
    XCTAssertEqual(Set(grid.points.map(\.hyperparameters)).count, 7)
    XCTAssertNil(grid.points[0].varied)
    XCTAssertEqual(grid.points[1].varied, HyperparameterSetting(name: .alpha, value: .real(0.05)))
    XCTAssertEqual(grid.points[1].hyperparameters.alpha, 0.05)
    XCTAssertEqual(grid.points[1].hyperparameters.eta, 0.25)
    XCTAssertEqual(grid.points[6].hyperparameters.eta, 1.0)
    XCTAssertEqual(grid.points[6].hyperparameters.alpha, 0.2)

    let runs = grid.runs
    XCTAssertEqual(runs.count, 63)
    XCTAssertEqual(grid.runCount, 63)
    XCTAssertEqual(runs.filter { $0.pointID == "eta=0.5" }.count, 9)
    XCTAssertEqual(runs.filter { $0.varied?.name == .eta }.count, 27)
    XCTAssertEqual(Set(runs.map { "\($0.pointID) \($0.costThreshold) \($0.seed)" }).count, 63)
    XCTAssertEqual(Set(runs.map(\.costThreshold)), [10, 20, 40])
    XCTAssertEqual(Set(runs.map(\.seed)), [0, 10, 20])
    XCTAssertEqual(Set(runs.map { $0.spec(datasetSHA256: "ab").runID }).count, 63)

    // The alpha curve of a report: the base point stands for alpha = 0.2.
    XCTAssertEqual(grid.points(along: .alpha).map(\.hyperparameters.alpha), [0.05, 0.1, 0.2, 0.5])
    XCTAssertEqual(grid.points(along: .alpha)[2].id, "base")
  }

  func testProductGivesEveryCombination() throws {
    let grid = try GridFile(parsing: Self.example(["design": #""product""#]))
    XCTAssertEqual(grid.points.count, 16)
    XCTAssertEqual(Set(grid.points.map(\.hyperparameters)).count, 16)
    // The first varied hyperparameter changes slowest.
    XCTAssertEqual(
      grid.points.prefix(5).map(\.id),
      [
        "alpha=0.05,eta=0.1", "alpha=0.05,eta=0.25", "alpha=0.05,eta=0.5", "alpha=0.05,eta=1",
        "alpha=0.1,eta=0.1",
      ])
    XCTAssertTrue(grid.points.allSatisfy { $0.varied == nil })
    XCTAssertEqual(grid.runs.count, 16 * 9)
  }

  func testOrderOfVaryIsTheOrderOfPoints() throws {
    let grid = try GridFile(parsing: Self.example(["vary": #"{"eta": [1.0, 0.1], "alpha": [0.5, 0.05]}"#]))
    XCTAssertEqual(grid.points.map(\.id), ["base", "eta=1", "eta=0.1", "alpha=0.5", "alpha=0.05"])
  }

  func testBehaviourCloningRunsOncePerThresholdAndSeed() throws {
    let grid = try GridFile(parsing: Self.example(["algorithm": #"["trac", "bc_all", "bc_safe"]"#]))
    XCTAssertEqual(grid.points(for: .bcAll).map(\.id), ["base"])
    let runs = grid.runs
    XCTAssertEqual(runs.filter { $0.algorithm == .trac }.count, 63)
    XCTAssertEqual(runs.filter { $0.algorithm == .bcAll }.count, 9)
    XCTAssertEqual(runs.filter { $0.algorithm == .bcSafe }.count, 9)
    XCTAssertEqual(runs.count, 81)
    XCTAssertEqual(grid.runCount, 81)
    XCTAssertTrue(runs.filter { $0.algorithm != .trac }.allSatisfy { $0.varied == nil })

    // The product design does not multiply BC runs either.
    let product = try GridFile(
      parsing: Self.example(["algorithm": #"["bc_all", "trac"]"#, "design": #""product""#]))
    XCTAssertEqual(product.runs.filter { $0.algorithm == .bcAll }.count, 9)
    XCTAssertEqual(product.runs.count, 9 + 16 * 9)

    // Varying what BC reads (the learning rate) gives BC one point per value.
    let learningRates = try GridFile(
      parsing: Self.example([
        "algorithm": #"["trac", "bc_safe"]"#, "vary": #"{"alpha": [0.05, 0.5], "lr": [1e-4, 3e-4, 1e-3]}"#,
      ]))
    XCTAssertEqual(
      learningRates.points.map(\.id), ["base", "alpha=0.05", "alpha=0.5", "lr=0.0003", "lr=0.001"])
    XCTAssertEqual(learningRates.points(for: .bcSafe).map(\.id), ["base", "lr=0.0003", "lr=0.001"])
    XCTAssertEqual(learningRates.points(for: .bcSafe).map(\.hyperparameters.lr), [1e-4, 3e-4, 1e-3])
    XCTAssertEqual(learningRates.runs.filter { $0.algorithm == .bcSafe }.count, 27)
  }

  func testBehaviourCloningRunsAreSharedAcrossTracBases() throws {
    // Two grids that differ only in what BC ignores give their BC runs the same ids, so they share results.
    let first = try GridFile(parsing: Self.example(["algorithm": #""bc_all""#]))
    let second = try GridFile(
      parsing: Self.example([
        "algorithm": #""bc_all""#, "base": #"{"x": 0.3, "alpha": 0.1, "reference": "uniform"}"#,
      ]))
    XCTAssertNotEqual(first.canonicalSHA256, second.canonicalSHA256)
    XCTAssertEqual(
      first.runs.map { $0.spec(datasetSHA256: "ab").runID },
      second.runs.map { $0.spec(datasetSHA256: "ab").runID })
  }

  func testDefaultsAndListsOfTasks() throws {
    let grid = try Self.parse(
      """
      {"name": "two.tasks_1", "task": ["OfflineBallRun-v0", "SafetyCarCircle-v0"],
       "algorithm": "trac", "base": {"alpha": 0.1}, "cost_thresholds": [20], "seeds": [7]}
      """)
    XCTAssertEqual(grid.tasks.map(\.task.dsrlID), ["OfflineBallRun-v0", "OfflineCarCircle-v0"])
    XCTAssertEqual(grid.tasks.map(\.datasetPath), [nil, nil])
    var expected = Hyperparameters()
    expected.alpha = 0.1
    XCTAssertEqual(grid.base, expected)
    XCTAssertEqual(grid.points.map(\.id), ["base"])
    XCTAssertEqual(grid.evalEpisodes, 20)
    XCTAssertEqual(grid.evalSeed, 0)
    let runs = grid.runs
    XCTAssertEqual(runs.count, 2)
    XCTAssertEqual(runs[1].task.dsrlID, "OfflineCarCircle-v0")
    XCTAssertNil(runs[1].datasetPath)
    XCTAssertNil(runs[1].varied)

    let paired = try Self.parse(
      """
      {"name": "paired", "task": ["OfflineBallRun-v0", "OfflineCarRun-v0"], "dataset": ["a.hdf5", "b.hdf5"],
       "algorithm": ["trac"], "vary": {"reference": ["bc", "uniform"]}, "design": "product",
       "cost_thresholds": [20], "seeds": [0], "eval": {"episodes": 5, "seed": 3}}
      """)
    XCTAssertEqual(paired.points.map(\.id), ["reference=bc", "reference=uniform"])
    XCTAssertEqual(paired.runs.map(\.datasetPath), ["a.hdf5", "a.hdf5", "b.hdf5", "b.hdf5"])
    let run = paired.runs[3]
    XCTAssertEqual(run.hyperparameters.reference, .uniform)
    let spec = run.spec(datasetSHA256: "cd")
    XCTAssertEqual(spec.task, "OfflineCarRun-v0")
    XCTAssertEqual(spec.datasetSHA256, "cd")
    XCTAssertEqual(spec.algorithm, .trac)
    XCTAssertEqual(spec.hyperparameters.reference, .uniform)
    XCTAssertEqual(spec.evalEpisodes, 5)
    XCTAssertEqual(spec.evalSeed, 3)
    XCTAssertEqual(spec.costThreshold, 20)
  }

  /// The Figure 6 ablation as a grid: `segments` takes words, like `reference`, and BC ignores it.
  func testSegmentSelectionIsAGridHyperparameter() throws {
    let grid = try GridFile(
      parsing: Self.example([
        "algorithm": #"["trac", "bc_all"]"#, "vary": #"{"segments": ["both", "desirable", "undesirable"]}"#,
      ]))
    XCTAssertEqual(grid.points.map(\.id), ["base", "segments=desirable", "segments=undesirable"])
    XCTAssertEqual(grid.points.map(\.hyperparameters.segments), [.both, .desirable, .undesirable])
    XCTAssertEqual(
      grid.points(along: .segments).map(\.id), ["base", "segments=desirable", "segments=undesirable"])
    XCTAssertEqual(grid.points(for: .bcAll).map(\.hyperparameters.segments), [.both])
    XCTAssertEqual(grid.runCount, (3 + 1) * 9)
    XCTAssertNil(grid.points[1].varied?.value.numericValue)
    XCTAssertEqual(grid.points[2].varied?.value.description, "undesirable")
    let runIDs = Set(grid.runs.map { $0.spec(datasetSHA256: "ab").runID })
    XCTAssertEqual(runIDs.count, grid.runCount)

    // Saying the default changes nothing, not even the sweep id; another value does.
    let plain = try GridFile(parsing: Self.example())
    let explicit = try GridFile(parsing: Self.example(["base": #"{"segments": "both"}"#]))
    XCTAssertEqual(explicit.canonicalSHA256, plain.canonicalSHA256)
    XCTAssertFalse(String(decoding: plain.canonicalJSON, as: UTF8.self).contains("segments"))
    let desirable = try GridFile(parsing: Self.example(["base": #"{"segments": "desirable"}"#]))
    XCTAssertNotEqual(desirable.canonicalSHA256, plain.canonicalSHA256)
    XCTAssertEqual(try GridFile(parsing: desirable.canonicalJSON).base.segments, .desirable)
  }

  func testBadSegmentSelectionsNameTheirPath() {
    let unknown = error(Self.example(["vary": #"{"segments": ["both", "safe"]}"#]))
    XCTAssertEqual(unknown?.path, "$.vary.segments[1]")
    XCTAssertEqual(
      unknown?.message, #"unknown segment selection "safe"; expected one of: both, desirable, undesirable"#)
    XCTAssertEqual(error(Self.example(["base": #"{"segments": 1}"#]))?.path, "$.base.segments")
    XCTAssertEqual(error(Self.example(["vary": #"{"segments": "desirable"}"#]))?.path, "$.vary.segments")
    XCTAssertEqual(
      error(Self.example(["vary": #"{"segments": ["desirable", "desirable"]}"#]))?.path, "$.vary.segments[1]")
  }

  /// The TraC phase's learning-rate warm-up and scale are grid keys: BC ignores them, and at their
  /// defaults they change neither run ids nor the sweep id.
  func testWarmUpAndTraCScaleAreGridHyperparameters() throws {
    let grid = try GridFile(
      parsing: Self.example([
        "algorithm": #"["trac", "bc_safe"]"#,
        "base": #"{"steps": 3000, "bc_steps": 1000, "warmup_steps": 500, "trac_lr_scale": 0.5}"#,
        "vary": #"{"warmup_steps": [0, 2000, 3e3]}"#,
      ]))
    XCTAssertEqual(grid.base.warmupSteps, 500)
    XCTAssertEqual(grid.base.tracLRScale, 0.5)
    XCTAssertEqual(
      grid.points.map(\.id), ["base", "warmup_steps=0", "warmup_steps=2000", "warmup_steps=3000"])
    XCTAssertEqual(grid.points.map(\.hyperparameters.warmupSteps), [500, 0, 2000, 3000])
    XCTAssertEqual(grid.points[2].varied?.value.numericValue, 2000)
    // BC runs once, at the defaults (it has no TraC phase), so it shares its run with other sweeps.
    XCTAssertEqual(grid.points(for: .bcSafe).map(\.hyperparameters.warmupSteps), [10_000])
    XCTAssertEqual(grid.points(for: .bcSafe).map(\.hyperparameters.tracLRScale), [0.1])
    XCTAssertEqual(grid.runCount, (4 + 1) * 9)
    let canonical = String(decoding: grid.canonicalJSON, as: UTF8.self)
    XCTAssertTrue(canonical.contains(#""warmup_steps":500"#), canonical)
    XCTAssertTrue(canonical.contains(#""trac_lr_scale":0.5"#), canonical)
    XCTAssertEqual(try GridFile(parsing: grid.canonicalJSON).canonicalSHA256, grid.canonicalSHA256)

    let plain = try GridFile(parsing: Self.example())
    let explicit = try GridFile(
      parsing: Self.example(["base": #"{"warmup_steps": 10000, "trac_lr_scale": 0.1}"#]))
    XCTAssertEqual(explicit.canonicalSHA256, plain.canonicalSHA256)
    XCTAssertFalse(String(decoding: plain.canonicalJSON, as: UTF8.self).contains("warmup"))
    XCTAssertEqual(
      Set(explicit.runs.map { $0.spec(datasetSHA256: "ab").runID }),
      Set(plain.runs.map { $0.spec(datasetSHA256: "ab").runID }))
  }

  func testBadWarmUpValuesNameTheirPath() {
    let negative = error(Self.example(["vary": #"{"warmup_steps": [100, -5]}"#]))
    XCTAssertEqual(negative?.path, "$.vary.warmup_steps[1]")
    XCTAssertEqual(
      negative?.message, "the TraC learning-rate warm-up must be at least 0 updates (0: none), got -5")
    let fraction = error(Self.example(["base": #"{"warmup_steps": 2.5}"#]))
    XCTAssertEqual(fraction?.path, "$.base.warmup_steps")
    XCTAssertEqual(fraction?.message, "must be a whole number, got 2.5")
    XCTAssertEqual(error(Self.example(["base": #"{"warmup_steps": "1000"}"#]))?.path, "$.base.warmup_steps")
    let scale = error(Self.example(["base": #"{"trac_lr_scale": 0}"#]))
    XCTAssertEqual(scale?.path, "$.base.trac_lr_scale")
    XCTAssertEqual(scale?.message, "the TraC phase's learning-rate factor must be positive, got 0.0")
    let misspelt = error(Self.example(["base": #"{"warmup_step": 100}"#]))
    XCTAssertEqual(misspelt?.path, "$.base.warmup_step")
    XCTAssertTrue(
      misspelt?.message.contains(#"did you mean "warmup_steps""#) ?? false, "\(String(describing: misspelt))")
  }

  // MARK: Bad input

  func testUnknownKeysAreRefusedWithTheirPath() {
    let base = error(Self.example(["base": #"{"alpah": 0.2}"#]))
    XCTAssertEqual(base?.path, "$.base.alpah")
    XCTAssertTrue(base?.message.contains(#"did you mean "alpha""#) ?? false, "\(String(describing: base))")

    XCTAssertEqual(error(Self.example(["seed": "[1]"]))?.path, "$.seed")
    XCTAssertEqual(error(Self.example(["eval": #"{"episode": 10}"#]))?.path, "$.eval.episode")
    XCTAssertEqual(error(Self.example(["vary": #"{"kappa": [1]}"#]))?.path, "$.vary.kappa")
    XCTAssertEqual(error(Self.example(["base": #"{"bad key": 1}"#]))?.path, #"$.base["bad key"]"#)
  }

  func testValuesOutOfRangeNameTheirPath() {
    let x = error(Self.example(["vary": #"{"x": [1.5]}"#]))
    XCTAssertEqual(x?.path, "$.vary.x[0]")
    XCTAssertTrue(x?.message.contains("[0, 1]") ?? false)

    let alpha = error(Self.example(["vary": #"{"alpha": [0.1, 0]}"#]))
    XCTAssertEqual(alpha?.path, "$.vary.alpha[1]")
    XCTAssertTrue(
      alpha?.description.hasPrefix("$.vary.alpha[1]: the temperature must be positive") ?? false,
      "\(String(describing: alpha))")

    XCTAssertEqual(error(Self.example(["base": #"{"eta": -1}"#]))?.path, "$.base.eta")
    XCTAssertEqual(error(Self.example(["base": #"{"gamma": 0}"#]))?.path, "$.base.gamma")
    XCTAssertEqual(error(Self.example(["base": #"{"seg_ratio": 1.5}"#]))?.path, "$.base.seg_ratio")
    XCTAssertEqual(error(Self.example(["vary": #"{"batch_size": [96, 0]}"#]))?.path, "$.vary.batch_size[1]")
    XCTAssertEqual(error(Self.example(["vary": #"{"lr": [-1e-4]}"#]))?.path, "$.vary.lr[0]")
    XCTAssertEqual(error(Self.example(["vary": #"{"beta": [0.5, 1.2]}"#]))?.path, "$.vary.beta[1]")
    XCTAssertEqual(error(Self.example(["base": #"{"alpha": 1e999}"#]))?.path, "$.base.alpha")
  }

  func testRulesAcrossHyperparametersAreCheckedAtEveryPoint() {
    // x = 0.8 is fine alone, but with y = 0.3 from base the point breaks x + y <= 1.
    let sum = error(Self.example(["base": #"{"y": 0.3}"#, "vary": #"{"x": [0.5, 0.8]}"#]))
    XCTAssertEqual(sum?.path, "$.vary.x[1]")
    XCTAssertTrue(sum?.message.contains("x + y must be at most 1") ?? false, "\(String(describing: sum))")
    XCTAssertTrue(sum?.message.contains("x=0.8") ?? false)

    // In a product, a combination of two varied values ...
    let product = error(
      Self.example(["vary": #"{"x": [0.2, 0.7], "y": [0.0, 0.4]}"#, "design": #""product""#]))
    XCTAssertEqual(product?.path, "$.vary.x[1]")
    XCTAssertTrue(product?.message.contains("x=0.7,y=0.4") ?? false, "\(String(describing: product))")
    // ... which one at a time never forms.
    XCTAssertNoThrow(try GridFile(parsing: Self.example(["vary": #"{"x": [0.2, 0.7], "y": [0.0, 0.4]}"#])))

    // The base point itself.
    XCTAssertEqual(error(Self.example(["base": #"{"x": 0.6, "y": 0.6}"#]))?.path, "$.base.x")
    // TraC counts BC's updates in its steps; BC alone has no such rule.
    XCTAssertEqual(error(Self.example(["base": #"{"steps": 1000}"#]))?.path, "$.base.steps")
    XCTAssertNoThrow(
      try GridFile(parsing: Self.example(["base": #"{"steps": 1000}"#, "algorithm": #""bc_all""#])))
    let steps = error(Self.example(["vary": #"{"bc_steps": [0, 200000]}"#]))
    XCTAssertEqual(steps?.path, "$.vary.bc_steps[1]")
    XCTAssertTrue(
      steps?.message.contains("at least bc_steps (200000), got 100000") ?? false,
      "\(String(describing: steps))")
  }

  func testWrongTypesNameTheirPath() {
    let alpha = error(Self.example(["base": #"{"alpha": "0.2"}"#]))
    XCTAssertEqual(alpha?.path, "$.base.alpha")
    XCTAssertTrue(alpha?.message.contains("must be a number") ?? false)
    XCTAssertEqual(error(Self.example(["base": #"{"batch_size": 96.5}"#]))?.path, "$.base.batch_size")
    XCTAssertEqual(error(Self.example(["base": #"{"reference": "random"}"#]))?.path, "$.base.reference")
    XCTAssertEqual(error(Self.example(["base": "[0.2]"]))?.path, "$.base")
    XCTAssertEqual(error(Self.example(["vary": #"{"alpha": 0.2}"#]))?.path, "$.vary.alpha")
    XCTAssertEqual(error(Self.example(["seeds": #"[0, "10"]"#]))?.path, "$.seeds[1]")
    XCTAssertEqual(error(Self.example(["seeds": "0"]))?.path, "$.seeds")
    XCTAssertEqual(error(Self.example(["eval": #"{"episodes": -1}"#]))?.path, "$.eval.episodes")
    XCTAssertEqual(error(Self.example(["name": "null"]))?.path, "$.name")
    XCTAssertEqual(error("[1, 2]")?.path, "$")
  }

  func testEmptyGridsAreRefused() {
    for key in ["task", "algorithm", "cost_thresholds", "seeds"] {
      let empty = error(Self.example([key: "[]"]))
      XCTAssertEqual(empty?.path, "$.\(key)")
      XCTAssertTrue(empty?.message.contains("no runs") ?? false, "\(String(describing: empty))")
    }
    XCTAssertEqual(error(Self.example(["vary": #"{"alpha": []}"#]))?.path, "$.vary.alpha")
    XCTAssertEqual(error(Self.example(["seeds": nil]))?.path, "$.seeds")
    XCTAssertEqual(error("{}")?.path, "$.name")
  }

  func testHugeProductsAreRefusedBeforeExpansion() {
    let tenValues =
      "[" + (1...10).map { "0.\($0)" }.joined(separator: ", ").replacingOccurrences(of: "0.10", with: "1")
      + "]"
    let names = ["alpha", "eta", "beta", "gamma", "seg_ratio", "lr"]
    let vary = "{" + names.map { "\"\($0)\": \(tenValues)" }.joined(separator: ", ") + "}"
    let huge = error(Self.example(["vary": vary, "design": #""product""#]))
    XCTAssertEqual(huge?.path, "$.vary")
    XCTAssertNoThrow(try GridFile(parsing: Self.example(["vary": vary])))  // one at a time: 1 + 6 x 9 points
  }

  func testSeedsThresholdsAndDuplicatesAreChecked() throws {
    XCTAssertEqual(error(Self.example(["seeds": "[0, -1]"]))?.path, "$.seeds[1]")
    XCTAssertEqual(error(Self.example(["seeds": "[0.5]"]))?.path, "$.seeds[0]")
    XCTAssertEqual(error(Self.example(["seeds": "[0, 10, 0]"]))?.path, "$.seeds[2]")
    XCTAssertEqual(error(Self.example(["cost_thresholds": "[-5, 10]"]))?.path, "$.cost_thresholds[0]")
    XCTAssertEqual(error(Self.example(["cost_thresholds": "[10, 10.0]"]))?.path, "$.cost_thresholds[1]")
    let repeated = error(Self.example(["vary": #"{"eta": [0.1, 0.25, 1e-1]}"#]))
    XCTAssertEqual(repeated?.path, "$.vary.eta[2]")
    XCTAssertTrue(repeated?.message.contains("$.vary.eta[0]") ?? false)
    XCTAssertEqual(error(Self.example(["algorithm": #"["trac", "trac"]"#]))?.path, "$.algorithm[1]")
    // Seeds are kept exactly, even beyond 2^53; integers may be written as whole numbers another way.
    XCTAssertEqual(
      try GridFile(parsing: Self.example(["seeds": "[18446744073709551615, 1e3]"])).seeds, [.max, 1000])
  }

  func testUnknownTasksAlgorithmsAndDesigns() {
    let task = error(Self.example(["task": #""OfflineBallSquare-v0""#]))
    XCTAssertEqual(task?.path, "$.task")
    XCTAssertTrue(task?.message.contains("OfflineAntRun-v0") ?? false, "lists the supported tasks")
    let inList = error(
      Self.example(["task": #"["OfflineBallRun-v0", "OfflineBallSquare-v0"]"#, "dataset": nil]))
    XCTAssertEqual(inList?.path, "$.task[1]")
    XCTAssertTrue(inList?.message.contains("OfflineDroneRun-v0") ?? false)
    // The same task under its two names.
    XCTAssertEqual(
      error(Self.example(["task": #"["OfflineBallRun-v0", "SafetyBallRun-v0"]"#, "dataset": nil]))?.path,
      "$.task[1]")

    let algorithm = error(Self.example(["algorithm": #"["trac", "cpq"]"#]))
    XCTAssertEqual(algorithm?.path, "$.algorithm[1]")
    XCTAssertTrue(algorithm?.message.contains("bc_safe") ?? false)

    let design = error(Self.example(["design": #""latin_square""#]))
    XCTAssertEqual(design?.path, "$.design")
    XCTAssertTrue(design?.message.contains("one_at_a_time") ?? false)
    XCTAssertEqual(error(Self.example(["design": nil]))?.path, "$.design")
  }

  func testDatasetsPairWithTasks() {
    let twoTasks = #"["OfflineBallRun-v0", "OfflineCarRun-v0"]"#
    XCTAssertEqual(error(Self.example(["task": twoTasks]))?.path, "$.dataset")  // one file for two tasks
    XCTAssertEqual(error(Self.example(["task": twoTasks, "dataset": #"["a.hdf5"]"#]))?.path, "$.dataset")
    XCTAssertEqual(
      error(Self.example(["task": twoTasks, "dataset": #"["a.hdf5", 3]"#]))?.path, "$.dataset[1]")
    XCTAssertEqual(error(Self.example(["dataset": #""""#]))?.path, "$.dataset")
    XCTAssertNoThrow(
      try GridFile(parsing: Self.example(["task": twoTasks, "dataset": #"["a.hdf5", "b.hdf5"]"#])))
  }

  func testNamesAreChecked() {
    for bad in ["", "alpha eta", "a/b", "é", String(repeating: "a", count: 65)] {
      XCTAssertEqual(error(Self.example(["name": "\"\(bad)\""]))?.path, "$.name", bad)
    }
    XCTAssertNoThrow(
      try GridFile(parsing: Self.example(["name": "\"\(String(repeating: "a", count: 64))\""])))
    XCTAssertNoThrow(try GridFile(parsing: Self.example(["name": #""Ant-Circle_v1.2""#])))
  }

  func testMalformedJSONSaysWhere() {
    let syntax = error(
      """
      {"name": "a",
       "base": {"alpha": 0.2,, "eta": 0.25}}
      """)
    XCTAssertEqual(syntax?.path, "$.base")
    XCTAssertTrue(syntax?.message.contains("line 2, column 24") ?? false, "\(String(describing: syntax))")

    let duplicate = error(#"{"name": "a", "name": "b"}"#)
    XCTAssertEqual(duplicate?.path, "$.name")
    XCTAssertTrue(duplicate?.message.contains("twice") ?? false)

    XCTAssertEqual(error("")?.path, "$")
    XCTAssertEqual(error(Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]))?.path, "$")  // invalid UTF-8 key
    XCTAssertTrue(error(String(repeating: "[", count: 100_000))?.message.contains("nested") ?? false)
    XCTAssertEqual(error(Self.designExample + "}")?.path, "$")
  }

  func testNoPrefixOfAGoodFileIsAccepted() {
    let bytes = Array(Self.designExample.utf8)
    for length in 0..<bytes.count {
      XCTAssertNotNil(error(Data(bytes[0..<length])))
    }
  }

  // MARK: Identity

  func testCanonicalHashIgnoresKeyOrderSpacingAndSpelling() throws {
    let original = try Self.parse(Self.designExample)
    let rewritten = try Self.parse(
      """
      {"eval":{"seed":0},"seeds":[0,10,20],"cost_thresholds":[10.0,2e1,40],"design":"one_at_a_time",
      "vary":{"eta":[0.1,0.25,0.5,1],"alpha":[5e-2,0.1,0.2,0.5]},
      "base":{"steps":1e5,"lr":0.0001,"alpha":0.2,"eta":0.25,"x":0.5,"y":-0.0},
      "algorithm":["trac"],"dataset":["datasets/SafetyBallCircle-v0-demo.hdf5"],"task":"SafetyBallCircle-v0",
      "name":"ballcircle-alpha-eta"}
      """)
    XCTAssertEqual(original.canonicalSHA256, rewritten.canonicalSHA256)
    XCTAssertEqual(original.canonicalJSON, rewritten.canonicalJSON)
    XCTAssertEqual(original.canonicalSHA256.count, 64)
    XCTAssertEqual(original.sweepID, rewritten.sweepID)
    XCTAssertEqual(original.sweepID, String(original.canonicalSHA256.prefix(8)))
    XCTAssertEqual(original.differences(from: rewritten), [])

    // The canonical form is itself a grid file, of the same grid.
    let reparsed = try GridFile(parsing: original.canonicalJSON)
    XCTAssertEqual(reparsed.canonicalSHA256, original.canonicalSHA256)
    XCTAssertEqual(reparsed.runs.count, 63)

    let changed = try GridFile(parsing: Self.example(["seeds": "[0, 10, 30]"]))
    XCTAssertNotEqual(changed.canonicalSHA256, original.canonicalSHA256)
    XCTAssertNotEqual(changed.sweepID, original.sweepID)
  }

  func testDifferencesListWhatChanged() throws {
    let old = try Self.parse(Self.designExample)
    let new = try GridFile(
      parsing: Self.example([
        "vary": #"{"alpha": [0.05, 0.1, 0.3, 0.5], "eta": [0.1, 0.25, 0.5, 1.0]}"#,
        "seeds": "[0, 10]", "eval": nil, "base": #"{"beta": 0.8}"#,
      ]))
    XCTAssertEqual(
      new.differences(from: old),
      ["$.base.beta: 0.7 -> 0.8", "$.seeds: [0, 10, 20] -> [0, 10]", "$.vary.alpha[2]: 0.2 -> 0.3"])

    let renamed = try GridFile(parsing: Self.example(["name": #""other""#, "dataset": nil]))
    XCTAssertEqual(
      renamed.differences(from: old),
      [
        #"$.dataset: ["datasets/SafetyBallCircle-v0-demo.hdf5"] -> (absent)"#,
        #"$.name: "ballcircle-alpha-eta" -> "other""#,
      ])
  }
}
