import SweepCoordinator
import TracCore

/// The counters of `status` and `metrics` recounted by brute force from every record, as the scheduler
/// computed them before it kept tallies: the oracle of `StatusTallyTests`. Only public reads, so it
/// cannot share a bug with the tallies it checks.
struct StatusRecount {
  var sweeps: [SweepStatus] = []
  var waiting: [WaitingRuns] = []
  var stages = StageCounts()
  var checkpointsHeld = (runs: 0, bytes: 0)
  var totals = SchedulerTotals(runs: RunCounts(), lostAttempts: 0, failedAttempts: 0)

  init(_ scheduler: Scheduler) {
    let records = scheduler.snapshot()
    // Every sweep: each member run once per sweep that contains it, every attempt of each.
    for sweep in records.sweeps.sorted(by: { $0.submitOrder < $1.submitOrder }) {
      var counts = RunCounts()
      var duplicates = 0
      var lost = 0
      var failed = 0
      for member in sweep.members {
        guard let run = scheduler.run(member.run) else { continue }
        switch run.state {
        case .pending where sweep.cancelled, .running where sweep.cancelled: counts.cancelled += 1
        case .pending: counts.pending += 1
        case .running: counts.running += 1
        case .done: counts.done += 1
        case .failed: counts.failed += 1
        case .cancelled: counts.cancelled += 1
        }
        duplicates += run.duplicateResults
        for attempt in scheduler.attempts(of: member.run) {
          if attempt.outcome == .lost { lost += 1 }
          if attempt.outcome?.isTrainerFailure == true { failed += 1 }
        }
      }
      sweeps.append(
        SweepStatus(
          id: sweep.id, name: sweep.name, cancelled: sweep.cancelled, runs: counts,
          duplicatesDiscarded: duplicates, lostAttempts: lost, failedAttempts: failed))
    }

    // Every run: totals, checkpoints of unfinished runs, pending runs by the evaluator they need, and
    // the stage index (the runs that name each unit).
    var needing: [TaskFamily: Int] = [:]
    var dependentsOfStage: [RunID: [SweepCoordinator.RunRecord]] = [:]
    for run in records.runs {
      Self.add(run.state, to: &totals.runs)
      if let checkpoint = run.checkpoint, run.state != .done {
        checkpointsHeld.runs += 1
        checkpointsHeld.bytes += checkpoint.size
      }
      if run.state == .pending, let family = Self.evaluationNeed(of: run.spec) {
        needing[family, default: 0] += 1
      }
      if let stage = run.stage { dependentsOfStage[stage, default: []].append(run) }
    }
    for attempt in records.attempts {
      if attempt.outcome == .lost { totals.lostAttempts += 1 }
      if attempt.outcome?.isTrainerFailure == true { totals.failedAttempts += 1 }
    }

    var available: Set<TaskFamily> = []
    var quarantined: Set<TaskFamily> = []
    for worker in records.workers where worker.state == .online && worker.slots > 0 {
      if worker.quarantined {
        quarantined.formUnion(worker.evaluates)
      } else {
        available.formUnion(worker.evaluates)
      }
    }
    waiting = TaskFamily.allCases.compactMap { family in
      guard let count = needing[family], count > 0, !available.contains(family) else { return nil }
      return WaitingRuns(family: family, runs: count, onlyQuarantinedCan: quarantined.contains(family))
    }

    for (unitID, dependents) in dependentsOfStage {
      guard let unit = scheduler.run(unitID) else { continue }
      Self.add(unit.state, to: &stages.units)
      let done = dependents.filter { $0.state == .done }.count
      stages.dependents += dependents.count
      stages.dependentsDone += done
      if unit.state == .done, let checkpoint = unit.checkpoint {
        stages.bytes += checkpoint.size
        if let seconds = unit.stageSeconds, done > 1 { stages.secondsSaved += seconds * Double(done - 1) }
      }
    }
  }

  static func add(_ state: RunState, to counts: inout RunCounts) {
    switch state {
    case .pending: counts.pending += 1
    case .running: counts.running += 1
    case .done: counts.done += 1
    case .failed: counts.failed += 1
    case .cancelled: counts.cancelled += 1
    }
  }

  /// The family whose evaluator a run needs: none when it evaluates nothing.
  static func evaluationNeed(of spec: RunSpec) -> TaskFamily? {
    guard spec.evalEpisodes > 0 else { return nil }
    return TaskInfo.all.first { $0.dsrlID == spec.task || $0.simulatorID == spec.task }?.family ?? .bulletGym
  }
}
