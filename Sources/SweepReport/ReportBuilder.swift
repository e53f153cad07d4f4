import Foundation
import TracCore

/// Aggregates a sweep's runs into a `SensitivityReport` (docs/REPORT.md). Pure: no files, no clock.
public struct ReportBuilder: Sendable {
  public let grid: GridFile
  public let sweepID: String

  public init(grid: GridFile, sweepID: String? = nil) {
    self.grid = grid
    self.sweepID = sweepID ?? grid.sweepID
  }

  struct ExpectedRun {
    var costThreshold: Double
    var seed: UInt64
  }

  /// One setting of the grid with the runs it expects and those recorded.
  struct SettingRuns {
    var task: String
    var algorithm: Algorithm
    var point: GridPoint
    var label: String
    var expected: [ExpectedRun]
    var observed: [RunObservation?]

    var recorded: [RunObservation] { observed.compactMap { $0 }.filter(\.isRecorded) }
  }

  /// A report and the table of its recorded runs (the input's columns without `state`, plus `setting`,
  /// the label of the run's setting), in the grid's order: the report's `results.csv`.
  public struct Built: Sendable {
    public var report: SensitivityReport
    public var results: RunTable
  }

  /// Reads `table` (a sweep's runs: `RunTable.requiredColumns` and any others), matches its rows to the
  /// grid's runs (by task, algorithm, hyperparameters, cost threshold and seed) and aggregates them. A row
  /// that is not a run of the grid, or a run recorded twice, is an error naming `source` and the row.
  /// `folder` gives a recorded run's folder (`RunFolders.read`): its run.json completes the training
  /// setup, its train.jsonl the learning curves; without it the report says they were not read.
  public func build(
    table: RunTable, source: String, generatedAt: Date = Date(),
    folder: ((RunObservation) -> RunFolder)? = nil
  ) throws(ReportError) -> Built {
    let settings = try match(try table.observations(source: source), source: source)
    let columns = table.columns.filter { $0 != "state" && $0 != "setting" } + ["setting"]
    let rows = settings.flatMap { setting in
      setting.recorded.map { run in
        columns.dropLast().map { Self.csvField($0, run.fields[$0] ?? "") } + [setting.label]
      }
    }
    var folders: [[RunFolder?]] = []
    for setting in settings {
      folders.append(setting.recorded.map { run in folder?(run) })
    }
    return Built(
      report: report(settings, folders: folders, generatedAt: generatedAt),
      results: RunTable(columns: columns, rows: rows))
  }

  /// The measured columns, whose numbers `results.csv` rewrites as `formatDecimal` prints them (1.42, not
  /// 1.4200000000000006). Every other field is copied as it came: hyperparameters and cost thresholds
  /// are the grid's own values, which must read back exactly to match the grid.
  static let decimalColumns: Set<String> = [
    "normalized_reward", "normalized_reward_std", "normalized_cost", "normalized_cost_std", "reward_return",
    "cost_return", "train_seconds",
  ]

  static func csvField(_ column: String, _ text: String) -> String {
    guard decimalColumns.contains(column), let value = Double(text.trimmingCharacters(in: .whitespaces)),
      value.isFinite
    else {
      return text
    }
    return formatDecimal(value)
  }

