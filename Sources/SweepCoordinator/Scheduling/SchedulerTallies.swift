import TracCore

/// The counters `status` and `metrics` show, kept in step with every write: `update(run:)` and
/// `update(attempt:)` move a record's share from its old values to its new ones, a sweep's new members
/// and a stage unit's new dependents add theirs, and a restore counts everything once. So a poll costs
/// O(sweeps + workers), not O(runs + attempts): a dashboard polling every second at 100,000 attempts
/// takes no more of the loop than at 1,000.
struct SchedulerTallies: Sendable {
  /// One sweep's raw counts: runs by their own state (a cancelled sweep shows its pending and running
  /// runs as cancelled: that is applied when read, `Scheduler.sweepStatus(_:)`), and over its runs'
  /// attempts. A run shared by several sweeps counts in each.
  struct SweepTally: Sendable {
    var runs = RunCounts()
    var duplicates = 0
    var lostAttempts = 0
    var failedAttempts = 0
  }

  var bySweep: [SweepID: SweepTally] = [:]
  /// Every run by state, stage units included.
  var runs = RunCounts()
  /// Over every attempt.
  var lostAttempts = 0
  var failedAttempts = 0
  /// Unfinished runs holding a checkpoint, and its bytes (`Scheduler.checkpointsHeld`).
  var checkpointRuns = 0
  var checkpointBytes = 0
  /// Pending runs by the family whose evaluator they need (runs that evaluate nothing are not here).
  var pendingNeeding: [TaskFamily: Int] = [:]
  /// `Scheduler.stageCounts()`: the sum of every stage unit's `stageShare`.
  var stages = StageCounts()
  /// Per stage unit, how many of the runs that start from it are done (whether or not the unit's row
  /// exists, so that its share is right once it does).
  var doneDependents: [RunID: Int] = [:]
}

/// A whole-number step of a counter: one record's share leaves, or comes.
enum TallySign: Int {
  case remove = -1
  case add = 1
}

extension RunCounts {
  /// Moves one run of `state` in or out.
  mutating func count(_ state: RunState, _ sign: TallySign) {
    switch state {
    case .pending: pending += sign.rawValue
    case .running: running += sign.rawValue
    case .done: done += sign.rawValue
    case .failed: failed += sign.rawValue
    case .cancelled: cancelled += sign.rawValue
    }
  }

  mutating func count(_ other: RunCounts, _ sign: TallySign) {
    pending += sign.rawValue * other.pending
    running += sign.rawValue * other.running
    done += sign.rawValue * other.done
    failed += sign.rawValue * other.failed
    cancelled += sign.rawValue * other.cancelled
  }
}

extension StageCounts {
  mutating func count(_ share: StageCounts, _ sign: TallySign) {
    units.count(share.units, sign)
    dependents += sign.rawValue * share.dependents
    dependentsDone += sign.rawValue * share.dependentsDone
    bytes += sign.rawValue * share.bytes
    secondsSaved += Double(sign.rawValue) * share.secondsSaved
  }
}

extension SchedulerTallies.SweepTally {
  /// Moves `run`'s share (its state, its duplicates) in or out.
  mutating func count(_ run: RunRecord, _ sign: TallySign) {
    runs.count(run.state, sign)
    duplicates += sign.rawValue * run.duplicateResults
  }

  mutating func count(_ outcome: AttemptOutcome?, _ sign: TallySign) {
    if outcome == .lost { lostAttempts += sign.rawValue }
    if outcome?.isTrainerFailure == true { failedAttempts += sign.rawValue }
  }
}

// Keeping the tallies: called only from the write paths (`update(...)`, membership, the stage index)
// and from restore.
extension Scheduler {
  /// `old` (nil: the run is new) becomes `new` in every counter.
  mutating func tally(run old: RunRecord?, becoming new: RunRecord) {
    if let old { tallyRun(old, .remove) }
    tallyRun(new, .add)
    let wasDone = old?.state == .done
    let isDone = new.state == .done
    // A stage unit's record changed: its share of the stage counts with it.
    if dependentsOfStage[new.id] != nil {
      let done = tallies.doneDependents[new.id] ?? 0
      let dependents = dependentsOfStage[new.id]?.count ?? 0
      tallies.stages.count(Self.stageShare(of: old, dependents: dependents, done: done), .remove)
      tallies.stages.count(Self.stageShare(of: new, dependents: dependents, done: done), .add)
    }
    // A run that starts from a unit became done (or stopped being): the unit's share changes.
    if wasDone != isDone, let stage = new.stage, dependentsOfStage[stage]?.contains(new.id) == true {
      changeStageShare(of: stage) { tallies in
        tallies.doneDependents[stage, default: 0] += isDone ? 1 : -1
      }
    }
  }

