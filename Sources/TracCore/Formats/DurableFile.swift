import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

#if canImport(Glibc)
  private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    Glibc.write(descriptor, bytes, count)
  }
#else
  private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    Darwin.write(descriptor, bytes, count)
  }
#endif

/// A failed system call on a file, with the file and the reason.
public struct FileSystemError: Error, CustomStringConvertible, Sendable {
  public let path: String
  public let operation: String
  public let code: Int32
  public var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}

/// Durable writes, the project's one implementation: bytes and directory entries reach the disk
/// (fsync) before anything relies on them. The trainer's checkpoints and logs (`AtomicFile`) and the
/// worker's result spool go through here.
public enum DurableFile {
  /// Flushes a file's data, or a directory's entries, to the disk.
  public static func sync(_ url: URL, isDirectory: Bool = false) throws(FileSystemError) {
    let descriptor = open(url.path, O_RDONLY | O_CLOEXEC | (isDirectory ? O_DIRECTORY : 0))
    guard descriptor >= 0 else { throw FileSystemError(path: url.path, operation: "open", code: errno) }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
      throw FileSystemError(path: url.path, operation: "fsync", code: errno)
    }
  }

  /// Writes bytes to a new file (refused when one is there) and flushes them.
  public static func writeNew(_ data: Data, to url: URL) throws(FileSystemError) {
    let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw FileSystemError(path: url.path, operation: "open", code: errno) }
    defer { close(descriptor) }
    try writeAll(data, to: descriptor, path: url.path)
    guard fsync(descriptor) == 0 else {
      throw FileSystemError(path: url.path, operation: "fsync", code: errno)
    }
  }

  /// Copies a file into a new file (refused when one is there) and flushes the copy.
  public static func copy(_ source: URL, to destination: URL) throws(FileSystemError) {
    let input = open(source.path, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else { throw FileSystemError(path: source.path, operation: "open", code: errno) }
    defer { close(input) }
    let output = open(destination.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard output >= 0 else { throw FileSystemError(path: destination.path, operation: "open", code: errno) }
    defer { close(output) }
    let size = 1 << 20
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    defer { buffer.deallocate() }
    while true {
      let count = read(input, buffer, size)
      if count < 0 {
        if errno == EINTR { continue }
        throw FileSystemError(path: source.path, operation: "read", code: errno)
      }
      if count == 0 { break }
      try writeAll(UnsafeRawBufferPointer(start: buffer, count: count), to: output, path: destination.path)
    }
    guard fsync(output) == 0 else {
      throw FileSystemError(path: destination.path, operation: "fsync", code: errno)
    }
  }

  static func writeAll(_ data: Data, to descriptor: Int32, path: String) throws(FileSystemError) {
    var failure: Int32 = 0
    data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
      failure = writeEvery(bytes, to: descriptor)
    }
    if failure != 0 { throw FileSystemError(path: path, operation: "write", code: failure) }
  }

  static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, path: String)
    throws(FileSystemError)
  {
    let failure = writeEvery(bytes, to: descriptor)
    if failure != 0 { throw FileSystemError(path: path, operation: "write", code: failure) }
  }

  /// Writes every byte (retrying short writes and EINTR); the errno of a failure, 0 on success.
  private static func writeEvery(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32 {
    var offset = 0
    while offset < bytes.count {
      let written = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        return errno
      }
      offset += written
    }
    return 0
  }
}

/// Files that are either the old version or the whole new one, whatever happens: the bytes go to a
/// temporary file in the same directory, which is fsynced, renamed over the target (atomic on POSIX
/// file systems), and the directory is fsynced so the rename itself survives a power loss. A process
/// killed at any point (SIGKILL) leaves the old file, or none, and at most a temporary file that
/// `removeTemporaryFiles` clears.
public enum AtomicFile {
  /// Writes `data` to `url`. `midway`, when given, is called after half the bytes are written to
  /// the temporary file (tests kill the process there).
  public static func write(_ data: Data, to url: URL, midway: (() -> Void)? = nil) throws(FileSystemError) {
    let directory = url.deletingLastPathComponent().path
    let temporary = url.deletingLastPathComponent()
      .appendingPathComponent(temporaryPrefix(for: url.lastPathComponent) + String(getpid())).path
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw FileSystemError(path: temporary, operation: "create", code: errno) }
    var closed = false
    defer {
      if !closed {
        close(descriptor)
        unlink(temporary)
      }
    }
    let half = data.count / 2
    try DurableFile.writeAll(data.prefix(half), to: descriptor, path: temporary)
    midway?()
    try DurableFile.writeAll(data.dropFirst(half), to: descriptor, path: temporary)
    guard fsync(descriptor) == 0 else {
      throw FileSystemError(path: temporary, operation: "fsync", code: errno)
    }
    closed = true
    guard close(descriptor) == 0 else {
      let code = errno
      unlink(temporary)
      throw FileSystemError(path: temporary, operation: "close", code: code)
    }
    guard rename(temporary, url.path) == 0 else {
      let code = errno
      unlink(temporary)
      throw FileSystemError(path: url.path, operation: "rename onto", code: code)
    }
    try syncDirectory(directory)
  }

  /// Removes the temporary files a killed writer of `name` left in `directory`.
  public static func removeTemporaryFiles(of name: String, in directory: URL) {
    let prefix = temporaryPrefix(for: name)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    for leftover in names where leftover.hasPrefix(prefix) {
      unlink(directory.appendingPathComponent(leftover).path)
    }
  }

  static func temporaryPrefix(for name: String) -> String { ".\(name).tmp-" }

  private static func syncDirectory(_ path: String) throws(FileSystemError) {
    let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FileSystemError(path: path, operation: "open directory", code: errno) }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else { throw FileSystemError(path: path, operation: "fsync", code: errno) }
  }
}

/// An exclusive lock on a directory for the life of this object (flock on `DIR/.lock`), so two
/// trainers never write checkpoints into the same directory. The kernel drops it when the process
/// dies, however it dies.
public final class DirectoryLock {
  private let descriptor: Int32

  /// Nil when another process holds the lock.
  public init?(_ directory: URL) throws(FileSystemError) {
    let path = directory.appendingPathComponent(".lock").path
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw FileSystemError(path: path, operation: "open", code: errno) }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      close(descriptor)
      return nil
    }
    self.descriptor = descriptor
  }

  deinit { close(descriptor) }
}
