import Foundation
import SweepWire
import TracCore

/// The files of a run a simulated worker reports as succeeded: what the coordinator checks before it
/// records anything (a run.json of the run, a policy of the task's shapes), with no training behind it.
public enum StubArtifacts {
  /// A policy.safetensors of zeros with the shapes of a task (`observationDim` -> 256 -> 256 ->
  /// `actionDim`, PyTorch `nn.Linear` layout), as the coordinator checks them.
  public static func policyFile(observationDim: Int, actionDim: Int) -> Data {
    let tensors: [(String, [Int])] = [
      ("layers.0.weight", [256, observationDim]), ("layers.0.bias", [256]), ("layers.1.weight", [256, 256]),
      ("layers.1.bias", [256]), ("layers.2.weight", [actionDim, 256]), ("layers.2.bias", [actionDim]),
    ]
    var entries: [String] = []
    var offset = 0
    for (name, shape) in tensors {
      let bytes = 4 * shape.reduce(1, *)
      let shapeText = shape.map(String.init).joined(separator: ",")
      entries.append(
        #""\#(name)":{"dtype":"F32","shape":[\#(shapeText)],"data_offsets":[\#(offset),\#(offset + bytes)]}"#)
      offset += bytes
    }
    var header = Array("{\(entries.joined(separator: ","))}".utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var data = Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * $0)) })
    data.append(contentsOf: header)
    data.append(Data(count: offset))
    return data
  }

  /// `run.json` and `policy.safetensors` of a train-only run of `run` on a task of these shapes, as a
  /// result's file list and attachments.
  static func result(run: RunID, policy: Data) -> (files: [FileInfo], attachments: [Data]) {
    let runJSON = Data(#"{"run_id": "\#(run)", "format": "trac-run/stub"}"#.utf8)
    let named: [(String, Data)] = [("run.json", runJSON), ("policy.safetensors", policy)]
    return (
      named.map {
        FileInfo(name: ArtifactName(checked: $0.0), size: $0.1.count, sha256: SHA256Digest(of: $0.1))
      },
      named.map(\.1)
    )
  }
}
