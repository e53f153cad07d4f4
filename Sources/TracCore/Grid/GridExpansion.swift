/// One varied hyperparameter at one of its values, e.g. `alpha=0.05`.
public struct HyperparameterSetting: Hashable, Sendable, CustomStringConvertible {
  public let name: HyperparameterName
  public let value: HyperparameterValue

  public init(name: HyperparameterName, value: HyperparameterValue) {
    self.name = name
    self.value = value
  }

  public var description: String { "\(name.rawValue)=\(value)" }
}

/// One setting of every hyperparameter (docs/GRID.md, Designs).
public struct GridPoint: Hashable, Sendable, Identifiable {
  /// `base`, `alpha=0.05`, or `alpha=0.05,eta=0.1` (product design): unique within a grid.
  public let id: String
  public let hyperparameters: Hyperparameters
  /// The values this point takes from `vary`, in `vary`'s order; empty for the base point.
  public let settings: [HyperparameterSetting]

  init(hyperparameters: Hyperparameters, settings: [HyperparameterSetting]) {
    self.id = settings.isEmpty ? "base" : settings.map(\.description).joined(separator: ",")
    self.hyperparameters = hyperparameters
    self.settings = settings
  }

  /// The one hyperparameter this point changes from the base point, for one-at-a-time reports; nil for
  /// the base point and for product points that take values of several varied hyperparameters.
  public var varied: HyperparameterSetting? { settings.count == 1 ? settings[0] : nil }
}

/// One run of a grid: task (and dataset) x algorithm x point x cost threshold x seed.
public struct GridRun: Hashable, Sendable {
  public let task: TaskInfo
  /// Nil: the task's DSRL file in the coordinator's `$DSRL_DATASET_DIR`, resolved at submit.
  public let datasetPath: String?
  public let algorithm: Algorithm
  public let point: GridPoint
  public let costThreshold: Double
  public let seed: UInt64
  public let evalEpisodes: Int
  public let evalSeed: UInt64
  /// The grid's `blas` mode (docs/PERFORMANCE.md).
  public var blas: BLASMode = .fastest
  /// The grid's `batching` (docs/ALGORITHM.md section 5).
  public var batching: Batching = .full
  /// The grid's `log_every`.
  public var logEvery: Int? = nil

  public var hyperparameters: Hyperparameters { point.hyperparameters }
  public var pointID: String { point.id }
  /// See `GridPoint.varied`.
  public var varied: HyperparameterSetting? { point.varied }

  /// Everything that determines the run's result; its `runID` is the run's id.
  public func spec(datasetSHA256: String) -> RunSpec {
    RunSpec(
      task: task.dsrlID, datasetSHA256: datasetSHA256, algorithm: algorithm, hyperparameters: hyperparameters,
      costThreshold: costThreshold, seed: seed, evalEpisodes: evalEpisodes, evalSeed: evalSeed, blas: blas,
      batching: batching, logEvery: logEvery)
  }
}

extension GridFile {
  /// A setting's label, the same in `results`, the report and its `results.csv`: `trac alpha=0.1`,
  /// `trac alpha=0.1 eta=0.5`, `trac x=0.5` (the base point of a one-hyperparameter study), `trac base`,
  /// `bc_all`. Unique within a task. `pointID` is `GridPoint.id`.
  public func settingLabel(_ algorithm: Algorithm, pointID: String) -> String {
    var parts = [algorithm.rawValue]
    if pointID != "base" {
      parts += pointID.split(separator: ",").map(String.init)
    } else if algorithm == .trac, !vary.isEmpty {
      if vary.count == 1, let only = vary.first {
        parts.append("\(only.name.rawValue)=\(only.name.value(in: base))")
      } else {
        parts.append("base")
      }
    }
    return parts.joined(separator: " ")
  }

