import Foundation

/// A parsed and validated grid file (docs/GRID.md). Every value has been checked, with the JSON
/// path of the first bad one in the error; `points` and `runs` (GridExpansion.swift) expand it.
public struct GridFile: Equatable, Sendable {
  /// How the points are formed from `vary`.
  public enum Design: String, Hashable, Sendable, CaseIterable {
    /// The base point, plus each value of each varied hyperparameter with the others at base.
    case oneAtATime = "one_at_a_time"
    /// The full Cartesian product of the varied hyperparameters' values.
    case product
  }

  /// A task and its dataset file; nil means the task's DSRL file in `$DSRL_DATASET_DIR`, found later.
  public struct TaskDataset: Hashable, Sendable {
    public let task: TaskInfo
    public let datasetPath: String?

    public init(task: TaskInfo, datasetPath: String?) {
      self.task = task
      self.datasetPath = datasetPath
    }
  }

  /// More points or runs than this is surely a mistake in the file, refused before it fills the memory.
  public static let maximumPoints = 100_000
  public static let maximumRuns = 1_000_000

  public let name: String
  /// Each task with its dataset, in the file's order.
  public let tasks: [TaskDataset]
  public let algorithms: [Algorithm]
  /// `base` with the defaults (`Hyperparameters()`) for the keys the file leaves out.
  public let base: Hyperparameters
  /// In the file's order, which is the order of `points`.
  public let vary: [HyperparameterVariation]
  public let design: Design
  public let costThresholds: [Double]
  public let seeds: [UInt64]
  public let evalEpisodes: Int
  public let evalSeed: UInt64
  /// Which BLAS kernel computes the runs: each worker its fastest (default) or one kernel everywhere.
  public let blas: BLASMode
  /// How the runs' batches are cut: permutations in full batches (default) or the official code's epochs.
  public let batching: Batching
  /// Steps between lines of every run's train.jsonl; nil: the trainer's default.
  public let logEvery: Int?
  /// The TraC points, unique, in a deterministic order (see `GridFile.expandPoints`).
  public let points: [GridPoint]

  static let topLevelKeys = [
    "name", "task", "dataset", "algorithm", "base", "vary", "design", "cost_thresholds", "seeds", "eval",
    "blas", "batching", "log_every",
  ]