  private func report(_ settings: [SettingRuns], folders: [[RunFolder?]], generatedAt: Date)
    -> SensitivityReport
  {
    var summaries = settings.map(summarize)
    markBestSafe(&summaries)
    let expected = settings.reduce(0) { $0 + $1.expected.count }
    let recorded = settings.reduce(0) { $0 + $1.recorded.count }
    var missing: [SensitivityReport.MissingRun] = []
    var notRecorded: [String: Int] = [:]
    // What audits said of the runs' results (the `audit` column; docs/SECURITY.md), empty ones left out.
    var audits: [String: Int] = [:]
    for setting in settings {
      for observation in setting.observed.compactMap({ $0 }) {
        if let audit = observation.fields["audit"], !audit.isEmpty { audits[audit, default: 0] += 1 }
      }
    }
    for setting in settings {
      for (run, observation) in zip(setting.expected, setting.observed) where observation?.isRecorded != true
      {
        let state = observation?.state ?? "not recorded"
        notRecorded[state, default: 0] += 1
        missing.append(
          .init(
            runID: observation?.runID, task: setting.task, setting: setting.label,
            costThreshold: run.costThreshold, seed: run.seed, state: state))
      }
    }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    var runs: [SensitivityReport.Run] = []
    for (setting, settingFolders) in zip(settings, folders) {
      for (run, folder) in zip(setting.recorded, settingFolders) {
        let policy = run.fields["policy"].flatMap { $0.isEmpty ? nil : $0 }
        runs.append(
          SensitivityReport.Run(
            runID: run.runID, task: setting.task, algorithm: setting.algorithm.rawValue, label: setting.label,
            varied: Self.varied(setting.point), costThreshold: run.costThreshold, seed: run.seed,
            normalizedReward: run.normalizedReward!, normalizedCost: run.normalizedCost!,
            safe: run.normalizedCost! <= 1, policy: policy,
            artifacts: folder?.directory
              ?? policy.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }))
      }
    }
    return SensitivityReport(
      generatedAt: formatter.string(from: generatedAt),
      sweep: sweepInfo(),
      completeness: .init(
        expected: expected, recorded: recorded, complete: recorded == expected,
        notRecordedByState: notRecorded,
        missing: missing, audits: audits),
      settings: summaries,
      sensitivity: grid.tasks.map {
        sensitivity(task: $0.task.dsrlID, settings: settings, summaries: summaries)
      },
      runs: runs,
      setup: setup(settings, folders: folders),
      learningCurves: grid.tasks.map {
        learningCurves(task: $0.task.dsrlID, settings: settings, folders: folders)
      })
  }

  // MARK: Matching

  private struct RunKey: Hashable {
    var task: String
    var algorithm: Algorithm
    var hyperparameters: String
    var costThreshold: Double
    var seed: UInt64
  }

  private static func key(
    task: String, algorithm: Algorithm, hyperparameters: Hyperparameters, costThreshold: Double, seed: UInt64
  ) -> RunKey {
    let names = HyperparameterName.allCases.filter { algorithm == .trac || !$0.isTracOnly }
    let text = names.map { "\($0.rawValue)=\($0.value(in: hyperparameters))" }.joined(separator: ",")
    let taskID = (try? TaskInfo.named(task).dsrlID) ?? task
    return RunKey(
      task: taskID, algorithm: algorithm, hyperparameters: text, costThreshold: costThreshold, seed: seed)
  }

  /// The grid's settings, in the grid's order (task, algorithm, point), each with its observations.
  func match(_ observations: [RunObservation], source: String) throws(ReportError) -> [SettingRuns] {
    var settings: [SettingRuns] = []
    var slots: [RunKey: (setting: Int, run: Int)] = [:]
    for target in grid.tasks {
      for algorithm in grid.algorithms {
        for point in displayOrder(grid.points(for: algorithm), algorithm) {
          var setting = SettingRuns(
            task: target.task.dsrlID, algorithm: algorithm, point: point, label: label(algorithm, point),
            expected: [], observed: [])
          for costThreshold in grid.costThresholds {
            for seed in grid.seeds {
              let run = ExpectedRun(costThreshold: costThreshold, seed: seed)
              slots[
                Self.key(
                  task: target.task.dsrlID, algorithm: algorithm, hyperparameters: point.hyperparameters,
                  costThreshold: costThreshold, seed: seed)] = (settings.count, setting.expected.count)
              setting.expected.append(run)
              setting.observed.append(nil)
            }
          }
          settings.append(setting)
        }
      }
    }
    for (number, observation) in zip(1..., observations) {
      let key = Self.key(
        task: observation.task, algorithm: observation.algorithm,
        hyperparameters: observation.hyperparameters,
        costThreshold: observation.costThreshold, seed: observation.seed)
      guard let slot = slots[key] else {
        throw .badInput(
          "\(source), row \(number) (\(observation.task) \(observation.algorithm.rawValue), cost threshold "
            + "\(formatNumber(observation.costThreshold)), seed \(observation.seed)) is not a run of the grid "
            + "\(ReportError.quote(grid.name)): its hyperparameters match no point")
      }
      if let earlier = settings[slot.setting].observed[slot.run], earlier.isRecorded, observation.isRecorded {
        throw .badInput(
          "\(source), row \(number) repeats the run of \(settings[slot.setting].label) at cost threshold "
            + "\(formatNumber(observation.costThreshold)), seed \(observation.seed): a run is recorded once")
      }
      if settings[slot.setting].observed[slot.run]?.isRecorded != true {
        settings[slot.setting].observed[slot.run] = observation
      }
    }
    return settings
  }

  /// The order tables list a design's points in: one at a time, along each varied hyperparameter in
  /// turn, by value (the base point where its value falls on the first curve); product and the BC
  /// points, by the values of the varied hyperparameters (the first varied one first).
  func displayOrder(_ points: [GridPoint], _ algorithm: Algorithm) -> [GridPoint] {
    guard algorithm == .trac, grid.design == .oneAtATime else { return sortedByValue(points) }
    var ordered: [GridPoint] = []
    for variation in grid.vary {
      for point in curvePoints(variation.name) where !ordered.contains(point) { ordered.append(point) }
    }
    return ordered + points.filter { !ordered.contains($0) }
  }

  /// One curve of a one-at-a-time study: the points that differ from the base point in `name` only,
  /// and the base point itself (at the base value), by value.
  func curvePoints(_ name: HyperparameterName) -> [GridPoint] {
    var along = grid.points(along: name)
    if let base = grid.points.first(where: { $0.settings.isEmpty }), !along.contains(base) {
      along.insert(base, at: 0)
    }
    return Self.sorted(along, by: [name], vary: grid.vary)
  }

  func sortedByValue(_ points: [GridPoint]) -> [GridPoint] {
    Self.sorted(points, by: grid.vary.map(\.name), vary: grid.vary)
  }

  /// `points` ordered by their values of `names` in turn: numbers by size, other values in the order
  /// the grid lists them; a stable sort, so points that tie keep their order.
  static func sorted(_ points: [GridPoint], by names: [HyperparameterName], vary: [HyperparameterVariation])
    -> [GridPoint]
  {
    func key(_ point: GridPoint, _ name: HyperparameterName) -> Double {
      let value = name.value(in: point.hyperparameters)
      if let number = value.numericValue { return number }
      return Double(vary.first { $0.name == name }?.values.firstIndex(of: value) ?? -1)
    }
    return points.enumerated().sorted { left, right in
      for name in names {
        let (a, b) = (key(left.element, name), key(right.element, name))
        if a != b { return a < b }
      }
      return left.offset < right.offset
    }.map(\.element)
  }

  /// `trac alpha=0.1`, `trac alpha=0.1 eta=0.5`, `trac base`, `bc_all`: unique within a task.
  func label(_ algorithm: Algorithm, _ point: GridPoint) -> String {
    grid.settingLabel(algorithm, pointID: point.id)
  }

  static func varied(_ point: GridPoint) -> [String: HyperparameterValue] {
    Dictionary(point.settings.map { ($0.name.rawValue, $0.value) }, uniquingKeysWith: { first, _ in first })
  }

  private func sweepInfo() -> SensitivityReport.Sweep {
    SensitivityReport.Sweep(
      id: sweepID, name: grid.name, design: grid.design.rawValue, tasks: grid.tasks.map(\.task.dsrlID),
      algorithms: grid.algorithms.map(\.rawValue), costThresholds: grid.costThresholds, seeds: grid.seeds,
      base: Dictionary(
        uniqueKeysWithValues: HyperparameterName.allCases.map { ($0.rawValue, $0.value(in: grid.base)) }),
      vary: grid.vary.map { .init(name: $0.name.rawValue, values: $0.values) })
  }

  // MARK: Settings

  private func summarize(_ setting: SettingRuns) -> SensitivityReport.Setting {
    let runs = setting.recorded
    let reward = MeanStd(runs.map { $0.normalizedReward! })
    let cost = MeanStd(runs.map { $0.normalizedCost! })
    return SensitivityReport.Setting(
      task: setting.task, algorithm: setting.algorithm.rawValue, point: setting.point.id,
      label: setting.label,
      varied: Self.varied(setting.point),
      hyperparameters: Dictionary(
        uniqueKeysWithValues: HyperparameterName.allCases
          .filter { setting.algorithm == .trac || !$0.isTracOnly }
          .map { ($0.rawValue, $0.value(in: setting.point.hyperparameters)) }),
      runs: runs.count, expected: setting.expected.count, seeds: Set(runs.map(\.seed)).count,
      reward: reward, cost: cost,
      safeShare: Self.safeShare(runs), safe: cost.mean.map { $0 <= 1 }, bestSafe: false,
      byThreshold: grid.costThresholds.map { threshold in
        let group = runs.filter { $0.costThreshold == threshold }
        return SensitivityReport.Threshold(
          costThreshold: threshold, runs: group.count, seeds: Set(group.map(\.seed)).count,
          reward: MeanStd(group.map { $0.normalizedReward! }),
          cost: MeanStd(group.map { $0.normalizedCost! }), safeShare: Self.safeShare(group))
      })
  }

  private static func safeShare(_ runs: [RunObservation]) -> Double? {
    runs.isEmpty ? nil : Double(runs.filter { $0.normalizedCost! <= 1 }.count) / Double(runs.count)
  }

  /// Per task, the safe setting with the highest mean reward (the first in grid order on a tie).
  private func markBestSafe(_ summaries: inout [SensitivityReport.Setting]) {
    var best: [String: Int] = [:]
    for (index, setting) in summaries.enumerated() where setting.safe == true {
      guard let reward = setting.reward.mean else { continue }
      if let current = best[setting.task], let bestReward = summaries[current].reward.mean,
        bestReward >= reward
      {
        continue
      }
      best[setting.task] = index
    }
    for index in best.values { summaries[index].bestSafe = true }
  }

  // MARK: Sensitivity

  private func sensitivity(
    task: String, settings: [SettingRuns], summaries: [SensitivityReport.Setting]
  ) -> SensitivityReport.TaskSensitivity {
    let trac = settings.indices.filter { settings[$0].task == task && settings[$0].algorithm == .trac }
    let baselines = settings.indices.filter { settings[$0].task == task && settings[$0].algorithm != .trac }
      .map {
        SensitivityReport.Baseline(
          label: summaries[$0].label, reward: summaries[$0].reward, cost: summaries[$0].cost)
      }
    var result = SensitivityReport.TaskSensitivity(
      task: task, design: grid.design.rawValue, curves: [], anova: nil, baselines: baselines)
    guard !trac.isEmpty, !grid.vary.isEmpty else { return result }
    switch grid.design {
    case .oneAtATime:
      result.curves = grid.vary.map { variation in
        let along = curvePoints(variation.name)
        let members = along.compactMap { point in trac.first { settings[$0].point == point } }
        return curve(variation.name, members.map { settings[$0] }, members.map { summaries[$0] })
      }
    case .product:
      result.anova = FunctionalANOVA.decompose(
        vary: grid.vary, settings: trac.map { settings[$0] }, summaries: trac.map { summaries[$0] })
    }
    return result
  }

  private func curve(
    _ name: HyperparameterName, _ settings: [SettingRuns], _ summaries: [SensitivityReport.Setting]
  ) -> SensitivityReport.Curve {
    func metric(_ pick: (SensitivityReport.Setting) -> MeanStd, _ value: (RunObservation) -> Double)
      -> SensitivityReport.CurveMetric
    {
      let means = summaries.map { pick($0).mean }
      let present = means.compactMap { $0 }
      let cells = settings.flatMap { setting in
        grid.costThresholds.map { threshold in
          setting.recorded.filter { $0.costThreshold == threshold }.map(value)
        }
      }
      return .init(
        means: means, stds: summaries.map { pick($0).std },
        range: present.count >= 2 ? present.max()! - present.min()! : nil,
        seedStd: Statistics.pooledStd(cells))
    }
    return SensitivityReport.Curve(
      hyperparameter: name.rawValue, values: settings.map { name.value(in: $0.point.hyperparameters) },
      labels: summaries.map(\.label), reward: metric(\.reward) { $0.normalizedReward! },
      cost: metric(\.cost) { $0.normalizedCost! })
  }
}
