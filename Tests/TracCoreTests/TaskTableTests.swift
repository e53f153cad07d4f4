import Foundation
import TracCore
import XCTest

/// The task table (`TaskInfo`) against DSRL's own values, and the Python evaluator's copy against it.
final class TaskTableTests: XCTestCase {
  static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// DSRL's `dsrl/infos.py` values, copied with their citation into a fixture.
  static func dsrlTasks() throws -> [[String: Any]] {
    let url = repository.appendingPathComponent("scripts/tests/fixtures/dsrl_tasks.json")
    let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    XCTAssertTrue((root["source"] as? String ?? "").contains("dsrl/infos.py"))
    return try XCTUnwrap(root["tasks"] as? [[String: Any]])
  }

  func testEveryTaskEqualsDSRLsValues() throws {
    let expected = try Self.dsrlTasks()
    XCTAssertEqual(Set(expected.compactMap { $0["dsrl_id"] as? String }), Set(TaskInfo.all.map(\.dsrlID)))
    XCTAssertEqual(TaskInfo.all.count, 38)
    XCTAssertEqual(TaskInfo.safetyGymnasium.count, 21)
    XCTAssertEqual(TaskInfo.metadrive.count, 9)
    for entry in expected {
      let id = try XCTUnwrap(entry["dsrl_id"] as? String)
      let task = try TaskInfo.named(id)
      XCTAssertEqual(task.simulatorID, entry["simulator_id"] as? String, id)
      XCTAssertEqual(task.family.rawValue, entry["family"] as? String, id)
      XCTAssertEqual(task.observationDim, entry["obs_dim"] as? Int, id)
      XCTAssertEqual(task.actionDim, entry["act_dim"] as? Int, id)
      XCTAssertEqual(task.episodeSteps, entry["max_episode_steps"] as? Int, id)
      // DSRL's literals are strings: Foundation's JSON number parsing is not exact, Double(String) is.
      XCTAssertEqual(task.rewardMax, (entry["max_episode_reward"] as? String).flatMap(Double.init), id)
      XCTAssertEqual(task.rewardMin, (entry["min_episode_reward"] as? String).flatMap(Double.init), id)
      XCTAssertEqual(try TaskInfo.named(task.simulatorID), task)
    }
  }

