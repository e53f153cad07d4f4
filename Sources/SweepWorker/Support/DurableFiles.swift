import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// The few file operations the spool needs to survive a crash at any moment: data and directory
/// entries reach the disk (fsync) before a rename makes them visible. The writes are TracCore's
/// `DurableFile` (the project's one implementation), with the worker's errors.
enum DurableFiles {
  /// Flushes a file's data, or a directory's entries, to the disk.
  static func sync(_ url: URL, isDirectory: Bool = false) throws {
    do { try DurableFile.sync(url, isDirectory: isDirectory) } catch { throw workerError(error) }
  }

  /// Writes bytes to a new file and flushes them.
  static func write(_ data: Data, to url: URL) throws {
    do { try DurableFile.writeNew(data, to: url) } catch { throw workerError(error) }
  }

  /// Copies a file into a new file and flushes the copy.
  static func copy(_ source: URL, to destination: URL) throws {
    do { try DurableFile.copy(source, to: destination) } catch { throw workerError(error) }
  }

  private static func workerError(_ error: FileSystemError) -> SweepWorkerError {
    .systemCall(call: error.operation, errno: error.code, path: error.path)
  }

  /// rename(2). Returns false instead of throwing when `destination` is a non-empty directory
  /// that already exists: the caller's entry was already there.
  static func renameUnlessPresent(_ source: URL, to destination: URL) throws -> Bool {
    guard rename(source.path, destination.path) == 0 else {
      if errno == ENOTEMPTY || errno == EEXIST { return false }
      throw systemCallError("rename", path: destination.path)
    }
    return true
  }

  static func move(_ source: URL, to destination: URL) throws {
    guard rename(source.path, destination.path) == 0 else {
      throw systemCallError("rename", path: source.path)
    }
  }

  /// Removes a file or a directory tree; a missing one is not an error.
  static func remove(_ url: URL) throws {
    do {
      try FileManager.default.removeItem(at: url)
    } catch {
      guard FileManager.default.fileExists(atPath: url.path) else { return }
      let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
      let code = underlying?.domain == NSPOSIXErrorDomain ? Int32(underlying!.code) : EIO
      throw SweepWorkerError.systemCall(call: "remove", errno: code, path: url.path)
    }
  }

  static func fileSize(_ url: URL) -> Int? {
    var info = stat()
    guard stat(url.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    return Int(info.st_size)
  }

  static func isDirectory(_ url: URL) -> Bool {
    var info = stat()
    return lstat(url.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
  }
}
