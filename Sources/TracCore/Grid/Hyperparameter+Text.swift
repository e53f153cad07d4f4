import Foundation

extension HyperparameterName {
  /// This hyperparameter's value written as `results` tables and `HyperparameterValue.description`
  /// write it (`0.05`, `30000`, `uniform`), or nil when `text` is not a value of this kind.
  public func parse(_ text: String) -> HyperparameterValue? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    switch value(in: Hyperparameters()) {
    case .real: return Double(trimmed).flatMap { $0.isFinite ? .real($0) : nil }
    case .integer: return Int(trimmed).map { .integer($0) }
    case .reference: return ReferencePolicy(rawValue: trimmed).map { .reference($0) }
    case .segments: return SegmentSelection(rawValue: trimmed).map { .segments($0) }
    }
  }

  /// Sets this hyperparameter to `value`, which must be of this name's kind (as `parse` returns).
  public func assign(_ value: HyperparameterValue, to hyperparameters: inout Hyperparameters) {
    set(value, in: &hyperparameters)
  }
}
