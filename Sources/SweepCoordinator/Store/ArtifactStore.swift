import Foundation
import TracCore

/// Recorded runs' files: `artifacts/runs/<run id>/<file name>`. Every path is built from validated
/// identifiers through one `ContainedDirectory`, so nothing a peer sends can name a place outside it.
///
/// A run's files are written to a staging folder and moved in place as a whole, before the database
/// commit that records the run: a committed result always has its files, and a folder without a
/// committed result (the coordinator died in between) is replaced by the next copy.
public struct ArtifactStore: Sendable {
  public let runs: ContainedDirectory

  /// Opens `directory` (created if missing) and removes what a killed predecessor was writing.
  public init(directory: URL) throws {
    runs = try ContainedDirectory(directory)
    Self.removeLeftovers(in: runs.url)
  }

  /// The folder of a run's files.
  public func folder(of run: RunID) throws(PathOutsideRoot) -> URL { try runs.path(run.rawValue) }

  /// Stores a run's files in place of any earlier, unrecorded copy and returns their paths. A result
  /// without files has nothing to store and gets no folder.
  public func store(run: RunID, files: [(name: ArtifactName, data: Data)]) throws -> [String] {
    guard !files.isEmpty else { return [] }
    let staging = try runs.path(".incoming-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
    // Left behind only when something below failed.
    defer { try? FileManager.default.removeItem(at: staging) }
    for (name, data) in files {
      // No temporary file and rename per file: nobody sees the staging folder until it moves in place.
      try data.write(to: staging.appendingPathComponent(name.rawValue))
    }
    let target = try folder(of: run)
    if FileManager.default.fileExists(atPath: target.path) {
      // An unrecorded copy (the coordinator died between moving it in and committing). rename(2)
      // cannot replace a non-empty directory: move the old copy aside, the new one in, then delete.
      let stale = try runs.path(".stale-\(UUID().uuidString)")
      try FileManager.default.moveItem(at: target, to: stale)
      try FileManager.default.moveItem(at: staging, to: target)
      try? FileManager.default.removeItem(at: stale)
    } else {
      try FileManager.default.moveItem(at: staging, to: target)
    }
    return files.map { target.appendingPathComponent($0.name.rawValue).path }
  }

  /// Files a coordinator killed mid-write leaves behind: results being stored (`.incoming-*`, `.stale-*`),
  /// datasets being copied or uploaded (`.incoming-*`, `.upload-*`). Nothing refers to them after a restart.
  public static func removeLeftovers(in directory: URL) {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    for name in names where [".incoming-", ".upload-", ".stale-"].contains(where: { name.hasPrefix($0) }) {
      try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
    }
  }
}
