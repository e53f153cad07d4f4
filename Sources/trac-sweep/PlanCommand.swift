import ArgumentParser
import Foundation
import TracCore

struct PlanCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "plan",
    abstract: "What grid files cost before you submit them: new runs, shared BC stages, updates, CPU-hours.",
    discussion: """
      Reads the grid files as one coordinator would take them, in the order given, and prints per \
      file: its runs, the runs no earlier file has (run ids are content hashes: a shared run is \
      trained once), the BC stage units it creates (one BC phase for several runs), the updates, \
      and CPU-hours at one BLAS thread; then the total. Nothing is sent anywhere.

      The hours price each update by its task's shapes (segment length and observation width), \
      fitted to the trainer on the CPU and kernel the last line names; scale them by your nodes' \
      `trac-sweep bench trainer` step against that one. Evaluation (minutes a run) is not counted.

      Example:
        trac-sweep plan sweeps/paper-*.json
      """)

  @Argument(help: "Grid files (docs/GRID.md), in the order they will be submitted.")
  var grids: [String]

  @Flag(help: "Print JSON instead of a table.") var json = false

  func validate() throws {
    guard !grids.isEmpty else { throw ValidationError("give at least one grid file") }
  }

  func run() throws {
    var files: [GridFile] = []
    for path in grids {
      let data: Data
      do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw ValidationError("\(path): cannot read it (\(error.localizedDescription))")
      }
      do { files.append(try GridFile(parsing: data)) } catch { throw ValidationError("\(path): \(error)") }
    }
    let plan = StudyPlan(grids: files)
    if json {
      print(String(decoding: try Self.json(plan), as: UTF8.self))
    } else {
      for line in Self.table(plan) { print(line) }
    }
  }

  static func table(_ plan: StudyPlan) -> [String] {
    let header = ["grid", "runs", "new runs", "BC stages", "updates", "CPU-hours", "alone"]
    let rows = (plan.lines + [plan.total]).map { line in
      [
        line.name, "\(line.runs)", "\(line.newRuns)", "\(line.stageUnits)", "\(line.updates)",
        hours(line.cpuHours), hours(line.cpuHoursAlone),
      ]
    }
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    func format(_ cells: [String]) -> String {
      cells.enumerated().map { column, cell in
        column == 0
          ? cell.padding(toLength: widths[0], withPad: " ", startingAt: 0)
          : String(repeating: " ", count: widths[column] - cell.count) + cell
      }.joined(separator: "  ")
    }
    return [format(header)] + rows.map(format) + [
      "alone: the file's hours submitted to a coordinator that has none of the others' runs.",
      "CPU-hours at one BLAS thread, priced on \(plan.cost.measuredOn); evaluation not counted.",
    ]
  }

  /// Whole hours, with a tenth below 10 (a small grid is not "0 hours").
  static func hours(_ value: Double) -> String {
    value < 10 ? String(format: "%.1f", value) : String(Int(value.rounded()))
  }

  /// `{"grids": [line...], "total": line, "priced_on": "..."}`, each line as `StudyPlan.Line` encodes.
  static func json(_ plan: StudyPlan) throws -> Data {
    struct Document: Encodable {
      let grids: [StudyPlan.Line]
      let total: StudyPlan.Line
      let pricedOn: String
      enum CodingKeys: String, CodingKey {
        case grids, total
        case pricedOn = "priced_on"
      }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    return try encoder.encode(Document(grids: plan.lines, total: plan.total, pricedOn: plan.cost.measuredOn))
  }
}
