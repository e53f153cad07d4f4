import Foundation
import SweepWire
import TracCore

/// What a stage unit's result must carry besides what every result carries (`ResultCheck`): its
/// end-of-BC checkpoint, `bc-stage.safetensors`, a checkpoint of the unit's run at step `bc_steps` of
/// the unit's BC stage. Its dependents start from it, so nothing about it is taken on trust.
public struct StageOutputCheck {
  public static let fileName = RunFiles.bcStage

  /// The file, its header and the reference it is kept and fetched by; nil when the result does not
  /// carry a readable one.
  public let file: (data: Data, header: CheckpointHeader, reference: RunCheckpoint)?

  public init(_ files: [(name: ArtifactName, data: Data)]) {
    file = files.first { $0.name.rawValue == Self.fileName }.flatMap { file in
      CheckpointHeader(file.data).map {
        (
          file.data, $0,
          RunCheckpoint(sha256: SHA256Digest(of: file.data), size: file.data.count, step: $0.step)
        )
      }
    }
  }

  /// Why the stage cannot be recorded, or nil when it can.
  public func problem(of run: RunID, spec: RunSpec) -> String? {
    guard let header = file?.header else {
      return "it carries no readable \(Self.fileName), which a BC stage unit's result must"
    }
    let stage = spec.bcStage?.stageID ?? "none"
    guard header.format == CheckpointFormat.current, header.runID == run.rawValue,
      header.step == spec.hyperparameters.bcSteps, header.bcStage == stage
    else {
      return "its \(Self.fileName) is not a \(CheckpointFormat.current) file of run \(run) at step "
        + "\(spec.hyperparameters.bcSteps) of BC stage \(stage) (it says run \(header.runID.prefix(40)), step "
        + "\(header.step), BC stage \(header.bcStage?.prefix(40) ?? "none"))"
    }
    return nil
  }

}