  /// `attempt`'s outcome changed from `old` (nil: the attempt is new, or was running).
  mutating func tally(attempt id: AttemptID, outcome old: AttemptOutcome?, becoming new: AttemptOutcome?) {
    guard old != new else { return }
    var global = SchedulerTallies.SweepTally()
    global.count(old, .remove)
    global.count(new, .add)
    tallies.lostAttempts += global.lostAttempts
    tallies.failedAttempts += global.failedAttempts
    for owner in sweepsOfRun[id.run] ?? [] {
      tallies.bySweep[owner.sweep, default: .init()].count(old, .remove)
      tallies.bySweep[owner.sweep, default: .init()].count(new, .add)
    }
  }

  /// Adds `run` to `sweep` (a new sweep's member): the sweep counts the run as it is now, and follows it
  /// from then on.
  mutating func addMember(_ run: RunID, pointID: String, to sweep: SweepID) {
    sweepsOfRun[run, default: []].append((sweep, pointID))
    guard let record = runs[run] else { return }  // a new run: `update(run:)` counts it
    tallies.bySweep[sweep, default: .init()].count(record, .add)
    for attempt in attempts(of: run) {
      tallies.bySweep[sweep, default: .init()].count(attempt.outcome, .add)
    }
  }

  /// `run` starts its TraC phase from stage unit `stage`.
  mutating func addDependent(_ run: RunID, of stage: RunID) {
    guard dependentsOfStage[stage]?.contains(run) != true else { return }
    let before = stageShare(of: stage)
    tallies.stages.count(before, .remove)
    dependentsOfStage[stage, default: []].insert(run)
    if runs[run]?.state == .done { tallies.doneDependents[stage, default: 0] += 1 }
    tallies.stages.count(stageShare(of: stage), .add)
  }

  /// Counts every record from scratch: after a restore, which fills the tables directly.
  mutating func recountTallies() {
    tallies = SchedulerTallies()
    for run in runs.values { tallyRun(run, .add) }
    for attempt in attempts.values {
      tally(attempt: attempt.id, outcome: nil, becoming: attempt.outcome)
    }
    for (stage, dependents) in dependentsOfStage {
      tallies.doneDependents[stage] = dependents.filter { runs[$0]?.state == .done }.count
      tallies.stages.count(stageShare(of: stage), .add)
    }
  }

  // MARK: Shares

  /// The global counters' share of one run (the sweeps' shares are kept by the caller).
  private mutating func tallyRun(_ run: RunRecord, _ sign: TallySign) {
    tallies.runs.count(run.state, sign)
    if run.state == .pending, let family = Self.evaluationNeed(of: run.spec) {
      tallies.pendingNeeding[family, default: 0] += sign.rawValue
    }
    if let checkpoint = run.checkpoint, run.state != .done {
      tallies.checkpointRuns += sign.rawValue
      tallies.checkpointBytes += sign.rawValue * checkpoint.size
    }
    for owner in sweepsOfRun[run.id] ?? [] {
      tallies.bySweep[owner.sweep, default: .init()].count(run, sign)
    }
  }

  /// Moves `stage`'s share out, applies `change` to the tallies, and moves it back in.
  private mutating func changeStageShare(of stage: RunID, _ change: (inout SchedulerTallies) -> Void) {
    let before = stageShare(of: stage)
    change(&tallies)
    let after = stageShare(of: stage)
    guard before != after else { return }
    tallies.stages.count(before, .remove)
    tallies.stages.count(after, .add)
  }

  private func stageShare(of stage: RunID) -> StageCounts {
    guard dependentsOfStage[stage] != nil else { return StageCounts() }
    return Self.stageShare(
      of: runs[stage], dependents: dependentsOfStage[stage]?.count ?? 0,
      done: tallies.doneDependents[stage] ?? 0)
  }

  /// What one stage unit adds to `stageCounts()`: nothing while its row is missing.
  static func stageShare(of unit: RunRecord?, dependents: Int, done: Int) -> StageCounts {
    var share = StageCounts()
    guard let unit else { return share }
    share.units.count(unit.state, .add)
    share.dependents = dependents
    share.dependentsDone = done
    if unit.state == .done, let checkpoint = unit.checkpoint {
      share.bytes = checkpoint.size
      // Without sharing, each dependent would have trained the stage itself: all but one did not.
      if let seconds = unit.stageSeconds, done > 1 { share.secondsSaved = seconds * Double(done - 1) }
    }
    return share
  }
}
