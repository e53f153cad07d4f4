import TracCore

/// What a content-addressed file is for. On the wire each is named by its sha256 alone (`fetch`,
/// `chunk`, the `unknown_dataset` error); the kind says where a worker keeps it and what its messages
/// call it.
public enum BlobKind: String, Sendable, CaseIterable {
  /// The run's dataset (`assign.dataset`).
  case dataset
  /// The run's newest shipped checkpoint, to resume from (`assign.checkpoint`).
  case checkpoint
  /// The end-of-BC checkpoint of the run's shared BC stage, to start from (`assign.init_from`).
  case stage
}

/// A content-addressed file an assignment needs in the worker's cache before its trainer starts.
public struct BlobRef: Hashable, Sendable, CustomStringConvertible {
  public var kind: BlobKind
  public var sha256: SHA256Digest
  public var size: Int
  /// What it is, kind first, for messages: `dataset NAME`, `checkpoint of run R at step N`,
  /// `BC stage of run R (step N)`.
  public var description: String

  public init(kind: BlobKind, sha256: SHA256Digest, size: Int, description: String) {
    self.kind = kind
    self.sha256 = sha256
    self.size = size
    self.description = description
  }
}

extension Assign {
  /// The run's dataset as a blob.
  public var datasetBlob: BlobRef {
    BlobRef(
      kind: .dataset, sha256: dataset.sha256, size: dataset.size, description: "dataset \(dataset.name)")
  }

  /// The checkpoint the run resumes from, as a blob.
  public var checkpointBlob: BlobRef? {
    checkpoint.map {
      BlobRef(
        kind: .checkpoint, sha256: $0.sha256, size: $0.size,
        description: "checkpoint of run \(attempt.run) at step \($0.step)")
    }
  }

  /// The BC stage the run starts from, as a blob.
  public var stageBlob: BlobRef? {
    initFrom.map {
      BlobRef(
        kind: .stage, sha256: $0.sha256, size: $0.size,
        description: "BC stage of run \(attempt.run) (step \($0.step))")
    }
  }

  /// Everything the trainer needs in the cache: the dataset, then the checkpoint or the BC stage.
  public var blobs: [BlobRef] { [datasetBlob] + [checkpointBlob, stageBlob].compactMap { $0 } }
}
