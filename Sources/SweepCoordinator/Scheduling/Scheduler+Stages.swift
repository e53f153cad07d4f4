import TracCore

// Shared BC stages (docs/CHECKPOINTS.md). A TraC run's BC phase depends on fewer inputs than the run
// (`BCStage`): every run with the same stage has the same state at the switch to TraC. With sharing on,
// that phase is a unit of work of its own, a run whose spec is the dependents' `RunSpec.stageUnit`
// (steps = bc_steps, no evaluation), scheduled like any run: lease, retries, checkpoints, exactly one
// recorded result. Its result carries the end-of-BC checkpoint; the coordinator keeps it, and every
// dependent's attempts start their TraC phase from it. Until the unit is done its dependents wait:
// pending, but not queued.
extension Scheduler {
  /// The stage unit a new run starts from, created (pending, queued before the run) when no earlier run
  /// needed it; nil when sharing is off, the run has no stage to share, or it would share it with no
  /// one. `demand`: how many of the submission's new runs start from each stage (by the unit's run
  /// id); a unit is made for two or more, and a unit an earlier sweep made is always used.
  mutating func stageForNewRun(_ spec: RunSpec, datasetPath: String?, demand: [String: Int]) -> RunID? {
    guard configuration.shareBCStages, let unit = spec.stageUnit, let id = RunID(rawValue: unit.runID)
    else { return nil }
    guard runs[id] != nil || demand[unit.runID, default: 0] >= 2 else { return nil }
    if runs[id] == nil {
      update(run: RunRecord(id: id, spec: unit, datasetPath: datasetPath, queueOrder: nextQueueOrder))
      nextQueueOrder += 1
    }
    return id
  }

  /// Puts a pending run in its queue, unless it starts from a stage unit that is not done: then it
  /// waits. With `revivingStage`, a unit that failed or was cancelled is pending again (a run needs it).
  mutating func queue(_ run: RunRecord, revivingStage: Bool) {
    guard let stageID = run.stage, let stage = runs[stageID], stage.state != .done else {
      enqueue(run)
      return
    }
    guard revivingStage, stage.state == .failed || stage.state == .cancelled else { return }
    var revived = stage
    revived.state = .pending
    revived.failureCount = 0
    update(run: revived)
  }

  /// The stage unit's end-of-BC checkpoint, once the unit is done.
  func stageOutput(of stageID: RunID?) -> RunCheckpoint? {
    guard let stageID, let stage = runs[stageID], stage.state == .done else { return nil }
    return stage.checkpoint
  }

  /// A stage unit's result was recorded: its end-of-BC checkpoint replaces the last one shipped (the
  /// caller saves the unit), and the runs that waited for it are queued.
  mutating func stageDone(
    _ unit: inout RunRecord, output: RunCheckpoint?, seconds: Double?, commands: inout [SchedulerCommand]
  ) {
    if let old = unit.checkpoint, old.sha256 != output?.sha256 {
      commands.append(.deleteCheckpoint(old.sha256))
    }
    unit.checkpoint = output
    unit.stageSeconds = seconds
    let waiting = (dependentsOfStage[unit.id] ?? []).sorted().compactMap { runs[$0] }.filter {
      $0.state == .pending
    }
    for run in waiting { enqueue(run) }
    if !waiting.isEmpty {
      commands.append(
        .log(
          level: .info,
          message: "BC stage unit \(unit.id) done: \(waiting.count) runs start their TraC phase from it"))
    }
  }

  /// A stage unit failed for good: the runs waiting for it fail with it (`retry --failed` on one of
  /// their sweeps queues them and the unit again).
  mutating func stageFailed(_ unitID: RunID, error: String, commands: inout [SchedulerCommand]) {
    var failed = 0
    for id in (dependentsOfStage[unitID] ?? []).sorted() {
      guard var run = runs[id], run.state == .pending else { continue }
      run.state = .failed
      update(run: run)
      failed += 1
    }
    guard failed > 0 else { return }
    commands.append(
      .log(
        level: .error,
        message: "BC stage unit \(unitID) failed: the \(failed) runs that start from it fail too: \(error)"))
  }

  /// Whether a run still wants `unitID` trained: a sweep contains it, or a run that waits for it.
  func isStageWanted(_ unitID: RunID) -> Bool {
    isWanted(unitID)
      || (dependentsOfStage[unitID] ?? []).contains { runs[$0]?.state == .pending && isWanted($0) }
  }

  /// Cancels the stage units among `units` that no run wants any more (their sweeps were cancelled).
  mutating func cancelUnwantedStages(_ units: Set<RunID>, commands: inout [SchedulerCommand]) -> Int {
    var cancelled = 0
    for unitID in units.sorted() where !isStageWanted(unitID) {
      guard var unit = runs[unitID] else { continue }
      switch unit.state {
      case .pending:
        unit.state = .cancelled
        update(run: unit)
      case .running(let lease):
        commands.append(
          .cancelRun(worker: lease.worker, attempt: AttemptID(run: unitID, counted: lease.attempt)))
        endCurrentAttempt(of: unitID, outcome: .cancelled, then: .cancelled)
      case .done, .failed, .cancelled:
        continue
      }
      cancelled += 1
    }
    return cancelled
  }

  /// Stage units and what sharing them saved, for `status`: kept by the write paths
  /// (`SchedulerTallies.stages`), O(1).
  public func stageCounts() -> StageCounts { tallies.stages }
}

/// Shared BC stages in `status`: their units by state, the runs that start from them, and the BC-phase
/// seconds not spent because runs shared a unit.
public struct StageCounts: Equatable, Sendable {
  public var units = RunCounts()
  /// Runs that start their TraC phase from a stage unit, and how many of those are done.
  public var dependents = 0
  public var dependentsDone = 0
  /// The end-of-BC checkpoints kept for done units.
  public var bytes = 0
  /// For each done unit, its BC seconds times (its done dependents - 1).
  public var secondsSaved = 0.0

  public init() {}
}
