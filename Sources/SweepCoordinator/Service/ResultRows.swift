import Foundation
import SweepWire
import TracCore

/// The tidy rows of `results` (one per recorded run) and `report` (every run of a sweep, recorded or
/// not): the one place a run's row of `ResultColumns` is built. Read-only, answered from the committed
/// state.
public final class ResultRows {
  let scheduler: DurableScheduler

  public init(scheduler: DurableScheduler) { self.scheduler = scheduler }

  /// Those of `runs` that start from a shared BC stage unit.
  func sharesStage(_ runs: [RunID]) -> Set<RunID> {
    scheduler.read { scheduler in Set(runs.filter { scheduler.run($0)?.stage != nil }) }
  }

  /// The columns of `results` (`ResultColumns`).
  public static var resultColumns: [String] { ResultColumns.names }

  /// One tidy row per recorded run.
  public func results(_ sweep: SweepID) throws -> ResultsReply {
    let rows = try scheduler.store.results(sweep: sweep)
    let sharing = sharesStage(rows.map(\.run))
    let grid = self.grid(of: sweep)
    return ResultsReply(
      columns: Self.resultColumns, types: ResultColumns.kinds.map(\.rawValue),
      rows: rows.map {
        Self.resultRow(
          sweep: sweep, run: $0.run, pointID: $0.pointID, spec: $0.spec, result: $0,
          sharesStage: sharing.contains($0.run), grid: grid)
      })
  }

  /// The sweep's grid, for the `setting` labels (parsed once per request; it parsed when submitted).
  func grid(of sweep: SweepID) -> GridFile? {
    scheduler.read { $0.sweep(sweep) }.flatMap { try? GridFile(parsing: Data($0.gridJSON.utf8)) }
  }

  /// The grid and every run of the sweep, recorded or not, for `trac-sweep report`.
  public func reportData(_ sweep: SweepID) throws -> ReportDataReply {
    guard let record = scheduler.read({ $0.sweep(sweep) }) else { throw CoordinatorError.unknownSweep(sweep) }
    let recorded = try scheduler.store.results(sweep: sweep)
    let sharing = sharesStage(recorded.map(\.run))
    let grid = try? GridFile(parsing: Data(record.gridJSON.utf8))
    var rows = recorded.map {
      Self.resultRow(
        sweep: sweep, run: $0.run, pointID: $0.pointID, spec: $0.spec, result: $0,
        sharesStage: sharing.contains($0.run), grid: grid) + ["done"]
    }
    let done = Set(recorded.map(\.run))
    let others = scheduler.read { current in
      record.members.filter { !done.contains($0.run) }.compactMap { member in
        current.run(member.run).map { (member, $0.spec, $0.state.name) }
      }
    }
    for (member, spec, state) in others {
      rows.append(
        Self.resultRow(
          sweep: sweep, run: member.run, pointID: member.pointID, spec: spec, result: nil, grid: grid) + [
            state
          ])
    }
    return ReportDataReply(
      sweepID: sweep.rawValue, name: record.name, grid: record.gridJSON,
      columns: Self.resultColumns + ["state"], types: ResultColumns.kinds.map(\.rawValue) + ["text"],
      rows: rows)
  }

  /// A run's row of `resultColumns`; the evaluation's fields are empty without a recorded result.
  public static func resultRow(
    sweep: SweepID, run: RunID, pointID: String, spec: RunSpec, result: ResultRow?, sharesStage: Bool = false,
    grid: GridFile?
  ) -> [String] {
    let h = spec.hyperparameters
    // run.json as decoded when the result arrived (`RunSummary`): no JSON is read here.
    let record = result?.summary ?? RunSummary()
    func number(_ value: Double?) -> String { value.map { formatDecimal($0) } ?? "" }
    // The setting tells TraC's points from the baselines, which share the base point's id.
    let setting =
      grid?.settingLabel(spec.algorithm, pointID: pointID) ?? "\(spec.algorithm.rawValue) \(pointID)"
    let identity: [String] = [
      sweep.rawValue, run.rawValue, pointID, setting, spec.task, spec.algorithm.rawValue,
    ]
    let hyperparameters: [String] = HyperparameterName.allCases.map { name in
      switch name.value(in: h) {
      case .real(let number): return "\(number)"
      case .integer(let count): return "\(count)"
      case .reference(let policy): return policy.rawValue
      case .segments(let selection): return selection.rawValue
      }
    }
    let outcome: [String] = [
      formatNumber(spec.costThreshold),
      "\(spec.seed)",
      number(record.rewardMean), number(record.rewardStd), number(record.costMean), number(record.costStd),
      record.safe.map { $0 ? "true" : "false" } ?? "",
      number(record.rewardReturnMean), number(record.costReturnMean),
      "\(spec.evalEpisodes)", result.map { "\($0.attempt)" } ?? "", result?.worker.rawValue ?? "",
      number(record.totalSeconds),
      result?.artifactPaths.first { $0.hasSuffix("policy.safetensors") } ?? "",
      // As the trainer recorded it; computed (a hash of the spec) only for runs without a run.json.
      record.bcStage ?? spec.bcStage?.stageID ?? "",
      result == nil ? "" : "\(stepsTrained(run: run, spec: spec, record: record, sharesStage: sharesStage))",
      result?.audit ?? "",
    ]
    return identity + hyperparameters + outcome
  }

  /// The steps trained for the run itself, its shared BC stage left out: all of them when its
  /// recorded attempt started from step 0, the TraC phase when it started from its stage unit's
  /// checkpoint; after resuming from its own checkpoint, the TraC phase if the run shares a stage.
  /// Another run's checkpoint can only be the end of this run's BC stage (the trainer refuses any
  /// other), so no id needs computing.
  static func stepsTrained(run: RunID, spec: RunSpec, record: RunSummary, sharesStage: Bool) -> Int {
    let steps = spec.hyperparameters.steps
    guard let resumedFrom = record.resumedFromRun else { return steps }
    let startedFromStage = resumedFrom != run.rawValue || sharesStage
    return startedFromStage ? steps - spec.hyperparameters.bcSteps : steps
  }
}
