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
    guard let runJSON = files.first(where: { $0.name.rawValue == RunFiles.runJSON })?.data else {
      return "it carries no run.json"
    }
    guard let record = try? JSONCodec.decoder.decode(Identity.self, from: runJSON) else {
      return "its run.json is not a JSON object"
    }
    guard let recordedRun = record.runID else { return "its run.json has no run_id" }
    guard recordedRun == run.rawValue else {
      return "its run.json is of run \(String(recordedRun.prefix(40))), not of run \(run)"
    }
    if let problem = evaluationProblem(runJSON, present: record.hasEvaluation, asked: spec.evalEpisodes > 0) {
      return problem
    }
    guard let policy = files.first(where: { $0.name.rawValue == RunFiles.policy })?.data else {
      return "it carries no policy.safetensors"
    }
    guard let task = try? TaskInfo.named(spec.task) else { return "its task \(spec.task) is unknown" }
    return policyProblem(policy, observationDim: task.observationDim, actionDim: task.actionDim)
  }

  /// run.json's `run_id` (nil when missing or not a string) and whether it has an `evaluation` that
  /// is not null; decoding fails only when run.json is not a JSON object.
  private struct Identity: Decodable {
    var runID: String?
    var hasEvaluation: Bool
    enum CodingKeys: String, CodingKey {
      case runID = "run_id"
      case evaluation
    }
    init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      runID = try? container.decodeIfPresent(String.self, forKey: .runID)
      hasEvaluation =
        container.contains(.evaluation) && !((try? container.decodeNil(forKey: .evaluation)) ?? true)
    }
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

  /// The policy's header against the task's `PolicyLayout` (read with `SafetensorsHeader`, at most 1 MiB).
  static func policyProblem(_ data: Data, observationDim: Int, actionDim: Int) -> String? {
    let header: SafetensorsHeader
    do throws(SafetensorsHeader.Problem) {
      header = try SafetensorsHeader(parsing: data, maximumLength: 1 << 20)
    } catch {
      switch error {
      case .tooShort: return "its policy.safetensors is shorter than a header"
      case .tooLong: return "its policy.safetensors has a header longer than the file"
      case .notJSONObject: return "its policy.safetensors header is not a JSON object"
      }
    }
    let payload = data.count - header.dataStart
    let expected = PolicyLayout.tensors(observationDim: observationDim, actionDim: actionDim)
    for (name, shape) in expected.sorted(by: { $0.name < $1.name }) {
      guard let tensor = header.tensors[name] else { return "its policy.safetensors has no tensor \(name)" }
      guard tensor.dtype == PolicyLayout.dtype else {
        return "its policy.safetensors' \(name) is not \(PolicyLayout.dtype)"
      }
      guard let got = tensor.shape, got == shape else {
        return
          "its policy.safetensors' \(name) has shape \(tensor.shape.map { "\($0)" } ?? "none"), the task needs \(shape)"
      }
      guard let offsets = tensor.dataOffsets, offsets.count == 2, offsets[0] >= 0,
        offsets[1] - offsets[0] == 4 * shape.reduce(1, *), offsets[1] <= payload
      else { return "its policy.safetensors' \(name) lies outside the file" }
    }
    return nil
  }
}
