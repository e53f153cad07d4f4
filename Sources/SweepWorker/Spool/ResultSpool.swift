import Foundation
import Logging
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// Finished results kept on the worker's disk until the coordinator acknowledges them
/// (nothing finished is lost): `WORKDIR/spool/<run id>.attempt-<n>/` with the result's files and a
/// `manifest.json`.
///
/// An entry is built in a hidden temporary directory, flushed to the disk, and renamed into place,
/// so a worker killed at any moment leaves either a complete entry or none. Acknowledging renames
/// the entry aside before deleting it, so a half-deleted entry never looks like a result. Opening
/// the spool moves anything that is not a complete, intact entry into `.quarantine/`, and says so.
public struct ResultSpool: Sendable {
  public static let manifestName = "manifest.json"
  static let temporaryPrefix = ".tmp-"
  static let trashPrefix = ".trash-"
  static let quarantineName = ".quarantine"

  /// Something found on opening the spool that was not a complete entry, and where it was moved.
  public struct QuarantinedEntry: Sendable, Equatable {
    public var name: String
    public var reason: String
    public var movedTo: URL
  }

  public let directory: URL
  public let logger: Logger
  /// What opening the spool moved aside.
  public let quarantinedAtOpen: [QuarantinedEntry]

  public var quarantineDirectory: URL { directory.appendingPathComponent(ResultSpool.quarantineName) }

  public init(workDirectory: URL, logger: Logger = Logger(label: "trac-sweep.worker.spool")) throws {
    try self.init(directory: workDirectory.appendingPathComponent("spool", isDirectory: true), logger: logger)
  }

