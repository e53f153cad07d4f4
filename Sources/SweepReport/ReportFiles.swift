import Foundation
import TracCore

/// One figure of `figures/manifest.json`, as `scripts/report_figures.py` lists it.
public struct ReportFigure: Decodable, Equatable, Sendable {
  public var name: String
  public var task: String
  public var kind: String
  public var title: String
  public var caption: String
  public var png: String
  public var svg: String
}

/// Writes a report's files into a directory (docs/REPORT.md). The whole report is made in a hidden
/// folder beside the directory and swapped in for it in one step: a reader sees the old report or the
/// new one, never a mix, and a run that fails leaves the old report as it was and no folder behind.
public enum ReportFiles {
  public struct Written: Sendable {
    public var directory: URL
    public var figures: [ReportFigure]
    /// Why the report has no figures although they were asked for (its page says so too).
    public var figureProblem: String?
  }

  /// What a report's directory holds. A directory with anything else is not replaced: it is not a report.
  public static let reportEntries: Set<String> = [
    "index.html", "report.md", "results.csv", "summary.json", "figures",
  ]

  /// The figures are made by `figures` (nil: no figures, and the page says they were not asked for).
  /// When the figure script fails, the report is written without figures, its page says why, and
  /// `figureProblem` holds the reason.
  public static func write(
    _ built: ReportBuilder.Built, to directory: URL, figures script: ProjectScript?
  ) throws(ReportError) -> Written {
    let manager = FileManager.default
    let directory = directory.standardizedFileURL
    try checkReplaceable(directory)
    let parent = directory.deletingLastPathComponent()
    do {
      try manager.createDirectory(at: parent, withIntermediateDirectories: true)
    } catch {
      throw .output("cannot create \(parent.path): \(error.localizedDescription)")
    }
    removeAbandonedStaging(beside: directory)
    let staging = parent.appendingPathComponent(
      ".\(directory.lastPathComponent).report-\(getpid())-\(UUID().uuidString.prefix(8))")
    do {
      try manager.createDirectory(at: staging, withIntermediateDirectories: false)
    } catch {
      throw .output("cannot create \(staging.path): \(error.localizedDescription)")
    }
    // After the swap this holds the old report; on any failure, the half-made new one.
    defer { try? manager.removeItem(at: staging) }

    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let summary: Data
    do {
      summary = try encoder.encode(built.report)
    } catch {
      throw .output("cannot encode summary.json: \(error)")
    }
    try save(summary, staging.appendingPathComponent("summary.json"))
    let csv =
      ([CSV.line(built.results.columns)] + built.results.rows.map(CSV.line)).joined(separator: "\n") + "\n"
    try save(Data(csv.utf8), staging.appendingPathComponent("results.csv"))

    var figures: [ReportFigure] = []
    var figureProblem: String?
    let figureNote: String
    let figureDirectory = staging.appendingPathComponent("figures")
    if let script {
      do {
        figures = try makeFigures(
          script, summary: staging.appendingPathComponent("summary.json"), into: figureDirectory)
        figureNote = ""
      } catch {
        try? manager.removeItem(at: figureDirectory)
        figureProblem = error.description
        figureNote = "the figures could not be made: \(error.description)"
      }
    } else {
      figureNote = "the report was made without figures (--no-figures)."
    }
    try save(
      Data(
        MarkdownReport.render(
          built.report, figures: figures, figureNote: figureNote.isEmpty ? nil : figureNote
        )
        .utf8),
      staging.appendingPathComponent("report.md"))
    try save(
      Data(
        HTMLReport.render(
          built.report, figures: figures, figureDirectory: figureDirectory,
          figureNote: figureNote.isEmpty ? nil : figureNote
        ).utf8),
      staging.appendingPathComponent("index.html"))
    try swap(staging, into: directory)
    return Written(directory: directory, figures: figures, figureProblem: figureProblem)
  }