  func testThePythonTableIsTheSwiftTable() throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", Self.repository.appendingPathComponent("scripts/trac_tasks.py").path, "--json",
    ]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0)
    let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    XCTAssertEqual(rows.map { $0["dsrl_id"] as? String }, TaskInfo.all.map(\.dsrlID))
    for (row, task) in zip(rows, TaskInfo.all) {
      XCTAssertEqual(row["simulator_id"] as? String, task.simulatorID)
      XCTAssertEqual(row["family"] as? String, task.family.rawValue)
      XCTAssertEqual(row["obs_dim"] as? Int, task.observationDim)
      XCTAssertEqual(row["act_dim"] as? Int, task.actionDim)
      XCTAssertEqual(row["max_episode_steps"] as? Int, task.episodeSteps)
      XCTAssertEqual((row["r_max"] as? String).flatMap(Double.init), task.rewardMax)
      XCTAssertEqual((row["r_min"] as? String).flatMap(Double.init), task.rewardMin)
    }
  }

  func testSafetyGymnasiumTasksHaveThePapersDefaults() throws {
    let task = try TaskInfo.named("OfflineCarPush1Gymnasium-v0")
    XCTAssertEqual(task.family, .safetyGymnasium)
    XCTAssertEqual(task.simulatorID, "SafetyCarPush1Gymnasium-v0")
    let defaults = task.family.defaultHyperparameters
    XCTAssertEqual(
      [defaults.x, defaults.y, defaults.alpha, defaults.eta, defaults.segRatio], [0.5, 0.5, 0.1, 0.5, 0.75])
    XCTAssertEqual([defaults.beta, defaults.gamma, defaults.lr], [0.7, 0.99, 1e-4])
    XCTAssertEqual([defaults.batchSize, defaults.bcSteps, defaults.steps], [96, 30_000, 100_000])
    XCTAssertEqual(TaskFamily.bulletGym.defaultHyperparameters, Hyperparameters())
    XCTAssertEqual(task.family.paperCostThresholds, [20, 40, 80])
    XCTAssertEqual(
      try TaskInfo.named("SafetyHopperVelocityGymnasium-v1").dsrlID, "OfflineHopperVelocityGymnasium-v1")
  }

  func testMetaDriveTasksHaveTheirFamilysDefaults() throws {
    let task = try TaskInfo.named("OfflineMetadrive-mediummean-v0")
    XCTAssertEqual(task.family, .metadrive)
    XCTAssertEqual(task.simulatorID, "SafeMetaDrive-mediummean-v0")
    XCTAssertEqual(try TaskInfo.named("SafeMetaDrive-hardsparse-v0").dsrlID, "OfflineMetadrive-hardsparse-v0")
    XCTAssertEqual([task.observationDim, task.actionDim, task.episodeSteps], [259, 2, 1000])
    XCTAssertEqual(task.family.paperCostThresholds, [10, 20, 40])
    let defaults = task.family.defaultHyperparameters
    XCTAssertEqual(
      [
        defaults.x, defaults.y, defaults.alpha, defaults.eta, defaults.beta, defaults.gamma,
        defaults.segRatio,
      ],
      [0.25, 0.0, 0.2, 0.25, 0.7, 1.0, 0.25])
    XCTAssertEqual([defaults.batchSize, defaults.bcSteps, defaults.steps], [96, 60_000, 200_000])
    XCTAssertNoThrow(try defaults.validate(algorithm: .trac))
    XCTAssertEqual(EvaluatorEnvironment(family: .metadrive).venv, ".venv-metadrive")
  }

  func testUnknownAndMisspelledTasks() {
    XCTAssertThrowsError(try TaskInfo.named("offlinepointgoal1gymnasium-v0")) { error in
      XCTAssertTrue("\(error)".contains("did you mean 'OfflinePointGoal1Gymnasium-v0'"), "\(error)")
    }
    XCTAssertThrowsError(try TaskInfo.named("OfflineMetadrive-easysparse-v1")) { error in
      XCTAssertTrue("\(error)".contains("OfflineWalker2dVelocityGymnasium-v1"), "\(error)")
      XCTAssertTrue("\(error)".contains("OfflineMetadrive-harddense-v0"), "\(error)")
    }
  }

  func testTheDSRLFileOfASafetyGymnasiumTaskIsFound() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dsrl-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    for name in ["SafetyPointGoal1Gymnasium-v0-100-2022.hdf5", "SafetyPointGoal2Gymnasium-v0-200-3442.hdf5"] {
      XCTAssertTrue(
        FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: Data()))
    }
    let path = try DSRLDatasetDirectory.resolve(
      task: try TaskInfo.named("OfflinePointGoal1Gymnasium-v0"), in: directory)
    XCTAssertTrue(path.hasSuffix("/SafetyPointGoal1Gymnasium-v0-100-2022.hdf5"), path)
  }

  func testAGridOfSafetyGymnasiumTasksStartsFromTheirDefaults() throws {
    let grid = try GridFile(
      parsing: Data(
        """
        {"name": "sg", "task": "OfflinePointGoal1Gymnasium-v0", "algorithm": "trac", "vary": {"eta": [0.25, 1.0]},
         "design": "one_at_a_time", "cost_thresholds": [20], "seeds": [0]}
        """.utf8))
    XCTAssertEqual(grid.base, TaskFamily.safetyGymnasium.defaultHyperparameters)
    XCTAssertEqual(grid.points.map(\.hyperparameters.eta).sorted(), [0.25, 0.5, 1.0])
  }

  func testAGridMixingFamiliesMustGiveTheDefaultsThatDiffer() throws {
    let mixed = """
      {"name": "mixed", "task": ["OfflineBallCircle-v0", "OfflinePointGoal1Gymnasium-v0"], "algorithm": "trac",
       BASE "cost_thresholds": [20], "seeds": [0]}
      """
    XCTAssertThrowsError(try GridFile(parsing: Data(mixed.replacingOccurrences(of: "BASE", with: "").utf8))) {
      error in
      let gridError = error as? GridError
      XCTAssertEqual(gridError?.path, "$.base")
      XCTAssertTrue(gridError?.message.contains("y, alpha, eta, seg_ratio") == true, "\(error)")
    }
    let given = mixed.replacingOccurrences(
      of: "BASE", with: #""base": {"y": 0.0, "alpha": 0.2, "eta": 0.25, "seg_ratio": 1.0},"#)
    XCTAssertEqual(try GridFile(parsing: Data(given.utf8)).base, Hyperparameters())
  }
}
