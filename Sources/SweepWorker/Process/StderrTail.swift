import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// The end of a child's stderr, as users see it next to a failed attempt: whole lines only.
public enum StderrTail {
  public static let maxBytes = 8 * 1024
  public static let maxLines = 40

  /// The last `maxLines` lines of the file, within its last `maxBytes` bytes; empty if unreadable.
  public static func read(from url: URL, maxBytes: Int = maxBytes, maxLines: Int = maxLines) -> String {
    guard let handle = FileHandle(forReadingAtPath: url.path) else { return "" }
    defer { try? handle.close() }
    guard let size = try? handle.seekToEnd() else { return "" }
    let start = size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0
    guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return "" }
    return tail(of: data, startsMidFile: start > 0, maxLines: maxLines)
  }

  /// The last `maxLines` lines of `data`; when `data` starts in the middle of a file, its first
  /// (cut) line is dropped unless it is the only one.
  public static func tail(of data: Data, startsMidFile: Bool, maxLines: Int = maxLines) -> String {
    var bytes = data[...]
    if startsMidFile, let newline = bytes.firstIndex(of: UInt8(ascii: "\n")), newline + 1 < bytes.endIndex {
      bytes = bytes[(newline + 1)...]
    }
    while bytes.last == UInt8(ascii: "\n") { bytes = bytes.dropLast() }
    // The tail starts after the maxLines-th newline from the end.
    var start = bytes.startIndex
    var newlines = 0
    var index = bytes.endIndex
    while index > bytes.startIndex, maxLines > 0 {
      index -= 1
      guard bytes[index] == UInt8(ascii: "\n") else { continue }
      newlines += 1
      if newlines == maxLines {
        start = index + 1
        break
      }
    }
    return String(decoding: bytes[start...], as: UTF8.self)
  }
}