  /// Parses and checks a grid file. Throws the first problem found, with its JSON path.
  public init(parsing data: Data) throws(GridError) {
    let root = try GridJSONReader.read(data)
    let file = try GridObject(
      GridValue(json: root, path: .root), allowedKeys: Self.topLevelKeys, describing: "a grid file")

    name = try Self.decodeName(file.required("name", "the sweep's name, e.g. \"ballcircle-alpha-eta\""))
    tasks = try Self.decodeTasks(
      file.required("task", "a DSRL task id or a list of them"), datasets: file.optional("dataset"))
    algorithms = try Self.decodeAlgorithms(
      file.required("algorithm", "trac, bc_all, bc_safe, or a list of them"))

    // The defaults are the paper's for the tasks' family (BulletGym and Safety-Gymnasium differ in y,
    // alpha, eta and seg_ratio); a grid that mixes families must give those in base.
    let families = Set(tasks.map(\.task.family))
    var givenInBase = Set<HyperparameterName>()
    var base = families.count == 1 ? families.first!.defaultHyperparameters : Hyperparameters()
    if let baseField = file.optional("base") {
      let object = try GridObject(
        baseField, allowedKeys: HyperparameterName.allCases.map(\.rawValue), describing: "base")
      for (key, field) in object.members {
        let name = HyperparameterName(rawValue: key)!
        name.set(try Self.decodeHyperparameter(name, field), in: &base)
        givenInBase.insert(name)
      }
    }
    if families.count > 1 {
      let ambiguous = HyperparameterName.allCases.filter { name in
        !givenInBase.contains(name)
          && Set(families.map { name.value(in: $0.defaultHyperparameters) }).count > 1
      }
      if !ambiguous.isEmpty {
        let names = ambiguous.map(\.rawValue).joined(separator: ", ")
        throw GridPath.root.key("base").error(
          "the tasks are of different families (\(families.map(\.displayName).sorted().joined(separator: ", "))),"
            + " whose paper defaults differ in \(names): give \(names) in base")
      }
    }
    self.base = base

    var vary: [HyperparameterVariation] = []
    if let varyField = file.optional("vary") {
      let object = try GridObject(
        varyField, allowedKeys: HyperparameterName.allCases.map(\.rawValue), describing: "vary")
      for (key, field) in object.members {
        let name = HyperparameterName(rawValue: key)!
        var values: [HyperparameterValue] = []
        for element in try field.list(
          of: "values to try", ifEmpty: "is an empty list: give at least one value to try, or remove the key")
        {
          let value = try Self.decodeHyperparameter(name, element)
          if let earlier = values.firstIndex(of: value) {
            throw element.path.error("repeats the value \(value) of \(field.path.index(earlier))")
          }
          values.append(value)
        }
        vary.append(HyperparameterVariation(name: name, values: values))
      }
    }
    self.vary = vary

    let designHint = "one_at_a_time or product"
    var designField = file.optional("design")
    if !vary.isEmpty { designField = try file.required("design", designHint) }
    if let designField {
      let text = try designField.string()
      guard let design = Design(rawValue: text) else {
        throw designField.path.error("unknown design \(GridPath.quote(text)); expected \(designHint)")
      }
      self.design = design
    } else {
      design = .oneAtATime
    }

    costThresholds = try Self.decodeCostThresholds(
      file.required("cost_thresholds", "a list of cost thresholds, e.g. [10, 20, 40]"))
    seeds = try Self.decodeSeeds(file.required("seeds", "a list of seeds, e.g. [0, 10, 20]"))

    var evalEpisodes = 20
    var evalSeed: UInt64 = 0
    if let evalField = file.optional("eval") {
      let object = try GridObject(evalField, allowedKeys: ["episodes", "seed"], describing: "eval")
      if let episodes = object.optional("episodes") {
        evalEpisodes = try episodes.integer()
        guard evalEpisodes >= 0 else {
          throw episodes.path.error(
            "the number of evaluation episodes must be at least 0 (0: train only, no evaluation), got \(evalEpisodes)"
          )
        }
      }
      if let seed = object.optional("seed") { evalSeed = try seed.unsignedInteger() }
    }
    self.evalEpisodes = evalEpisodes
    self.evalSeed = evalSeed
    blas = try file.optional("blas")?.choice(of: BLASMode.self, named: "BLAS mode") ?? .fastest
    batching = try file.optional("batching")?.choice(of: Batching.self, named: "batching") ?? .full
    if let field = file.optional("log_every") {
      let value = try field.integer()
      guard value >= 1 else {
        throw field.path.error("must be at least 1 (steps between log lines), got \(value)")
      }
      logEvery = value
    } else {
      logEvery = nil
    }

    guard let pointCount = Self.pointCount(vary: vary, design: design), pointCount <= Self.maximumPoints
    else {
      throw GridPath.root.key("vary").error(
        "the \(design.rawValue) design gives more than \(Self.maximumPoints) points; vary fewer values")
    }
    points = Self.expandPoints(base: base, vary: vary, design: design)
    try Self.checkPoints(
      points, vary: vary, givenInBase: givenInBase, algorithm: algorithms.contains(.trac) ? .trac : .bcAll)
    if runCount > Self.maximumRuns {
      throw GridPath.root.error("the grid has \(runCount) runs, more than the limit of \(Self.maximumRuns)")
    }
  }

  // MARK: Identity

  /// The parsed grid as JSON with sorted keys and no whitespace (`JSONCodec.canonicalEncoder`): defaults
  /// filled in, tasks by DSRL id, single values as lists, `vary` by key. Two files that differ only in key
  /// order, spacing, number spelling or left-out defaults have the same canonical form; the form is itself
  /// a grid file that parses back to the same grid (with `vary` in key order).
  public var canonicalJSON: Data {
    try! JSONCodec.canonicalEncoder.encode(CanonicalGrid(self))
  }

