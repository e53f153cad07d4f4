import Foundation
import TracCore

/// What a `succeeded` result must carry to be recorded, and so cached for every later sweep: nothing
/// is recorded on trust. Pure: it reads only the files in hand.
///
/// - `run.json`, a JSON object whose `run_id` is the attempt's run;
/// - when the run asks for evaluation episodes, an `evaluation` whose every threshold has a finite
///   `normalized_reward.mean` and `normalized_cost.mean` (an evaluation that is there is checked
///   the same way even when none was asked);
/// - `policy.safetensors` whose tensors are float32 and have the task's shapes (docs/FORMATS.md),
///   with every tensor's bytes inside the file.
public enum ResultCheck {
  /// Why the files cannot be recorded, or nil when they can.
  public static func problem(with files: [(name: ArtifactName, data: Data)], of run: RunID, spec: RunSpec)
    -> String?
  {
    guard let runJSON = files.first(where: { $0.name.rawValue == "run.json" })?.data else {
      return "it carries no run.json"
    }
    guard let record = (try? JSONSerialization.jsonObject(with: runJSON)) as? [String: Any] else {
      return "its run.json is not a JSON object"
    }
    guard let recordedRun = record["run_id"] as? String else { return "its run.json has no run_id" }
    guard recordedRun == run.rawValue else {
      return "its run.json is of run \(String(recordedRun.prefix(40))), not of run \(run)"
    }
    if let problem = evaluationProblem(
      runJSON, present: record["evaluation"].map { !($0 is NSNull) } ?? false,
      asked: spec.evalEpisodes > 0)
    {
      return problem
    }
    guard let policy = files.first(where: { $0.name.rawValue == "policy.safetensors" })?.data else {
      return "it carries no policy.safetensors"
    }
    guard let task = try? TaskInfo.named(spec.task) else { return "its task \(spec.task) is unknown" }
    return policyProblem(policy, observationDim: task.observationDim, actionDim: task.actionDim)
  }

  /// The part of run.json's evaluation that must hold numbers, read with the typed decoder (so `0` is
  /// a number, `true` and `"NaN"` are not).
  private struct EvaluatedRun: Decodable {
    struct Mean: Decodable { var mean: Double }
    struct Threshold: Decodable {
      var normalized_reward: Mean
      var normalized_cost: Mean
    }
    struct Evaluation: Decodable { var by_threshold: [Threshold] }
    var evaluation: Evaluation
  }

  static func evaluationProblem(_ runJSON: Data, present: Bool, asked: Bool) -> String? {
    guard present else {
      return asked
        ? "its run.json has no evaluation, but the run asks for evaluation episodes (a worker started with "
          + "--no-evaluate, or a trainer without --evaluate?)" : nil
    }
    guard let evaluated = try? JSONDecoder().decode(EvaluatedRun.self, from: runJSON) else {
      return
        "its run.json's evaluation has no finite normalized_reward.mean and normalized_cost.mean per threshold"
    }
    guard !evaluated.evaluation.by_threshold.isEmpty else {
      return "its run.json's evaluation has no by_threshold results"
    }
    for entry in evaluated.evaluation.by_threshold {
      for (key, mean) in [
        ("normalized_reward", entry.normalized_reward.mean), ("normalized_cost", entry.normalized_cost.mean),
      ]
      where !mean.isFinite {
        return "its run.json's evaluation has no finite \(key).mean"
      }
    }
    return nil
  }

  /// The header of a safetensors file: an 8-byte little-endian length, then that much JSON.
  static func policyProblem(_ data: Data, observationDim: Int, actionDim: Int) -> String? {
    guard data.count >= 8 else { return "its policy.safetensors is shorter than a header" }
    let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) {
      $0 | UInt64($1.element) << (8 * $1.offset)
    }
    guard headerLength <= UInt64(data.count - 8), headerLength <= 1 << 20 else {
      return "its policy.safetensors has a header longer than the file"
    }
    let headerEnd = 8 + Int(headerLength)
    guard
      let header = (try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd)))
        as? [String: Any]
    else { return "its policy.safetensors header is not a JSON object" }
    let expected: [String: [Int]] = [
      "layers.0.weight": [256, observationDim], "layers.0.bias": [256],
      "layers.1.weight": [256, 256], "layers.1.bias": [256],
      "layers.2.weight": [actionDim, 256], "layers.2.bias": [actionDim],
    ]
    let payload = data.count - headerEnd
    for (name, shape) in expected.sorted(by: { $0.key < $1.key }) {
      guard let tensor = header[name] as? [String: Any] else {
        return "its policy.safetensors has no tensor \(name)"
      }
      guard tensor["dtype"] as? String == "F32" else { return "its policy.safetensors' \(name) is not F32" }
      guard let got = tensor["shape"] as? [Int], got == shape else {
        return
          "its policy.safetensors' \(name) has shape \(tensor["shape"] ?? "none"), the task needs \(shape)"
      }
      guard let offsets = tensor["data_offsets"] as? [Int], offsets.count == 2, offsets[0] >= 0,
        offsets[1] - offsets[0] == 4 * shape.reduce(1, *), offsets[1] <= payload
      else { return "its policy.safetensors' \(name) lies outside the file" }
    }
    return nil
  }
}
