import Crypto
import Foundation

/// A hyperparameter as grid files name it (the keys of `base` and `vary`, TRAC.md sections 2-5).
public enum HyperparameterName: String, Hashable, Sendable, CaseIterable, Codable {
  case x, y, alpha, eta, beta, gamma
  case segRatio = "seg_ratio"
  case batchSize = "batch_size"
  case lr
  case bcSteps = "bc_steps"
  case steps, reference

  /// Whether only TraC reads it. The BC baselines ignore x, y, alpha, eta, beta, gamma, reference and
  /// bc_steps: they train on every segment (or every safe episode) for `steps` updates.
  public var isTracOnly: Bool {
    switch self {
    case .segRatio, .batchSize, .lr, .steps: return false
    case .x, .y, .alpha, .eta, .beta, .gamma, .reference, .bcSteps: return true
    }
  }

  public func value(in hyperparameters: Hyperparameters) -> HyperparameterValue {
    switch self {
    case .x: return .real(hyperparameters.x)
    case .y: return .real(hyperparameters.y)
    case .alpha: return .real(hyperparameters.alpha)
    case .eta: return .real(hyperparameters.eta)
    case .beta: return .real(hyperparameters.beta)
    case .gamma: return .real(hyperparameters.gamma)
    case .segRatio: return .real(hyperparameters.segRatio)
    case .batchSize: return .integer(hyperparameters.batchSize)
    case .lr: return .real(hyperparameters.lr)
    case .bcSteps: return .integer(hyperparameters.bcSteps)
    case .steps: return .integer(hyperparameters.steps)
    case .reference: return .reference(hyperparameters.reference)
    }
  }

  /// Sets this hyperparameter; `value` is of this name's kind (the grid parser makes sure of that).
  func set(_ value: HyperparameterValue, in hyperparameters: inout Hyperparameters) {
    switch (self, value) {
    case (.x, .real(let number)): hyperparameters.x = number
    case (.y, .real(let number)): hyperparameters.y = number
    case (.alpha, .real(let number)): hyperparameters.alpha = number
    case (.eta, .real(let number)): hyperparameters.eta = number
    case (.beta, .real(let number)): hyperparameters.beta = number
    case (.gamma, .real(let number)): hyperparameters.gamma = number
    case (.segRatio, .real(let number)): hyperparameters.segRatio = number
    case (.batchSize, .integer(let count)): hyperparameters.batchSize = count
    case (.lr, .real(let number)): hyperparameters.lr = number
    case (.bcSteps, .integer(let count)): hyperparameters.bcSteps = count
    case (.steps, .integer(let count)): hyperparameters.steps = count
    case (.reference, .reference(let policy)): hyperparameters.reference = policy
    default: preconditionFailure("\(value) is not a value of \(rawValue)")
    }
  }

  /// What is wrong with `value` on its own, in `Hyperparameters.validate(algorithm:)`'s words, or nil.
  /// The checks that involve two hyperparameters (x + y <= 1, steps >= bc_steps) are made per point.
  func rangeProblem(of value: HyperparameterValue) -> String? {
    var probe = Hyperparameters()
    probe.x = 0
    probe.y = 0
    set(value, in: &probe)
    do {
      try probe.validate(algorithm: .bcAll)  // BC does not require steps >= bc_steps
      return nil
    } catch {
      if case .invalidHyperparameter(_, let message) = error { return message }
      return error.description
    }
  }
}

/// One value of a hyperparameter in a grid file.
public enum HyperparameterValue: Hashable, Sendable, Encodable, CustomStringConvertible {
  case real(Double)
  case integer(Int)
  case reference(ReferencePolicy)

  /// The value as a number, for plotting; nil for a reference policy.
  public var numericValue: Double? {
    switch self {
    case .real(let number): return number
    case .integer(let count): return Double(count)
    case .reference: return nil
    }
  }

  /// `0.05`, `30000`, `uniform`: the form of point ids and reports.
  public var description: String {
    switch self {
    case .real(let number): return formatNumber(number)
    case .integer(let count): return String(count)
    case .reference(let policy): return policy.rawValue
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .real(let number): try container.encode(number)
    case .integer(let count): try container.encode(count)
    case .reference(let policy): try container.encode(policy)
    }
  }
}