  /// The points `algorithm` runs at. TraC runs at every point. The BC baselines ignore the TraC-only
  /// hyperparameters (`HyperparameterName.isTracOnly`), so they run once per distinct setting of the
  /// others: with only TraC-only hyperparameters varied, once, at the base point. Their TraC-only values
  /// are the defaults (`Hyperparameters()`) rather than the grid's base, so that every sweep containing
  /// the same BC run gives it the same run id and shares its result.
  public func points(for algorithm: Algorithm) -> [GridPoint] {
    guard algorithm != .trac else { return points }
    let defaults = Hyperparameters()
    var seen = Set<Hyperparameters>()
    var result: [GridPoint] = []
    for point in points {
      var hyperparameters = point.hyperparameters
      for name in HyperparameterName.allCases where name.isTracOnly {
        name.set(name.value(in: defaults), in: &hyperparameters)
      }
      if seen.insert(hyperparameters).inserted {
        result.append(
          GridPoint(hyperparameters: hyperparameters, settings: point.settings.filter { !$0.name.isTracOnly })
        )
      }
    }
    return result
  }

  /// The points that differ from the base point in `name` only, one per value of `name` in `vary`, in
  /// that order; the base point stands for the base value. This is one curve of a one-at-a-time study.
  public func points(along name: HyperparameterName) -> [GridPoint] {
    guard let variation = vary.first(where: { $0.name == name }) else { return [] }
    return variation.values.compactMap { value in
      var hyperparameters = base
      name.set(value, in: &hyperparameters)
      return points.first { $0.hyperparameters == hyperparameters }
    }
  }

  /// Every run: for each task (with its dataset), each algorithm, each of the algorithm's points
  /// (`points(for:)`), each cost threshold, each seed, in that nesting and the file's order.
  public var runs: [GridRun] {
    var runs: [GridRun] = []
    runs.reserveCapacity(runCount)
    let pointsByAlgorithm = algorithms.map { points(for: $0) }
    for target in tasks {
      for (algorithm, points) in zip(algorithms, pointsByAlgorithm) {
        for point in points {
          for costThreshold in costThresholds {
            for seed in seeds {
              runs.append(
                GridRun(
                  task: target.task, datasetPath: target.datasetPath, algorithm: algorithm, point: point,
                  costThreshold: costThreshold, seed: seed, evalEpisodes: evalEpisodes, evalSeed: evalSeed,
                  blas: blas, batching: batching, logEvery: logEvery))
            }
          }
        }
      }
    }
    return runs
  }

  /// `runs.count`, without building the runs.
  public var runCount: Int {
    let pointsPerTask = algorithms.reduce(0) { $0 + points(for: $1).count }
    return tasks.count * pointsPerTask * costThresholds.count * seeds.count
  }

  /// The TraC points of a design. One at a time: the base point, then for each varied hyperparameter
  /// (in `vary`'s order) each of its values (in list order) with the others at base, skipping a value
  /// equal to the base value (that point is the base point). Product: every combination, the first
  /// varied hyperparameter changing slowest.
  static func expandPoints(
    base: Hyperparameters, vary: [HyperparameterVariation], design: Design
  ) -> [GridPoint] {
    switch design {
    case .oneAtATime:
      var points = [GridPoint(hyperparameters: base, settings: [])]
      var seen: Set<Hyperparameters> = [base]
      for variation in vary {
        for value in variation.values {
          var hyperparameters = base
          variation.name.set(value, in: &hyperparameters)
          if seen.insert(hyperparameters).inserted {
            points.append(
              GridPoint(
                hyperparameters: hyperparameters,
                settings: [HyperparameterSetting(name: variation.name, value: value)]))
          }
        }
      }
      return points
    case .product:
      var combinations: [[HyperparameterSetting]] = [[]]
      for variation in vary {
        combinations = combinations.flatMap { prefix in
          variation.values.map { prefix + [HyperparameterSetting(name: variation.name, value: $0)] }
        }
      }
      return combinations.map { settings in
        var hyperparameters = base
        for setting in settings { setting.name.set(setting.value, in: &hyperparameters) }
        return GridPoint(hyperparameters: hyperparameters, settings: settings)
      }
    }
  }

  /// How many points `expandPoints` will give (at most; one at a time may merge values into the base
  /// point), or nil if that does not fit in an `Int`.
  static func pointCount(vary: [HyperparameterVariation], design: Design) -> Int? {
    var count = 1
    for variation in vary {
      let (next, overflow) =
        design == .oneAtATime
        ? count.addingReportingOverflow(variation.values.count)
        : count.multipliedReportingOverflow(by: variation.values.count)
      if overflow { return nil }
      count = next
    }
    return count
  }
}
