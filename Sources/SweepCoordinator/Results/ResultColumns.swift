import SweepWire
import TracCore

/// The columns of `results` (and of `report`, which adds `state`): a run's inputs, every hyperparameter in
/// `HyperparameterName`'s order, and the evaluation from its run.json; each with the kind of its values,
/// sent as the reply's `types` (docs/PROTOCOL.md, "Result columns"). The rows stay text.
public enum ResultColumns {
  public static let all: [(name: String, kind: ResultColumnKind)] =
    [
      ("sweep", .text), ("run_id", .text), ("point", .text), ("setting", .text), ("task", .text),
      ("algorithm", .text),
    ]
    + HyperparameterName.allCases.map { name in
      let kind: ResultColumnKind
      switch name.value(in: Hyperparameters()) {
      case .real: kind = .number
      case .integer: kind = .integer
      case .reference, .segments: kind = .text
      }
      return (name.rawValue, kind)
    } + [
      ("cost_threshold", .number), ("seed", .integer), ("normalized_reward", .number),
      ("normalized_reward_std", .number), ("normalized_cost", .number), ("normalized_cost_std", .number),
      ("safe", .boolean), ("reward_return", .number), ("cost_return", .number), ("eval_episodes", .integer),
      ("attempt", .integer), ("worker", .text), ("train_seconds", .number), ("policy", .text),
      ("bc_stage", .text), ("steps_trained", .integer), ("audit", .text),
    ]

  public static let names: [String] = all.map(\.name)
  public static let kinds: [ResultColumnKind] = all.map(\.kind)
}
