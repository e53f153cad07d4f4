import Foundation

/// A directory that paths built from untrusted names stay inside: the one way this project turns a
/// name that came from the network (a run id, a file name, a dataset hash) into a path.
///
/// `path(_:)` refuses a component that is empty, `.`, `..`, or holds `/` or NUL, and refuses a result
/// that, with every symbolic link resolved, lies outside the directory (a link planted inside it that
/// points out).
public struct ContainedDirectory: Sendable, Equatable, CustomStringConvertible {
  /// The directory as given, standardized.
  public let url: URL
  /// The directory with its symbolic links resolved, what containment is checked against.
  let resolved: String

  /// `url` must exist (it is created with its parents when `create` is true).
  public init(_ url: URL, create: Bool = true) throws {
    if create { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    self.url = url.standardizedFileURL
    guard let real = Self.realPath(self.url.path) else {
      throw TracError.invalidInput("\(url.path): no such directory")
    }
    resolved = real
  }

  public var description: String { url.path }

  /// `directory/component/...`, checked. The components are single names; none may climb out.
  public func path(_ components: String...) throws(PathOutsideRoot) -> URL {
    try path(components)
  }

  public func path(_ components: [String]) throws(PathOutsideRoot) -> URL {
    var result = url
    for component in components {
      guard !component.isEmpty, component != ".", component != "..",
        !component.utf8.contains(0x2F), !component.utf8.contains(0)
      else { throw PathOutsideRoot(root: url.path, name: components.joined(separator: "/")) }
      result.appendPathComponent(component)
    }
    guard contains(result) else {
      throw PathOutsideRoot(root: url.path, name: components.joined(separator: "/"))
    }
    return result
  }

  /// Whether `candidate`, with every symbolic link on its existing part resolved, lies inside this
  /// directory (or is the directory itself).
  public func contains(_ candidate: URL) -> Bool {
    guard let real = Self.resolveExistingPrefix(candidate.standardizedFileURL.path) else { return false }
    return real == resolved || real.hasPrefix(resolved == "/" ? "/" : resolved + "/")
  }

  /// `path` with the symbolic links of its longest existing prefix resolved and the rest appended.
  static func resolveExistingPrefix(_ path: String) -> String? {
    var existing = path
    var rest: [String] = []
    while true {
      if let real = realPath(existing) {
        return ([real] + rest.reversed()).joined(separator: "/").replacingOccurrences(of: "//", with: "/")
      }
      // A dangling symbolic link exists but does not resolve: refuse it rather than follow it later.
      if (try? FileManager.default.destinationOfSymbolicLink(atPath: existing)) != nil { return nil }
      let url = URL(fileURLWithPath: existing)
      let parent = url.deletingLastPathComponent().path
      guard parent != existing, !existing.isEmpty else { return nil }
      rest.append(url.lastPathComponent)
      existing = parent
    }
  }

  static func realPath(_ path: String) -> String? {
    guard let pointer = realpath(path, nil) else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
  }
}

/// A name that would have made a path outside its directory.
public struct PathOutsideRoot: Error, Equatable, Sendable, CustomStringConvertible {
  public let root: String
  public let name: String

  public init(root: String, name: String) {
    self.root = root
    self.name = String(name.prefix(200))
  }

  public var description: String {
    "refused the path \"\(name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? String($0) : $0.escaped(asASCII: true) }.joined())\": it would lie outside \(root)"
  }
}
