import Foundation

/// A hyperparameter as grid files name it (the keys of `base` and `vary`, docs/GRID.md).
public enum HyperparameterName: String, Hashable, Sendable, CaseIterable, Codable {
  case x, y, alpha, eta, beta, gamma
  case segRatio = "seg_ratio"
  case batchSize = "batch_size"
  case lr
  case bcSteps = "bc_steps"
  case steps, reference, segments
  case warmupSteps = "warmup_steps"
  case tracLRScale = "trac_lr_scale"

  /// Whether only TraC reads it. The BC baselines ignore x, y, alpha, eta, beta, gamma, reference,
  /// segments, bc_steps, warmup_steps and trac_lr_scale: they train on every segment (or every safe
  /// episode) for `steps` updates at the learning rate `lr`.
  public var isTracOnly: Bool {
    switch self {
    case .segRatio, .batchSize, .lr, .steps: return false
    case .x, .y, .alpha, .eta, .beta, .gamma, .reference, .segments, .bcSteps, .warmupSteps, .tracLRScale:
      return true
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
    case .segments: return .segments(hyperparameters.segments)
    case .warmupSteps: return .integer(hyperparameters.warmupSteps)
    case .tracLRScale: return .real(hyperparameters.tracLRScale)
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
    case (.segments, .segments(let selection)): hyperparameters.segments = selection
    case (.warmupSteps, .integer(let count)): hyperparameters.warmupSteps = count
    case (.tracLRScale, .real(let number)): hyperparameters.tracLRScale = number
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
  case segments(SegmentSelection)

  /// The value as a number, for plotting; nil for a reference policy or a segment selection.
  public var numericValue: Double? {
    switch self {
    case .real(let number): return number
    case .integer(let count): return Double(count)
    case .reference, .segments: return nil
    }
  }

  /// `0.05`, `30000`, `uniform`, `desirable`: the form of point ids and reports.
  public var description: String {
    switch self {
    case .real(let number): return formatNumber(number)
    case .integer(let count): return String(count)
    case .reference(let policy): return policy.rawValue
    case .segments(let selection): return selection.rawValue
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .real(let number): try container.encode(number)
    case .integer(let count): try container.encode(count)
    case .reference(let policy): try container.encode(policy)
    case .segments(let selection): try container.encode(selection)
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