/// One entry of a grid file's `vary`: a hyperparameter and the values to try, in the file's order.
public struct HyperparameterVariation: Hashable, Sendable {
  public let name: HyperparameterName
  public let values: [HyperparameterValue]

  public init(name: HyperparameterName, values: [HyperparameterValue]) {
    self.name = name
    self.values = values
  }
}

/// A parsed and validated grid file (DESIGN.md section 4). Every value has been checked, with the JSON
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
  /// `base` with TRAC.md's defaults for the keys the file leaves out.
  public let base: Hyperparameters
  /// In the file's order, which is the order of `points`.
  public let vary: [HyperparameterVariation]
  public let design: Design
  public let costThresholds: [Double]
  public let seeds: [UInt64]
  public let evalEpisodes: Int
  public let evalSeed: UInt64
  /// The TraC points, unique, in a deterministic order (see `GridFile.expandPoints`).
  public let points: [GridPoint]

  static let topLevelKeys = [
    "name", "task", "dataset", "algorithm", "base", "vary", "design", "cost_thresholds", "seeds", "eval",
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

    var givenInBase = Set<HyperparameterName>()
    var base = Hyperparameters()
    if let baseField = file.optional("base") {
      let object = try GridObject(
        baseField, allowedKeys: HyperparameterName.allCases.map(\.rawValue), describing: "base")
      for (key, field) in object.members {
        let name = HyperparameterName(rawValue: key)!
        name.set(try Self.decodeHyperparameter(name, field), in: &base)
        givenInBase.insert(name)
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
        guard evalEpisodes >= 1 else {
          throw episodes.path.error(
            "the number of evaluation episodes must be at least 1, got \(evalEpisodes)")
        }
      }
      if let seed = object.optional("seed") { evalSeed = try seed.unsignedInteger() }
    }
    self.evalEpisodes = evalEpisodes
    self.evalSeed = evalSeed

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
    SHA256.hash(data: canonicalJSON).map { String(format: "%02x", $0) }.joined()
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
    case .batchSize, .bcSteps, .steps:
      value = .integer(try field.integer())
    case .reference:
      let text = try field.string()
      guard let policy = ReferencePolicy(rawValue: text) else {
        let known = ReferencePolicy.allCases.map(\.rawValue).joined(separator: ", ")
        throw field.path.error("unknown reference policy \(GridPath.quote(text)); expected one of: \(known)")
      }
      value = .reference(policy)
    case .x, .y, .alpha, .eta, .beta, .gamma, .segRatio, .lr:
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
  }

  enum CodingKeys: String, CodingKey {
    case name, task, dataset, algorithm, base, vary, design
    case costThresholds = "cost_thresholds"
    case seeds, eval
  }
}

// MARK: - Reading JSON

/// A JSON value that keeps what `JSONSerialization` loses: the order of an object's keys (the order
/// of `vary` is the order of the points) and a number's literal (seeds are exact 64-bit integers).
private indirect enum GridJSON {
  case object([(key: String, value: GridJSON)])
  case array([GridJSON])
  case string(String)
  case number(literal: String, value: Double)
  case bool(Bool)
  case null

  var isArray: Bool {
    if case .array = self { return true }
    return false
  }

  /// For messages: "a list", "the number 0.5".
  var kindDescription: String {
    switch self {
    case .object: return "an object"
    case .array: return "a list"
    case .string(let text):
      return "the string \(GridPath.quote(text.count > 80 ? String(text.prefix(80)) + "..." : text))"
    case .number(let literal, _): return "the number \(literal)"
    case .bool(let truth): return "\(truth)"
    case .null: return "null"
    }
  }

  /// Compact JSON, for `differences(from:)`.
  var rendered: String {
    switch self {
    case .object(let members):
      return "{" + members.map { "\(GridPath.quote($0.key)): \($0.value.rendered)" }.joined(separator: ", ")
        + "}"
    case .array(let elements): return "[" + elements.map(\.rendered).joined(separator: ", ") + "]"
    case .string(let text): return GridPath.quote(text)
    case .number(let literal, _): return literal
    case .bool(let truth): return "\(truth)"
    case .null: return "null"
    }
  }
}

