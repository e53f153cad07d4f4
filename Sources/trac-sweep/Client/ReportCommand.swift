import ArgumentParser
import Foundation
import SweepReport
import SweepWire
import TracCore

struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write a sensitivity report: index.html, report.md, results.csv, summary.json, figures.",
    discussion: """
      How normalized reward and cost move with each hyperparameter (docs/REPORT.md): mean ± std per \
      setting over cost thresholds and seeds, safe shares, the best safe setting, a functional ANOVA of a \
      product grid or ranges against the seed noise of a one-at-a-time grid, and matplotlib figures. A \
      sweep still running gives a partial report that lists what is missing. The page states the training \
      setup and draws the TraC learning curves from each run's run.json and train.jsonl, found beside its \
      policy (the coordinator's artifacts/runs/<run id>/) or under --artifacts. Writing into the \
      directory of an earlier report replaces it in one step.

      Example:
        trac-sweep report ballcircle-alpha-eta --out reports/ballcircle
        trac-sweep report --grid sweeps/demo.json --results results.csv --out reports/demo
      """)

  @Argument(help: "A sweep id or name (asks the coordinator).") var sweep: String?
  @Option(help: "The directory to write (default: reports/<sweep name>).") var out: String?
  @Option(help: "Without a coordinator: the grid file the results come from (with --results).") var grid:
    String?
  @Option(help: "Without a coordinator: a CSV as `trac-sweep results --format csv` prints it (with --grid).")
  var results: String?
  @Option(
    help: ArgumentHelp(
      "A copy of the coordinator's artifacts folder (holding runs/<run id>/), for the runs' run.json and "
        + "train.jsonl when the report is made on another machine.", valueName: "dir"))
  var artifacts: [String] = []
  @Flag(help: "Skip the figures (they need the project's Python venv: scripts/setup.sh).") var noFigures =
    false
  @OptionGroup var client: ClientOptions

  func validate() throws {
    switch (sweep, grid, results) {
    case (.some, nil, nil), (nil, .some, .some): return
    case (.some, _, _): throw ValidationError("give a sweep, or --grid and --results, not both")
    default: throw ValidationError("give a sweep id or name, or --grid FILE and --results CSV")
    }
  }

  func run() throws {
    let gridFile: GridFile
    let built: ReportBuilder.Built
    let roots = artifacts.map { URL(fileURLWithPath: $0) }
    let folder: (RunObservation) -> RunFolder = { run in
      RunFolders.read(policyPath: run.fields["policy"], runID: run.runID, roots: roots)
    }
    do {
      if let sweep {
        let reply = try client.call(
          ClientRequest(command: .report, sweep: sweep), expecting: ReportDataReply.self)
        gridFile = try GridFile(parsing: Data(reply.grid.utf8))
        built = try ReportBuilder(grid: gridFile, sweepID: reply.sweepID).build(
          table: RunTable(columns: reply.columns, rows: reply.rows),
          source: "the coordinator's table of \(reply.name)", folder: folder)
      } else {
        let gridPath = grid!
        let resultsPath = results!
        guard let gridData = FileManager.default.contents(atPath: gridPath) else {
          throw ReportError.badInput("cannot read the grid file \(gridPath)")
        }
        do {
          gridFile = try GridFile(parsing: gridData)
        } catch {
          throw ReportError.badInput("\(gridPath): \(error)")
        }
        guard let csvData = FileManager.default.contents(atPath: resultsPath) else {
          throw ReportError.badInput("cannot read the results file \(resultsPath)")
        }
        let table = try CSV.parse(String(decoding: csvData, as: UTF8.self), source: resultsPath)
        built = try ReportBuilder(grid: gridFile).build(table: table, source: resultsPath, folder: folder)
      }
    } catch let error as ReportError {
      fail("\(error)", status: TracError.inputErrorExitStatus)
    }
    var figures: ProjectScript?
    if !noFigures {
      switch ProjectScript.resolve("scripts/report_figures.py", scriptVariable: "TRAC_REPORT_FIGURES") {
      case .success(let script): figures = script
      case .failure(let missing): fail("the figures need \(missing); or pass --no-figures", status: 1)
      }
    }
    let directory = URL(fileURLWithPath: out ?? "reports/\(Self.fileName(gridFile.name))")
    let written: ReportFiles.Written
    do {
      written = try ReportFiles.write(built, to: directory, figures: figures)
    } catch {
      fail("\(error)", status: 1)
    }
    let completeness = built.report.completeness
    let note =
      completeness.complete
      ? "all \(completeness.expected) runs"
      : "PARTIAL: \(completeness.recorded) of \(completeness.expected) runs recorded"
    print(directory.appendingPathComponent("index.html").path)
    if let problem = written.figureProblem {
      fail(
        "the report at \(directory.path) was written without figures (its page says so): \(problem)",
        status: 1)
    }
    FileHandle.standardError.write(
      Data("report (\(note), \(written.figures.count) figures): \(directory.path)/index.html\n".utf8))
  }

  static func fileName(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
  }

  private func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(status)
  }
}
