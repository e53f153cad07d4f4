import Foundation

/// What a list of grid files costs when they are submitted to one coordinator in that order
/// (`trac-sweep plan`, sweeps/README.md): the runs each file adds that no earlier file has, the BC
/// stages trained once for several runs, the updates and the CPU-hours they take.
///
/// The counting follows the coordinator's scheduler exactly (docs/CHECKPOINTS.md):
/// - a run is its content hash, so a run that an earlier file already has costs nothing again;
/// - a file's new TraC runs that start from the same BC stage share one stage unit when two or more of
///   them do, or when an earlier file made that unit: the unit makes `bc_steps` updates once and
///   each of its runs the remaining `steps - bc_steps`; a run alone with its stage makes all `steps`;
/// - the BC baselines make `steps` updates.
///
/// A grid that leaves `dataset` out is planned with one stand-in dataset per task (the DSRL file the
/// coordinator would take); a grid that names a file is planned with that path as its identity.
public struct StudyPlan: Sendable {
  /// One file's share of the plan.
  public struct Line: Sendable, Equatable, Codable {
    /// The grid's name.
    public var name: String
    /// Runs in the grid (each distinct run once).
    public var runs: Int
    /// Of those, runs that no earlier file of the plan has: the ones this file trains.
    public var newRuns: Int
    /// BC stage units this file creates.
    public var stageUnits: Int
    /// Updates this file's new runs and stage units make.
    public var updates: Int
    /// `updates`, each priced by `TrainerCost` for its task.
    public var cpuHours: Double
    /// What the same file alone would cost (no earlier file): what sweeps/README.md's table gives.
    public var cpuHoursAlone: Double

    enum CodingKeys: String, CodingKey {
      case name, runs
      case newRuns = "new_runs"
      case stageUnits = "stage_units"
      case updates
      case cpuHours = "cpu_hours"
      case cpuHoursAlone = "cpu_hours_alone"
    }
  }

  public let lines: [Line]
  public let cost: TrainerCost

  /// Every file's new runs, units and hours together.
  public var total: Line {
    lines.reduce(
      Line(name: "total", runs: 0, newRuns: 0, stageUnits: 0, updates: 0, cpuHours: 0, cpuHoursAlone: 0)
    ) { sum, line in
      var sum = sum
      sum.runs += line.runs
      sum.newRuns += line.newRuns
      sum.stageUnits += line.stageUnits
      sum.updates += line.updates
      sum.cpuHours += line.cpuHours
      sum.cpuHoursAlone += line.cpuHoursAlone
      return sum
    }
  }

  public init(grids: [GridFile], cost: TrainerCost = .measured) {
    self.cost = cost
    var known = Ledger()
    lines = grids.map { grid in
      let runs = PlannedRun.distinct(in: grid)
      var alone = Ledger()
      let cpuHoursAlone = alone.add(runs, of: grid, cost: cost).cpuHours
      return known.add(runs, of: grid, cost: cost, cpuHoursAlone: cpuHoursAlone)
    }
  }

  /// A run of a grid with its id and its BC stage unit's, each hashed once.
  private struct PlannedRun {
    let id: String
    let spec: RunSpec
    let task: TaskInfo
    let unit: (id: String, spec: RunSpec)?

    /// The grid's runs, each distinct run once, in the grid's order.
    static func distinct(in grid: GridFile) -> [PlannedRun] {
      var seen: Set<String> = []
      return grid.runs.compactMap { run in
        let spec = run.spec(datasetSHA256: StudyPlan.standInDataset(run))
        let id = spec.runID
        guard seen.insert(id).inserted else { return nil }
        return PlannedRun(id: id, spec: spec, task: run.task, unit: spec.stageUnit.map { ($0.runID, $0) })
      }
    }
  }

  /// The runs and stage units a coordinator would hold after the files so far.
  private struct Ledger {
    var runs: Set<String> = []
    var units: Set<String> = []