/// A strict JSON (RFC 8259) reader that reports where it stopped as a JSON path plus line and column,
/// and refuses duplicate keys. Nesting is limited so a hostile file cannot overflow the stack.
private struct GridJSONReader {
  private static let maximumDepth = 64

  private let bytes: [UInt8]
  private var offset = 0

  private init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  static func read(_ data: Data) throws(GridError) -> GridJSON {
    var reader = GridJSONReader(bytes: [UInt8](data))
    if reader.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.offset = 3 }  // a UTF-8 byte order mark
    reader.skipWhitespace()
    let value = try reader.readValue(at: .root, depth: 0)
    reader.skipWhitespace()
    guard reader.offset == reader.bytes.count else {
      throw reader.syntaxError("unexpected text after the end of the JSON value", at: .root)
    }
    return value
  }

  private var next: UInt8? { offset < bytes.count ? bytes[offset] : nil }

  private mutating func skipWhitespace() {
    while let byte = next, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
  }

  private func syntaxError(_ problem: String, at path: GridPath) -> GridError {
    var line = 1
    var column = 1
    for byte in bytes[..<min(offset, bytes.count)] {
      if byte == 0x0A {
        line += 1
        column = 1
      } else if byte & 0xC0 != 0x80 {  // count characters, not UTF-8 continuation bytes
        column += 1
      }
    }
    return path.error("not valid JSON: \(problem) (line \(line), column \(column))")
  }

  private func describeNext() -> String {
    guard let byte = next else { return "the end of the file" }
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    return "the byte 0x\(String(byte, radix: 16))"
  }

  private mutating func readValue(at path: GridPath, depth: Int) throws(GridError) -> GridJSON {
    guard depth < Self.maximumDepth else {
      throw syntaxError("nested more than \(Self.maximumDepth) levels deep", at: path)
    }
    guard let byte = next else { throw syntaxError("expected a value, found the end of the file", at: path) }
    switch byte {
    case UInt8(ascii: "{"): return try readObject(at: path, depth: depth)
    case UInt8(ascii: "["): return try readArray(at: path, depth: depth)
    case UInt8(ascii: "\""): return .string(try readString(at: path))
    case UInt8(ascii: "t"):
      try readWord("true", at: path)
      return .bool(true)
    case UInt8(ascii: "f"):
      try readWord("false", at: path)
      return .bool(false)
    case UInt8(ascii: "n"):
      try readWord("null", at: path)
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try readNumber(at: path)
    default: throw syntaxError("expected a value, found \(describeNext())", at: path)
    }
  }

  private mutating func readObject(at path: GridPath, depth: Int) throws(GridError) -> GridJSON {
    offset += 1  // {
    skipWhitespace()
    var members: [(key: String, value: GridJSON)] = []
    var keys = Set<String>()
    if next == UInt8(ascii: "}") {
      offset += 1
      return .object(members)
    }
    while true {
      guard next == UInt8(ascii: "\"") else {
        throw syntaxError("expected a key in double quotes, found \(describeNext())", at: path)
      }
      let key = try readString(at: path)
      let memberPath = path.key(key)
      guard keys.insert(key).inserted else {
        throw memberPath.error("the key appears twice in the same object")
      }
      skipWhitespace()
      guard next == UInt8(ascii: ":") else {
        throw syntaxError("expected ':' after the key, found \(describeNext())", at: memberPath)
      }
      offset += 1
      skipWhitespace()
      members.append((key, try readValue(at: memberPath, depth: depth + 1)))
      skipWhitespace()
      switch next {
      case UInt8(ascii: ","):
        offset += 1
        skipWhitespace()
      case UInt8(ascii: "}"):
        offset += 1
        return .object(members)
      default:
        throw syntaxError("expected ',' or '}' after a value, found \(describeNext())", at: memberPath)
      }
    }
  }

  private mutating func readArray(at path: GridPath, depth: Int) throws(GridError) -> GridJSON {
    offset += 1  // [
    skipWhitespace()
    var elements: [GridJSON] = []
    if next == UInt8(ascii: "]") {
      offset += 1
      return .array(elements)
    }
    while true {
      let elementPath = path.index(elements.count)
      elements.append(try readValue(at: elementPath, depth: depth + 1))
      skipWhitespace()
      switch next {
      case UInt8(ascii: ","):
        offset += 1
        skipWhitespace()
      case UInt8(ascii: "]"):
        offset += 1
        return .array(elements)
      default:
        throw syntaxError("expected ',' or ']' after a value, found \(describeNext())", at: elementPath)
      }
    }
  }

  private mutating func readString(at path: GridPath) throws(GridError) -> String {
    offset += 1  // "
    var utf8: [UInt8] = []
    while true {
      guard let byte = next else { throw syntaxError("a string is not closed", at: path) }
      offset += 1
      switch byte {
      case UInt8(ascii: "\""):
        let text = String(decoding: utf8, as: UTF8.self)
        guard text.utf8.elementsEqual(utf8) else {
          throw syntaxError("a string is not valid UTF-8", at: path)
        }
        return text
      case UInt8(ascii: "\\"):
        guard let escape = next else { throw syntaxError("a string is not closed", at: path) }
        offset += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
          utf8.append(contentsOf: String(Character(try readUnicodeEscape(at: path))).utf8)
        default:
          offset -= 1
          throw syntaxError("unknown escape '\\' followed by \(describeNext()) in a string", at: path)
        }
      case 0..<0x20:
        offset -= 1
        throw syntaxError("a control character in a string must be escaped", at: path)
      default:
        utf8.append(byte)
      }
    }
  }

  /// After `\u`: four hex digits, or a surrogate pair written as two escapes.
  private mutating func readUnicodeEscape(at path: GridPath) throws(GridError) -> Unicode.Scalar {
    let first = try readHexQuad(at: path)
    var value = UInt32(first)
    if (0xD800..<0xDC00).contains(first) {
      guard next == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u")
      else {
        throw syntaxError("a \\u escape starts a surrogate pair that is not completed", at: path)
      }
      offset += 2
      let second = try readHexQuad(at: path)
      guard (0xDC00..<0xE000).contains(second) else {
        throw syntaxError("a \\u escape starts a surrogate pair that is not completed", at: path)
      }
      value = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
    }
    guard let scalar = Unicode.Scalar(value) else {
      throw syntaxError("a \\u escape names a lone surrogate", at: path)
    }
    return scalar
  }

  private mutating func readHexQuad(at path: GridPath) throws(GridError) -> UInt16 {
    guard offset + 4 <= bytes.count,
      let value = UInt16(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16),
      bytes[offset..<offset + 4].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
    else {
      throw syntaxError("\\u must be followed by four hex digits", at: path)
    }
    offset += 4
    return value
  }

  private mutating func readWord(_ word: String, at path: GridPath) throws(GridError) {
    guard bytes[offset...].starts(with: word.utf8) else {
      throw syntaxError("expected a value, found \(describeNext())", at: path)
    }
    offset += word.utf8.count
  }

  private mutating func readNumber(at path: GridPath) throws(GridError) -> GridJSON {
    func isDigit(_ byte: UInt8?) -> Bool { byte.map { (0x30...0x39).contains($0) } ?? false }
    let start = offset
    if next == UInt8(ascii: "-") { offset += 1 }
    guard isDigit(next) else { throw syntaxError("expected a digit, found \(describeNext())", at: path) }
    if next == UInt8(ascii: "0") {
      offset += 1
    } else {
      while isDigit(next) { offset += 1 }
    }
    if next == UInt8(ascii: ".") {
      offset += 1
      guard isDigit(next) else {
        throw syntaxError("expected a digit after '.', found \(describeNext())", at: path)
      }
      while isDigit(next) { offset += 1 }
    }
    if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
      offset += 1
      if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { offset += 1 }
      guard isDigit(next) else {
        throw syntaxError("expected a digit in the exponent, found \(describeNext())", at: path)
      }
      while isDigit(next) { offset += 1 }
    }
    let literal = String(decoding: bytes[start..<offset], as: UTF8.self)
    guard let value = Double(literal), value.isFinite else {
      throw path.error("the number \(literal) is too large")
    }
    return .number(literal: literal, value: value)
  }
}

