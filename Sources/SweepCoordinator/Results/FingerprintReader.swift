import Foundation
import SweepWire
import TracCore

extension ResultFingerprint {
  /// The fingerprint of a result's files, made by the coordinator: the hash of its policy (of its
  /// end-of-BC checkpoint for a stage unit), the kernels run.json says trained it, its evaluation.
  /// Nil when the result carries no such file (it cannot be compared).
  public init?(files: [(name: ArtifactName, data: Data)], summary: RunSummary, spec: RunSpec) {
    let compared = spec.isStageUnit ? RunFiles.bcStage : RunFiles.policy
    guard let file = files.first(where: { $0.name.rawValue == compared }) else { return nil }
    let runJSON = files.first { $0.name.rawValue == RunFiles.runJSON }?.data ?? Data()
    let steps = (try? JSONCodec.decoder.decode(TrainedSteps.self, from: runJSON))?.blas?.trainedSteps ?? []
    var kernels: [String] = []
    for range in steps where kernels.last != range.kernel { kernels.append(range.kernel) }
    self.init(
      sha256: SHA256Digest(of: file.data).rawValue, kernels: kernels,
      reproducible: spec.blas == .reproducible,
      reward: summary.rewardMean, cost: summary.costMean)
  }

  /// run.json's `blas.trained_steps`, read on its own.
  private struct TrainedSteps: Decodable {
    struct BLAS: Decodable {
      var trainedSteps: [KernelSteps]?
      enum CodingKeys: String, CodingKey { case trainedSteps = "trained_steps" }
    }
    var blas: BLAS?
  }
}
