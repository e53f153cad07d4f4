import Foundation
import SweepWire
import TracCore

/// `submit`'s upload of the grid's datasets, for a client that does not share the coordinator's
/// filesystem: each dataset file found on this machine is hashed, and the part the coordinator lacks
/// is sent in 4 MiB pieces, one request at a time (the coordinator's answers are the flow control).
/// A path not found here is left to the coordinator to read, as before.
enum DatasetUpload {
  static let pieceSize = 4 << 20

  /// The sha256 of each dataset uploaded (or already held), by the grid's `dataset` string.
  static func uploadDatasets(of grid: GridFile, gridDirectory: URL, client: ClientOptions) throws -> [String:
    SHA256Digest]
  {
    var hashes: [String: SHA256Digest] = [:]
    for given in Set(grid.tasks.compactMap(\.datasetPath)).sorted() {
      let url =
        given.hasPrefix("/") ? URL(fileURLWithPath: given) : gridDirectory.appendingPathComponent(given)
      guard FileManager.default.isReadableFile(atPath: url.path) else { continue }
      let size =
        (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
      guard size > 0 else { throw ValidationErrorText("dataset \(url.path) is empty") }
      let sha256 = try SHA256Digest(ofFileAt: url.path)
      var held = try client.call(
        ClientRequest(command: .dataset, sha256: sha256, total: size), expecting: UploadReply.self)
      if !held.complete {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(held.received))
        let terminal = isatty(STDERR_FILENO) != 0
        while !held.complete {
          let piece = try handle.read(upToCount: pieceSize) ?? Data()
          guard !piece.isEmpty else {
            throw ValidationErrorText("dataset \(url.path) shrank while it was being sent")
          }
          held = try client.call(
            ClientRequest(command: .upload, sha256: sha256, total: size, offset: held.received),
            attachments: [piece], expecting: UploadReply.self)
          if terminal {
            let percent = Int(Double(held.received) / Double(size) * 100)
            FileHandle.standardError.write(
              Data("\r\u{1B}[Kuploading \(url.lastPathComponent): \(percent)%".utf8))
          }
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        FileHandle.standardError.write(
          Data("uploaded \(url.lastPathComponent) (\(size) bytes, sha256 \(sha256.short))\n".utf8))
      }
      hashes[given] = sha256
    }
    return hashes
  }
}

/// A plain error whose description is its text.
struct ValidationErrorText: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