// MARK: - Decoding helpers

/// A value of the file and where it is.
private struct GridValue {
  let json: GridJSON
  let path: GridPath

  func typeError(_ expected: String) -> GridError {
    path.error("must be \(expected), got \(json.kindDescription)")
  }

  func string() throws(GridError) -> String {
    guard case .string(let text) = json else { throw typeError("a string") }
    return text
  }

  func nonEmptyString() throws(GridError) -> String {
    let text = try string()
    guard !text.isEmpty else { throw path.error("must not be empty") }
    return text
  }

  /// A finite number (the reader refuses the rest).
  func number() throws(GridError) -> Double {
    guard case .number(_, let value) = json else { throw typeError("a number") }
    return value + 0  // -0 becomes 0, so that it has one canonical form
  }

  /// An integer written as one (`30000`), or as a whole number another way (`3e4`).
  func integer() throws(GridError) -> Int {
    guard case .number(let literal, let value) = json else { throw typeError("an integer") }
    if let exact = Int(literal) { return exact }
    guard value == value.rounded() else { throw path.error("must be a whole number, got \(literal)") }
    guard abs(value) < 9_007_199_254_740_992 else { throw path.error("the number \(literal) is too large") }
    return Int(value)
  }

  func unsignedInteger() throws(GridError) -> UInt64 {
    guard case .number(let literal, let value) = json else { throw typeError("a non-negative integer") }
    if let exact = UInt64(literal) { return exact }
    guard value == value.rounded() else { throw path.error("must be a whole number, got \(literal)") }
    guard value >= 0 else { throw path.error("must not be negative, got \(literal)") }
    guard value < 9_007_199_254_740_992 else { throw path.error("the number \(literal) is too large") }
    return UInt64(value)
  }

