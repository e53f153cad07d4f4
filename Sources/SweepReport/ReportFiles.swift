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

/// Writes a report's files into a directory (docs/REPORT.md): each file whole or not at all (written
/// beside and renamed), the figures made by the project's Python from `summary.json`.
public enum ReportFiles {
  public struct Written: Sendable {
    public var directory: URL
    public var figures: [ReportFigure]
  }

  /// The figures are made by `figures` (nil: no figures). When the figure script fails, every other file
  /// is still written and the error says what failed.
  public static func write(
    _ built: ReportBuilder.Built, to directory: URL, figures script: ProjectScript?
  ) throws(ReportError) -> Written {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    if manager.fileExists(atPath: directory.path, isDirectory: &isDirectory), !isDirectory.boolValue {
      throw .output("\(directory.path) exists and is not a directory")
    }
    do {
      try manager.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw .output("cannot create \(directory.path): \(error.localizedDescription)")
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let summary: Data
    do {
      summary = try encoder.encode(built.report)
    } catch {
      throw .output("cannot encode summary.json: \(error)")
    }
    try save(summary, directory.appendingPathComponent("summary.json"))
    let csv =
      ([CSV.line(built.results.columns)] + built.results.rows.map(CSV.line)).joined(separator: "\n") + "\n"
    try save(Data(csv.utf8), directory.appendingPathComponent("results.csv"))

    var figures: [ReportFigure] = []
    var figureFailure: String?
    let figureDirectory = directory.appendingPathComponent("figures")
    if let script {
      do {
        figures = try makeFigures(
          script, summary: directory.appendingPathComponent("summary.json"), into: figureDirectory)
      } catch {
        figureFailure = error.description
      }
    }
    try save(
      Data(MarkdownReport.render(built.report, figures: figures).utf8),
      directory.appendingPathComponent("report.md"))
    try save(
      Data(HTMLReport.render(built.report, figures: figures, figureDirectory: figureDirectory).utf8),
      directory.appendingPathComponent("index.html"))
    if let figureFailure {
      throw .output(
        "the figures were not made (the other files were written to \(directory.path)): \(figureFailure)")
    }
    return Written(directory: directory, figures: figures)
  }

  /// Runs the figure script into a fresh directory and swaps it in for `figures/` when it succeeds.
  static func makeFigures(_ script: ProjectScript, summary: URL, into figures: URL) throws(ReportError)
    -> [ReportFigure]
  {
    let manager = FileManager.default
    let staging = figures.deletingLastPathComponent().appendingPathComponent(".figures-\(getpid())")
    try? manager.removeItem(at: staging)
    let process = Process()
    process.executableURL = script.python
    process.arguments = [script.script.path, summary.path, "--out", staging.path]
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
      try? manager.removeItem(at: staging)
      let tail = String(decoding: stderr.suffix(2000), as: UTF8.self).trimmingCharacters(
        in: .whitespacesAndNewlines)
      throw .output(
        "\(script.script.lastPathComponent) exited with status \(process.terminationStatus): \(tail)")
    }
    struct Manifest: Decodable { var figures: [ReportFigure] }
    let manifest: Manifest
    do {
      manifest = try JSONDecoder().decode(
        Manifest.self, from: Data(contentsOf: staging.appendingPathComponent("manifest.json")))
    } catch {
      try? manager.removeItem(at: staging)
      throw .output("\(script.script.lastPathComponent) wrote no readable manifest.json: \(error)")
    }
    do {
      if manager.fileExists(atPath: figures.path) {
        _ = try manager.replaceItemAt(figures, withItemAt: staging)
      } else {
        try manager.moveItem(at: staging, to: figures)
      }
    } catch {
      throw .output("cannot move the figures into \(figures.path): \(error.localizedDescription)")
    }
    return manifest.figures
  }

  static func save(_ data: Data, _ url: URL) throws(ReportError) {
    do {
      try data.write(to: url, options: .atomic)
    } catch {
      throw .output("cannot write \(url.path): \(error.localizedDescription)")
    }
  }
}