  /// Opens (or creates) the spool: finishes interrupted deletions, quarantines incomplete writes
  /// and damaged entries (checking every file's size and sha256). Throws only when the directory
  /// itself cannot be created or read.
  public init(directory: URL, logger: Logger = Logger(label: "trac-sweep.worker.spool")) throws {
    self.directory = directory
    self.logger = logger
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    } catch {
      throw SweepWorkerError.systemCall(call: "opendir", errno: EIO, path: directory.path)
    }
    let quarantineDirectory = directory.appendingPathComponent(ResultSpool.quarantineName)
    var quarantined: [QuarantinedEntry] = []
    for name in names where name != ResultSpool.quarantineName {
      let url = directory.appendingPathComponent(name)
      if name.hasPrefix(ResultSpool.trashPrefix) {
        try? DurableFiles.remove(url)
        continue
      }
      let problem: String?
      if name.hasPrefix(ResultSpool.temporaryPrefix) {
        problem = "incomplete entry: the worker stopped while writing it"
      } else {
        switch ResultSpool.load(url, verifyingHashes: true) {
        case .success: problem = nil
        case .failure(let reason): problem = reason.message
        }
      }
      guard let problem else { continue }
      if let entry = ResultSpool.quarantine(url, reason: problem, into: quarantineDirectory, logger: logger) {
        quarantined.append(entry)
      }
    }
    quarantinedAtOpen = quarantined
  }

  public func entryURL(for key: AttemptID) -> URL {
    directory.appendingPathComponent("\(key.run).attempt-\(key.number)", isDirectory: true)
  }

  /// Where a spooled file of an entry is (to attach it to a `result` message).
  public func fileURL(named name: ArtifactName, of key: AttemptID) -> URL {
    entryURL(for: key).appendingPathComponent(name.rawValue)
  }

  public func contains(_ key: AttemptID) -> Bool { DurableFiles.isDirectory(entryURL(for: key)) }

  /// Keeps a finished result and copies of its files. Returns false, and changes nothing, when the
  /// spool already holds a result for the same run and attempt. When this returns true the entry
  /// is on the disk; when it throws, there is no entry.
  @discardableResult
  public func write(_ result: AttemptResult, files: [URL]) throws -> Bool {
    let names = try files.map { file -> ArtifactName in
      guard let name = ArtifactName(rawValue: file.lastPathComponent), ResultSpool.isValidFileName(name)
      else {
        throw SweepWorkerError.invalidFileName(file.lastPathComponent)
      }
      return name
    }
    if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
      throw SweepWorkerError.invalidFileName(duplicate.rawValue)
    }
    let destination = entryURL(for: result.key)
    if contains(result.key) { return false }

    let temporary = directory.appendingPathComponent(ResultSpool.temporaryPrefix + UUID().uuidString)
    do {
      try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: false)
      var spooledFiles: [SpooledFile] = []
      for (file, name) in zip(files, names) {
        let copy = temporary.appendingPathComponent(name.rawValue)
        try DurableFiles.copy(file, to: copy)
        let digest: SHA256Digest
        do { digest = try SHA256Digest(ofFileAt: copy.path) } catch {
          throw SweepWorkerError.systemCall(call: "read", errno: EIO, path: copy.path)
        }
        spooledFiles.append(SpooledFile(name: name, size: DurableFiles.fileSize(copy) ?? 0, sha256: digest))
      }
      let manifest = SpooledResult(result: result, files: spooledFiles, spooledAt: Date())
      try DurableFiles.write(
        JSONCodec.prettyEncoder.encode(manifest),
        to: temporary.appendingPathComponent(ResultSpool.manifestName))
      try DurableFiles.sync(temporary, isDirectory: true)
      guard try DurableFiles.renameUnlessPresent(temporary, to: destination) else {
        try? DurableFiles.remove(temporary)
        return false
      }
      try DurableFiles.sync(directory, isDirectory: true)
      return true
    } catch {
      try? DurableFiles.remove(temporary)
      throw error
    }
  }

  /// The results waiting for an acknowledgement, oldest first.
  public func pending() -> [SpooledResult] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    var results: [SpooledResult] = []
    for name in names where !name.hasPrefix(".") {
      switch ResultSpool.load(directory.appendingPathComponent(name), verifyingHashes: false) {
      case .success(let result): results.append(result)
      case .failure(.vanished): continue  // acknowledged meanwhile
      case .failure(let reason):
        logger.warning("spool entry \(name) skipped: \(reason.message)")
      }
    }
    return results.sorted { ($0.spooledAt, $0.key) < ($1.spooledAt, $1.key) }
  }

  /// The entry for a run and attempt, if the spool holds it.
  public func entry(for key: AttemptID) -> SpooledResult? {
    try? ResultSpool.load(entryURL(for: key), verifyingHashes: false).get()
  }

  /// Deletes an entry once the coordinator has committed it. Returns false when there was none
  /// (already acknowledged: an `ack` may arrive twice).
  @discardableResult
  public func acknowledge(_ key: AttemptID) throws -> Bool {
    let trash = directory.appendingPathComponent(ResultSpool.trashPrefix + UUID().uuidString)
    guard rename(entryURL(for: key).path, trash.path) == 0 else {
      if errno == ENOENT { return false }
      throw systemCallError("rename", path: entryURL(for: key).path)
    }
    try DurableFiles.sync(directory, isDirectory: true)
    try DurableFiles.remove(trash)
    return true
  }

  /// A result file may have any valid artifact name but the manifest's.
  static func isValidFileName(_ name: ArtifactName) -> Bool { name.rawValue != manifestName }

  // MARK: Reading entries

  enum EntryProblem: Error {
    case vanished
    case damaged(String)

    var message: String {
      switch self {
      case .vanished: return "entry vanished"
      case .damaged(let message): return message
      }
    }
  }

  static func key(ofEntryNamed name: String) -> AttemptID? {
    guard let separator = name.range(of: ".attempt-", options: .backwards),
      let attempt = Int(name[separator.upperBound...]),
      let run = RunID(rawValue: String(name[..<separator.lowerBound]))
    else { return nil }
    return try? AttemptID(run: run, number: attempt)
  }

  static func load(_ url: URL, verifyingHashes: Bool) -> Result<SpooledResult, EntryProblem> {
    let name = url.lastPathComponent
    guard let key = key(ofEntryNamed: name) else {
      return .failure(.damaged("not a spool entry name (expected <run id>.attempt-<n>)"))
    }
    guard DurableFiles.isDirectory(url) else {
      return .failure(
        FileManager.default.fileExists(atPath: url.path) ? .damaged("not a directory") : .vanished)
    }
    let manifestURL = url.appendingPathComponent(manifestName)
    guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
      return .failure(.damaged("no readable \(manifestName)"))
    }
    let manifest: SpooledResult
    do {
      manifest = try JSONCodec.decoder.decode(SpooledResult.self, from: data)
    } catch {
      return .failure(.damaged("\(manifestName) does not parse: \(error)"))
    }
    guard manifest.format == SpooledResult.currentFormat else {
      return .failure(
        .damaged("unknown format '\(manifest.format)', expected \(SpooledResult.currentFormat)"))
    }
    guard manifest.key == key else {
      return .failure(.damaged("\(manifestName) is for \(manifest.key), not \(key)"))
    }
    for file in manifest.files {
      guard isValidFileName(file.name) else { return .failure(.damaged("bad file name '\(file.name)'")) }
      let fileURL = url.appendingPathComponent(file.name.rawValue)
      guard let size = DurableFiles.fileSize(fileURL) else {
        return .failure(.damaged("\(file.name) is missing"))
      }
      guard size == file.size else {
        return .failure(.damaged("\(file.name) has \(size) bytes, the manifest says \(file.size)"))
      }
      if verifyingHashes {
        guard let digest = try? SHA256Digest(ofFileAt: fileURL.path), digest == file.sha256 else {
          return .failure(.damaged("\(file.name) does not match its sha256 in the manifest"))
        }
      }
    }
    return .success(manifest)
  }

  /// Moves a bad entry into the quarantine directory; logs, never throws.
  static func quarantine(_ url: URL, reason: String, into quarantine: URL, logger: Logger)
    -> QuarantinedEntry?
  {
    let name = url.lastPathComponent
    let stamp = Int(Date().timeIntervalSince1970)
    let visibleName = name.hasPrefix(".") ? String(name.dropFirst()) : name
    let destination = quarantine.appendingPathComponent(
      "\(visibleName)-\(stamp)-\(UUID().uuidString.prefix(8))")
    do {
      try FileManager.default.createDirectory(at: quarantine, withIntermediateDirectories: true)
      try DurableFiles.move(url, to: destination)
    } catch {
      logger.error("spool: cannot move aside \(name) (\(reason)): \(error)")
      return nil
    }
    logger.warning("spool: moved \(name) to \(destination.path): \(reason)")
    return QuarantinedEntry(name: name, reason: reason, movedTo: destination)
  }
}