  /// The elements of a non-empty list; with `allowingSingle`, a lone value is a list of one.
  func list(of what: String, ifEmpty: String, allowingSingle: Bool = false) throws(GridError) -> [GridValue] {
    switch json {
    case .array(let elements):
      guard !elements.isEmpty else { throw path.error(ifEmpty) }
      return elements.enumerated().map { GridValue(json: $0.element, path: path.index($0.offset)) }
    default:
      if allowingSingle { return [self] }
      throw typeError("a list of \(what)")
    }
  }
}

/// An object of the file whose keys have been checked against the ones allowed there.
private struct GridObject {
  /// In the file's order.
  let members: [(key: String, value: GridValue)]
  let path: GridPath

  init(_ value: GridValue, allowedKeys: [String], describing what: String) throws(GridError) {
    guard case .object(let list) = value.json else {
      throw value.path.error("\(what) must be a JSON object, got \(value.json.kindDescription)")
    }
    for member in list where !allowedKeys.contains(member.key) {
      var message = "unknown key"
      if let guess = allowedKeys.min(by: { editDistance($0, member.key) < editDistance($1, member.key) }),
        editDistance(guess, member.key) <= 2
      {
        message += " (did you mean \(GridPath.quote(guess))?)"
      }
      throw value.path.key(member.key).error(
        "\(message); the keys of \(what) are: \(allowedKeys.joined(separator: ", "))")
    }
    members = list.map { ($0.key, GridValue(json: $0.value, path: value.path.key($0.key))) }
    path = value.path
  }

  func optional(_ key: String) -> GridValue? {
    members.first { $0.key == key }?.value
  }

  func required(_ key: String, _ expected: String) throws(GridError) -> GridValue {
    guard let value = optional(key) else {
      throw path.key(key).error("is required: \(expected)")
    }
    return value
  }
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
private func editDistance(_ first: String, _ second: String) -> Int {
  let first = Array(first)
  let second = Array(second)
  var previous = Array(0...second.count)
  for (i, firstCharacter) in first.enumerated() {
    var current = [i + 1]
    for (j, secondCharacter) in second.enumerated() {
      current.append(
        min(previous[j + 1] + 1, current[j] + 1, previous[j] + (firstCharacter == secondCharacter ? 0 : 1)))
    }
    previous = current
  }
  return previous[second.count]
}
