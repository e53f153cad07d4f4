import Foundation
import TracCore

// Submitting, cancelling and retrying sweeps.
extension Scheduler {
  mutating func submit(_ submission: SweepSubmission, commands: inout [SchedulerCommand])
    throws(CoordinatorError)
  {
    let runIDs = submission.runs.map(\.runID)
    if var existing = sweeps[submission.id] {
      guard existing.members.map(\.run) == uniqued(runIDs) else {
        throw .sweepChanged(
          submission.id,
          message:
            "the grid was submitted before but now expands to other runs; a dataset file has probably "
            + "changed since. Rename the sweep to keep both, or restore the dataset")
      }
      guard existing.cancelled else {
        commands.append(
          .log(level: .info, message: "sweep \(submission.id) was already submitted: unchanged"))
        return
      }
      existing.cancelled = false
      update(sweep: existing)
      var resumed = 0
      for member in existing.members {
        guard var run = runs[member.run], run.state == .cancelled else { continue }
        run.state = .pending
        update(run: run)
        resumed += 1
      }
      commands.append(
        .log(
          level: .info,
          message: "sweep \(submission.id) resumed after a cancel: \(resumed) runs pending again"))
      return
    }
    if let taken = sweepIDsByName[submission.name], let other = sweeps[taken] {
      throw .sweepNameTaken(
        name: submission.name, existing: taken,
        differences: Self.differences(old: other.gridJSON, new: submission.gridJSON))
    }

    // How many of the new runs start from each BC stage: a stage becomes a unit of its own only when
    // two or more of them do (or an earlier sweep made its unit); a run alone with its stage trains
    // its BC phase itself, which costs no extra process, dataset load or checkpoint round trip.
    var stageDemand: [String: Int] = [:]
    if configuration.shareBCStages {
      var counted: Set<RunID> = []
      for input in submission.runs where runs[input.runID] == nil && counted.insert(input.runID).inserted {
        if let unit = input.spec.stageUnit { stageDemand[unit.runID, default: 0] += 1 }
      }
    }
    var members: [SweepMember] = []
    var seen: Set<RunID> = []
    var shared = (done: 0, active: 0, other: 0)
    for input in submission.runs where seen.insert(input.runID).inserted {
      members.append(SweepMember(run: input.runID, pointID: input.pointID))
      addMember(input.runID, pointID: input.pointID, to: submission.id)
      if var run = runs[input.runID] {
        switch run.state {
        case .done: shared.done += 1
        case .pending, .running: shared.active += 1
        case .failed: shared.other += 1
        case .cancelled:
          run.state = .pending
          update(run: run)
        }
      } else {
        let stage = stageForNewRun(input.spec, datasetPath: input.datasetPath, demand: stageDemand)
        if let stage { addDependent(input.runID, of: stage) }
        update(
          run: RunRecord(
            id: input.runID, spec: input.spec, datasetPath: input.datasetPath, queueOrder: nextQueueOrder,
            stage: stage))
        nextQueueOrder += 1
      }
    }
    let sweep = SweepRecord(
      id: submission.id, name: submission.name, gridJSON: submission.gridJSON, submitOrder: nextSubmitOrder,
      members: members)
    nextSubmitOrder += 1
    sweepIDsByName[sweep.name] = sweep.id
    newSweeps.insert(sweep.id)
    update(sweep: sweep)
    var message = "sweep \(sweep.id) (\(sweep.name)) submitted: \(members.count) runs"
    if shared.done > 0 { message += ", \(shared.done) already done" }
    if shared.active > 0 { message += ", \(shared.active) shared with a sweep that is running them" }
    if shared.other > 0 { message += ", \(shared.other) failed before (retry them with retry --failed)" }
    commands.append(.log(level: .info, message: message))
  }

  mutating func cancel(_ sweepID: SweepID, commands: inout [SchedulerCommand]) throws(CoordinatorError) {
    guard var sweep = sweeps[sweepID] else { throw .unknownSweep(sweepID) }
    guard !sweep.cancelled else { return }
    sweep.cancelled = true
    update(sweep: sweep)
    var cancelled = 0
    var keptForOthers = 0
    for member in sweep.members {
      guard var run = runs[member.run] else { continue }
      switch run.state {
      case .pending:
        guard !isWanted(member.run) else {
          keptForOthers += 1
          continue
        }
        run.state = .cancelled
        update(run: run)
        cancelled += 1
      case .running(let lease):
        guard !isWanted(member.run) else {
          keptForOthers += 1
          continue
        }
        commands.append(
          .cancelRun(worker: lease.worker, attempt: AttemptID(run: member.run, counted: lease.attempt)))
        endCurrentAttempt(of: member.run, outcome: .cancelled, then: .cancelled)
        cancelled += 1
      case .done, .failed, .cancelled:
        continue
      }
    }
    let units = Set(sweep.members.compactMap { runs[$0.run]?.stage })
    let stagesCancelled = cancelUnwantedStages(units, commands: &commands)
    var message = "sweep \(sweepID) cancelled: \(cancelled) unfinished runs stopped"
    if keptForOthers > 0 { message += ", \(keptForOthers) kept because another sweep contains them" }
    if stagesCancelled > 0 { message += ", \(stagesCancelled) BC stage units no run needs now" }
    commands.append(.log(level: .info, message: message))
  }

  mutating func retryFailed(_ sweepID: SweepID, commands: inout [SchedulerCommand]) throws(CoordinatorError) {
    guard let sweep = sweeps[sweepID] else { throw .unknownSweep(sweepID) }
    guard !sweep.cancelled else {
      throw .refused(
        "sweep \(sweepID) is cancelled: submit its grid again to resume it, then retry its failed runs")
    }
    var retried = 0
    for member in sweep.members {
      guard var run = runs[member.run], run.state == .failed else { continue }
      run.state = .pending
      run.failureCount = 0
      update(run: run)
      retried += 1
    }
    commands.append(
      .log(level: .info, message: "sweep \(sweepID): \(retried) failed runs queued again with their seeds"))
  }

  /// The sweep whose id or name is `value`, O(1); when one sweep's id is another's name, the one
  /// submitted first. Nil if none.
  public func sweepID(matching value: String) -> SweepID? {
    let byID = SweepID(rawValue: value).flatMap { sweeps[$0] }
    let byName = sweepIDsByName[value].flatMap { sweeps[$0] }
    switch (byID, byName) {
    case (let id?, let name?): return id.submitOrder <= name.submitOrder ? id.id : name.id
    case (let only?, nil), (nil, let only?): return only.id
    case (nil, nil): return nil
    }
  }

  /// `GridFile.differences(from:)` between two canonical grids; empty if either cannot be read back.
  static func differences(old: String, new: String) -> [String] {
    guard let oldGrid = try? GridFile(parsing: Data(old.utf8)),
      let newGrid = try? GridFile(parsing: Data(new.utf8))
    else { return [] }
    return newGrid.differences(from: oldGrid)
  }
}

private func uniqued(_ ids: [RunID]) -> [RunID] {
  var seen: Set<RunID> = []
  return ids.filter { seen.insert($0).inserted }
}