  /// A directory may be replaced when it does not exist, is empty, or holds only a report's files.
  static func checkReplaceable(_ directory: URL) throws(ReportError) {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    guard manager.fileExists(atPath: directory.path, isDirectory: &isDirectory) else { return }
    guard isDirectory.boolValue else { throw .output("\(directory.path) exists and is not a directory") }
    let entries: [String]
    do {
      entries = try manager.contentsOfDirectory(atPath: directory.path)
    } catch {
      throw .output("cannot read \(directory.path): \(error.localizedDescription)")
    }
    // `.figures-<pid>`: what an earlier version left when it failed to move its figures in.
    let foreign = entries.filter { !reportEntries.contains($0) && !$0.hasPrefix(".figures-") }.sorted()
    guard foreign.isEmpty else {
      let listed = foreign.prefix(5).joined(separator: ", ") + (foreign.count > 5 ? ", ..." : "")
      throw .output(
        "\(directory.path) holds files a report does not write (\(listed)); the report replaces its whole "
          + "directory, so give --out a new or empty directory, or the directory of an earlier report")
    }
  }

  /// Staging folders of this directory left by a report that was killed (its process is gone).
  static func removeAbandonedStaging(beside directory: URL) {
    let parent = directory.deletingLastPathComponent()
    let prefix = ".\(directory.lastPathComponent).report-"
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent.path) else { return }
    for entry in entries where entry.hasPrefix(prefix) {
      let pid = entry.dropFirst(prefix.count).split(separator: "-").first.flatMap { Int32($0) }
      if let pid, pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
      try? FileManager.default.removeItem(at: parent.appendingPathComponent(entry))
    }
  }

  /// Puts `staging` in place of `directory`: on Linux one renameat2(RENAME_EXCHANGE), so the directory
  /// always holds a whole report; elsewhere (or on a file system without it), the old one is moved
  /// aside first. Afterwards `staging` holds the old report, for the caller to delete.
  static func swap(_ staging: URL, into directory: URL) throws(ReportError) {
    let manager = FileManager.default
    if manager.fileExists(atPath: directory.path) {
      if exchange(staging.path, directory.path) { return }
      let aside = staging.appendingPathExtension("old")
      do {
        try manager.moveItem(at: directory, to: aside)
      } catch {
        throw .output("cannot move the earlier report \(directory.path) aside: \(error.localizedDescription)")
      }
      do {
        try manager.moveItem(at: staging, to: directory)
      } catch {
        try? manager.moveItem(at: aside, to: directory)
        throw .output("cannot move the report into \(directory.path): \(error.localizedDescription)")
      }
      try? manager.moveItem(at: aside, to: staging)
      try? manager.removeItem(at: aside)
    } else {
      do {
        try manager.moveItem(at: staging, to: directory)
      } catch {
        throw .output("cannot move the report into \(directory.path): \(error.localizedDescription)")
      }
    }
  }

  private typealias RenameAt2 =
    @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32

  /// Swaps two paths atomically with Linux's renameat2(RENAME_EXCHANGE); false where it is missing.
  private static func exchange(_ first: String, _ second: String) -> Bool {
    #if os(Linux)
      guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "renameat2") else { return false }
      let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
      let renameExchange: UInt32 = 2
      return renameat2(AT_FDCWD, first, AT_FDCWD, second, renameExchange) == 0
    #else
      return false
    #endif
  }

  /// Runs the figure script into `figures` (inside the report's staging folder).
  static func makeFigures(_ script: ProjectScript, summary: URL, into figures: URL) throws(ReportError)
    -> [ReportFigure]
  {
    let process = Process()
    process.executableURL = script.python
    process.arguments = [script.script.path, summary.path, "--out", figures.path]
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    var environment = ProcessInfo.processInfo.environment
    environment["MPLBACKEND"] = "Agg"
    process.environment = environment
    do {
      try process.run()
    } catch {
      throw .output("cannot start \(script.python.path): \(error.localizedDescription)")
    }
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let tail = String(decoding: stderr.suffix(2000), as: UTF8.self).trimmingCharacters(
        in: .whitespacesAndNewlines)
      throw .output(
        "\(script.script.lastPathComponent) exited with status \(process.terminationStatus): \(tail)")
    }
    struct Manifest: Decodable { var figures: [ReportFigure] }
    do {
      return try JSONDecoder().decode(
        Manifest.self, from: Data(contentsOf: figures.appendingPathComponent("manifest.json"))
      ).figures
    } catch {
      throw .output("\(script.script.lastPathComponent) wrote no readable manifest.json: \(error)")
    }
  }

  static func save(_ data: Data, _ url: URL) throws(ReportError) {
    do {
      try data.write(to: url)
    } catch {
      throw .output("cannot write \(url.path): \(error.localizedDescription)")
    }
  }
}