  /// The SHA-256 of `canonicalJSON`, in hex: the same grid submitted twice has the same hash.
  public var canonicalSHA256: String {
    sha256Hex(canonicalJSON)
  }

  /// The sweep's short id: the first 8 hex digits of `canonicalSHA256` (the canonical form holds the name).
  public var sweepID: String { String(canonicalSHA256.prefix(8)) }

  /// What differs between `other` (the old grid) and this one, as `path: old -> new` lines in canonical
  /// form, e.g. `$.vary.alpha[2]: 0.2 -> 0.3`; empty when the grids are the same.
  public func differences(from other: GridFile) -> [String] {
    let oldJSON = other.canonicalJSON
    let newJSON = canonicalJSON
    guard let old = try? GridJSONReader.read(oldJSON), let new = try? GridJSONReader.read(newJSON) else {
      // Cannot happen (the encoder writes valid JSON); still, say something true rather than crash.
      if oldJSON == newJSON { return [] }
      return ["$: \(String(decoding: oldJSON, as: UTF8.self)) -> \(String(decoding: newJSON, as: UTF8.self))"]
    }
    var lines: [String] = []
    Self.collectDifferences(old, new, at: .root, into: &lines)
    return lines
  }

  private static func collectDifferences(
    _ old: GridJSON, _ new: GridJSON, at path: GridPath, into lines: inout [String]
  ) {
    switch (old, new) {
    case (.object(let oldMembers), .object(let newMembers)):
      let oldValues = Dictionary(
        oldMembers.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
      let newValues = Dictionary(
        newMembers.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
      var keys = oldMembers.map(\.key)
      keys += newMembers.map(\.key).filter { oldValues[$0] == nil }
      for key in keys {
        switch (oldValues[key], newValues[key]) {
        case (let oldValue?, let newValue?):
          collectDifferences(oldValue, newValue, at: path.key(key), into: &lines)
        case (let oldValue?, nil): lines.append("\(path.key(key)): \(oldValue.rendered) -> (absent)")
        case (nil, let newValue?): lines.append("\(path.key(key)): (absent) -> \(newValue.rendered)")
        case (nil, nil): break
        }
      }
    case (.array(let oldElements), .array(let newElements)) where oldElements.count == newElements.count:
      for (index, (oldElement, newElement)) in zip(oldElements, newElements).enumerated() {
        collectDifferences(oldElement, newElement, at: path.index(index), into: &lines)
      }
    default:
      if old.rendered != new.rendered { lines.append("\(path): \(old.rendered) -> \(new.rendered)") }
    }
  }

  // MARK: Decoding

  private static func decodeName(_ field: GridValue) throws(GridError) -> String {
    let name = try field.string()
    let allowed = name.unicodeScalars.allSatisfy {
      $0.isASCII
        && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_".unicodeScalars.contains($0))
    }
    guard !name.isEmpty, allowed, name.count <= 64 else {
      throw field.path.error(
        "a sweep name is 1 to 64 ASCII letters, digits, '.', '-' or '_', got \(GridPath.quote(name))")
    }
    return name
  }

  private static func decodeTasks(_ taskField: GridValue, datasets: GridValue?) throws(GridError)
    -> [TaskDataset]
  {
    var tasks: [TaskInfo] = []
    var taskPaths: [GridPath] = []
    for element in try taskField.list(
      of: "DSRL task ids", ifEmpty: "is an empty list, so the grid would have no runs", allowingSingle: true)
    {
      let name = try element.string()
      do {
        tasks.append(try TaskInfo.named(name))
      } catch {
        throw element.path.error(error.description)
      }
      taskPaths.append(element.path)
    }

    var datasetPaths = [String?](repeating: nil, count: tasks.count)
    if let datasets {
      let taskList = taskField.json.isArray ? "a list of \(tasks.count) tasks" : "one task"
      switch datasets.json {
      case .array(let elements):
        guard elements.count == tasks.count else {
          throw datasets.path.error(
            "has \(elements.count) files for \(taskList): give one file per task, in the order of $.task, or"
              + " leave dataset out to use each task's DSRL file from $DSRL_DATASET_DIR")
        }
        for (index, element) in try datasets.list(of: "dataset files", ifEmpty: "is an empty list")
          .enumerated()
        {
          datasetPaths[index] = try element.nonEmptyString()
        }
      case .string:
        guard tasks.count == 1 else {
          throw datasets.path.error(
            "is one file for \(taskList): give a list of one file per task, in the order of $.task, or leave"
              + " dataset out to use each task's DSRL file from $DSRL_DATASET_DIR")
        }
        datasetPaths[0] = try datasets.nonEmptyString()
      default:
        throw datasets.typeError("a dataset file path or a list of them")
      }
    }

    var result: [TaskDataset] = []
    for (index, task) in tasks.enumerated() {
      let pair = TaskDataset(task: task, datasetPath: datasetPaths[index])
      if let earlier = result.firstIndex(of: pair) {
        let what =
          pair.datasetPath.map { "\(task.dsrlID) with the dataset \(GridPath.quote($0))" } ?? task.dsrlID
        throw taskPaths[index].error("repeats \(what), already at \(taskPaths[earlier])")
      }
      result.append(pair)
    }
    return result
  }

  private static func decodeAlgorithms(_ field: GridValue) throws(GridError) -> [Algorithm] {
    var algorithms: [Algorithm] = []
    for element in try field.list(
      of: "algorithms", ifEmpty: "is an empty list, so the grid would have no runs", allowingSingle: true)
    {
      let text = try element.string()
      guard let algorithm = Algorithm(rawValue: text) else {
        let known = Algorithm.allCases.map(\.rawValue).joined(separator: ", ")
        throw element.path.error("unknown algorithm \(GridPath.quote(text)); expected one of: \(known)")
      }
      if let earlier = algorithms.firstIndex(of: algorithm) {
        throw element.path.error("repeats \(text), already at \(field.path.index(earlier))")
      }
      algorithms.append(algorithm)
    }
    return algorithms
  }

  private static func decodeHyperparameter(
    _ name: HyperparameterName, _ field: GridValue
  ) throws(GridError) -> HyperparameterValue {
    let value: HyperparameterValue
    switch name {
    case .batchSize, .bcSteps, .steps, .warmupSteps:
      value = .integer(try field.integer())
    case .reference:
      let text = try field.string()
      guard let policy = ReferencePolicy(rawValue: text) else {
        let known = ReferencePolicy.allCases.map(\.rawValue).joined(separator: ", ")
        throw field.path.error("unknown reference policy \(GridPath.quote(text)); expected one of: \(known)")
      }
      value = .reference(policy)
    case .segments:
      let text = try field.string()
      guard let selection = SegmentSelection(rawValue: text) else {
        let known = SegmentSelection.allCases.map(\.rawValue).joined(separator: ", ")
        throw field.path.error("unknown segment selection \(GridPath.quote(text)); expected one of: \(known)")
      }
      value = .segments(selection)
    case .x, .y, .alpha, .eta, .beta, .gamma, .segRatio, .lr, .tracLRScale:
      value = .real(try field.number())
    }
    if let problem = name.rangeProblem(of: value) { throw field.path.error(problem) }
    return value
  }

  private static func decodeCostThresholds(_ field: GridValue) throws(GridError) -> [Double] {
    var thresholds: [Double] = []
    for element in try field.list(
      of: "cost thresholds", ifEmpty: "is an empty list, so the grid would have no runs")
    {
      let threshold = try element.number()
      guard threshold >= 0 else {
        throw element.path.error("a cost threshold must be at least 0, got \(formatNumber(threshold))")
      }
      if let earlier = thresholds.firstIndex(of: threshold) {
        throw element.path.error(
          "repeats \(formatNumber(threshold)), already at \(field.path.index(earlier))")
      }
      thresholds.append(threshold)
    }
    return thresholds
  }

  private static func decodeSeeds(_ field: GridValue) throws(GridError) -> [UInt64] {
    var seeds: [UInt64] = []
    for element in try field.list(of: "seeds", ifEmpty: "is an empty list, so the grid would have no runs") {
      let seed = try element.unsignedInteger()
      if let earlier = seeds.firstIndex(of: seed) {
        throw element.path.error("repeats the seed \(seed), already at \(field.path.index(earlier))")
      }
      seeds.append(seed)
    }
    return seeds
  }

  /// Checks the hyperparameters of every point together (x + y <= 1, steps >= bc_steps), naming the
  /// varied value that breaks the rule, or the base value when the base point itself breaks it.
  private static func checkPoints(
    _ points: [GridPoint], vary: [HyperparameterVariation], givenInBase: Set<HyperparameterName>,
    algorithm: Algorithm
  ) throws(GridError) {
    for point in points {
      do {
        try point.hyperparameters.validate(algorithm: algorithm)
      } catch {
        guard case .invalidHyperparameter(let option, let message) = error else {
          throw GridPath.root.error(error.description)
        }
        // Each value alone passed its range check, so this is a rule between two of them. The option
        // names one or both: "--x/--y" -> [x, y]; "--steps" (at least --bc-steps) -> [steps, bc_steps].
        var names = option.split(separator: "/").compactMap {
          HyperparameterName(rawValue: String($0.drop { $0 == "-" }).replacingOccurrences(of: "-", with: "_"))
        }
        if names == [.steps] { names.append(.bcSteps) }
        let location = point.settings.isEmpty ? "at the base point" : "at the point \(point.id)"
        var path = GridPath.root.key("base")
        var pathName: HyperparameterName?
        if let setting = point.settings.first(where: { names.contains($0.name) }),
          let variation = vary.first(where: { $0.name == setting.name }),
          let index = variation.values.firstIndex(of: setting.value)
        {
          path = GridPath.root.key("vary").key(setting.name.rawValue).index(index)
          pathName = setting.name
        } else if let name = names.first(where: { givenInBase.contains($0) }) {
          path = path.key(name.rawValue)
          pathName = name
        }
        // The message speaks of command-line options; say grid keys, and whose rule it is.
        var text = message
        for name in HyperparameterName.allCases {
          text = text.replacingOccurrences(
            of: "--" + name.rawValue.replacingOccurrences(of: "_", with: "-"), with: name.rawValue)
        }
        if let first = names.first, pathName != first { text = "\(first.rawValue): \(text)" }
        throw path.error("\(text) (\(location))")
      }
    }
  }
}

// MARK: - Canonical form

/// The grid's canonical form: every key a grid file has, in the file format's own names.
private struct CanonicalGrid: Encodable {
  struct Eval: Encodable {
    let episodes: Int
    let seed: UInt64
  }

  let name: String
  let task: [String]
  let dataset: [String]?
  let algorithm: [Algorithm]
  let base: Hyperparameters
  let vary: [String: [HyperparameterValue]]
  let design: String
  let costThresholds: [Double]
  let seeds: [UInt64]
  let eval: Eval
  /// Nil at `fastest`, so every sweep id from before the key is unchanged.
  let blas: BLASMode?
  /// Nil at `full`, likewise.
  let batching: Batching?
  let logEvery: Int?

  init(_ grid: GridFile) {
    name = grid.name
    task = grid.tasks.map(\.task.dsrlID)
    let datasets = grid.tasks.compactMap(\.datasetPath)
    dataset = datasets.isEmpty ? nil : datasets
    algorithm = grid.algorithms
    base = grid.base
    vary = Dictionary(
      grid.vary.map { ($0.name.rawValue, $0.values) }, uniquingKeysWith: { first, _ in first })
    design = grid.design.rawValue
    costThresholds = grid.costThresholds
    seeds = grid.seeds
    eval = Eval(episodes: grid.evalEpisodes, seed: grid.evalSeed)
    blas = grid.blas == .fastest ? nil : grid.blas
    batching = grid.batching == .full ? nil : grid.batching
    logEvery = grid.logEvery
  }

  enum CodingKeys: String, CodingKey {
    case name, task, dataset, algorithm, base, vary, design
    case costThresholds = "cost_thresholds"
    case seeds, eval, blas, batching
    case logEvery = "log_every"
  }
}
