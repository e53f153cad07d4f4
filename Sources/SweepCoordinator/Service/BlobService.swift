import Foundation
import Logging
import SweepWire
import TracCore

/// Content-addressed files: datasets (`artifacts/datasets`) and checkpoints (`artifacts/checkpoints`)
/// served to workers in chunks (`fetch`), datasets received from clients in pieces (`dataset`, `upload`
/// requests), and the dataset reference each `assign` carries. Only the loop's thread uses it.
public final class BlobService {
  public let datasets: DatasetStore
  public let checkpoints: CheckpointStore
  let uploads: DatasetUploads
  var logger: Logger
  /// Dataset sizes by sha256, for `assign` (a dataset's file never changes once stored).
  private var datasetSizes: [SHA256Digest: Int] = [:]

  public init(datasets: DatasetStore, checkpoints: CheckpointStore, logger: Logger) {
    self.datasets = datasets
    self.checkpoints = checkpoints
    uploads = DatasetUploads(store: datasets)
    self.logger = logger
  }

  /// One chunk of a dataset or a checkpoint, by sha256.
  public func fetch(_ fetch: Fetch, route: Data, into outbox: inout ServiceOutbox) throws {
    let piece: (data: Data, total: Int)?
    do {
      piece =
        try datasets.chunk(sha256: fetch.sha256, offset: fetch.offset, length: fetch.length)
        ?? checkpoints.chunk(sha256: fetch.sha256, offset: fetch.offset, length: fetch.length)
    } catch {
      throw WireError.refused(code: .invalidInput, message: "\(error)", subject: fetch.sha256.rawValue)
    }
    guard let (data, total) = piece else { throw CoordinatorError.unknownBlob(fetch.sha256) }
    outbox.reply(
      route,
      WireMessage(
        .chunk, Chunk(sha256: fetch.sha256, offset: fetch.offset, total: total), attachments: [data]))
  }

  /// A client's `dataset` (how much of it is held) or `upload` (one more piece of it).
  public func upload(
    _ request: ClientRequest, attachments: [Data], route: Data, into outbox: inout ServiceOutbox
  ) throws {
    guard let sha256 = request.sha256, let total = request.total else {
      throw WireError.malformed("\(request.command.rawValue) needs the dataset's sha256 and total size")
    }
    let held: (received: Int, complete: Bool)
    if request.command == .dataset {
      held = try uploads.status(sha256: sha256, total: total)
    } else {
      guard let offset = request.offset, attachments.count == 1 else {
        throw WireError.malformed("upload needs an offset and one attachment with the bytes")
      }
      held = try uploads.receive(sha256: sha256, total: total, offset: offset, data: attachments[0])
      if held.complete {
        logger.info("dataset uploaded", metadata: ["sha256": "\(sha256)", "bytes": "\(total)"])
      }
    }
    outbox.reply(route, WireMessage(.reply, UploadReply(received: held.received, complete: held.complete)))
  }

  /// The dataset an assignment's worker fetches: its hash, size and file name.
  public func datasetReference(_ assignment: RunAssignment) -> DatasetRef {
    // The spec's hash was computed by this coordinator (or validated with the grid): always valid.
    let sha = SHA256Digest(rawValue: assignment.spec.datasetSHA256) ?? SHA256Digest(of: Data())
    let size: Int
    if let known = datasetSizes[sha] {
      size = known
    } else {
      let path = (try? datasets.url(for: sha))?.path ?? ""
      size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
      if size > 0 { datasetSizes[sha] = size }
    }
    return DatasetRef(
      sha256: sha, size: size, name: Self.displayName(task: assignment.spec.task, sha256: sha))
  }

  /// A dataset's `name` in `assign`: display text for the worker's logs, made of the run's task and the
  /// dataset's hash (`OfflineBallCircle-v0-1a2b3c4d5e6f.hdf5`), at most 118 safe characters; never
  /// derived from a path on this machine (a grid's `../` would show its directories).
  static func displayName(task: String, sha256: SHA256Digest) -> String {
    let safe = task.unicodeScalars.prefix(100).map { scalar -> Character in
      scalar.isASCII
        && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
          || "._-".unicodeScalars.contains(scalar))
        ? Character(scalar) : "_"
    }
    return "\(safe.isEmpty ? "dataset" : String(safe))-\(sha256.rawValue.prefix(12)).hdf5"
  }

  /// Deletes a checkpoint no run refers to any more (after the commit that dropped it).
  public func deleteCheckpoint(_ sha256: SHA256Digest) { checkpoints.remove(sha256) }
}
