import Foundation
import SweepWire
import TracCore

/// The files of a run a simulated worker reports as succeeded: what the coordinator checks before it
/// records anything (a run.json of the run, a policy of the task's shapes), with no training behind it.
public enum StubArtifacts {
  /// A policy.safetensors of zeros with a task's tensors (`PolicyLayout`), as the coordinator checks
  /// them; its header written by `SafetensorsHeader`, with no metadata.
  public static func policyFile(observationDim: Int, actionDim: Int) -> Data {
    let tensors = PolicyLayout.tensors(observationDim: observationDim, actionDim: actionDim).map {
      (name: $0.name, dtype: PolicyLayout.dtype, shape: $0.shape, byteCount: 4 * $0.shape.reduce(1, *))
    }
    var data = SafetensorsHeader.encode(tensors: tensors, metadata: nil)
    data.append(Data(count: tensors.reduce(0) { $0 + $1.byteCount }))
    return data
  }

  /// `run.json` and `policy.safetensors` of a train-only run of `run` on a task of these shapes, as a
  /// result's file list and attachments.
  static func result(run: RunID, policy: Data) -> (files: [FileInfo], attachments: [Data]) {
    let runJSON = Data(#"{"run_id": "\#(run)", "format": "trac-run/stub"}"#.utf8)
    let named: [(String, Data)] = [(RunFiles.runJSON, runJSON), (RunFiles.policy, policy)]
    return (
      named.map {
        FileInfo(name: ArtifactName(checked: $0.0), size: $0.1.count, sha256: SHA256Digest(of: $0.1))
      },
      named.map(\.1)
    )
  }
}