    mutating func add(
      _ planned: [PlannedRun], of grid: GridFile, cost: TrainerCost, cpuHoursAlone: Double? = nil
    )
      -> Line
    {
      let new = planned.filter { !runs.contains($0.id) }
      var demand: [String: Int] = [:]
      for run in new {
        if let unit = run.unit { demand[unit.id, default: 0] += 1 }
      }
      var line = Line(
        name: grid.name, runs: planned.count, newRuns: new.count, stageUnits: 0, updates: 0, cpuHours: 0,
        cpuHoursAlone: 0)
      var seconds = 0.0
      func count(_ updates: Int, _ spec: RunSpec, _ task: TaskInfo) {
        line.updates += updates
        seconds += Double(updates) * cost.secondsPerUpdate(task, spec.hyperparameters)
      }
      for run in new {
        runs.insert(run.id)
        let steps = run.spec.hyperparameters.steps
        guard let unit = run.unit, units.contains(unit.id) || demand[unit.id, default: 0] >= 2 else {
          count(steps, run.spec, run.task)
          continue
        }
        if units.insert(unit.id).inserted {
          line.stageUnits += 1
          count(unit.spec.hyperparameters.steps, unit.spec, run.task)
        }
        count(steps - unit.spec.hyperparameters.steps, run.spec, run.task)
      }
      line.cpuHours = seconds / 3600
      line.cpuHoursAlone = cpuHoursAlone ?? line.cpuHours
      return line
    }
  }

  /// The dataset hash a run is planned with: its file's path, or the task's DSRL file.
  static func standInDataset(_ run: GridRun) -> String {
    let identity = run.datasetPath.map { "file:\($0)" } ?? "dsrl:\(run.task.dsrlID)"
    return sha256Hex(Data(identity.utf8))
  }
}

/// Seconds of one CPU core per update (one BLAS thread), by the shapes that set the trainer's work:
/// `batch_size` segments of `L = floor(episode length x seg_ratio)` steps through the
/// `[obs, 256, 256, act]` policy. Fitted to `trac-sweep train` runs whose constants are stated
/// beside them, so the hours scale with the kernel: compare `trac-sweep bench trainer` on your nodes.
public struct TrainerCost: Sendable, Equatable {
  /// Seconds per update per segment step at zero observation width, for a batch of 96.
  public var secondsPerStep: Double
  /// Seconds per update per segment step per observation value, for a batch of 96.
  public var secondsPerStepPerObservation: Double
  /// Where the constants were measured.
  public var measuredOn: String

  public init(secondsPerStep: Double, secondsPerStepPerObservation: Double, measuredOn: String) {
    self.secondsPerStep = secondsPerStep
    self.secondsPerStepPerObservation = secondsPerStepPerObservation
    self.measuredOn = measuredOn
  }

  /// The segment length the trainer uses on the task's full-length episodes (docs/ALGORITHM.md).
  public static func segmentLength(_ task: TaskInfo, _ values: Hyperparameters) -> Int {
    max(1, SegmentSet.length(maxEpisodeLength: task.episodeSteps, segRatio: values.segRatio))
  }

  public func secondsPerUpdate(_ task: TaskInfo, _ values: Hyperparameters) -> Double {
    let length = Double(Self.segmentLength(task, values))
    let perStep = secondsPerStep + secondsPerStepPerObservation * Double(task.observationDim)
    return length * perStep * Double(values.batchSize) / 96
  }

  /// Fitted to TraC updates of `trac-sweep train` (user CPU seconds of 41 updates less those of 11,
  /// over 30; batch 96, one BLAS thread) on datasets of each shape, on the AMD EPYC (Zen 3) development
  /// VM with OpenBLAS 0.3.21's Zen kernel: BallCircle (L 200, obs 8) 0.115 s, AntCircle (L 500,
  /// obs 34, act 8) 0.381 s, CarPush1 (L 750, obs 88) 0.635 s, MetaDrive-mediummean (L 250, obs 259)
  /// 0.389 s. The fit is within 10% of each (AntCircle's wider action costs it 9% more than priced).
  public static let measured = TrainerCost(
    secondsPerStep: 5.64e-4, secondsPerStepPerObservation: 3.75e-6,
    measuredOn: "AMD EPYC (Zen 3), OpenBLAS 0.3.21 Zen kernel, 1 BLAS thread")
}
