import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// The few file operations the spool needs to survive a crash at any moment: data and directory
/// entries reach the disk (fsync) before a rename makes them visible.
enum DurableFiles {
  /// Flushes a file's data, or a directory's entries, to the disk.
  static func sync(_ url: URL, isDirectory: Bool = false) throws {
    let flags = O_RDONLY | O_CLOEXEC | (isDirectory ? O_DIRECTORY : 0)
    let descriptor = open(url.path, flags)
    guard descriptor >= 0 else { throw systemCallError("open", path: url.path) }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else { throw systemCallError("fsync", path: url.path) }
  }

  /// Writes bytes to a new file and flushes them.
  static func write(_ data: Data, to url: URL) throws {
    let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw systemCallError("open", path: url.path) }
    defer { close(descriptor) }
    try data.withUnsafeBytes { buffer in
      if let base = buffer.baseAddress { try writeAll(descriptor, base, buffer.count, path: url.path) }
    }
    guard fsync(descriptor) == 0 else { throw systemCallError("fsync", path: url.path) }
  }

  /// Copies a file into a new file and flushes the copy.
  static func copy(_ source: URL, to destination: URL) throws {
    let input = open(source.path, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else { throw systemCallError("open", path: source.path) }
    defer { close(input) }
    let output = open(destination.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard output >= 0 else { throw systemCallError("open", path: destination.path) }
    defer { close(output) }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    while true {
      let count = read(input, buffer, 1 << 20)
      if count < 0 {
        if errno == EINTR { continue }
        throw systemCallError("read", path: source.path)
      }
      if count == 0 { break }
      try writeAll(output, buffer, count, path: destination.path)
    }
    guard fsync(output) == 0 else { throw systemCallError("fsync", path: destination.path) }
  }

  private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int, path: String)
    throws
  {
    var offset = 0
    while offset < count {
      let written = Glibc.write(descriptor, bytes + offset, count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        throw systemCallError("write", path: path)
      }
      offset += written
    }
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
