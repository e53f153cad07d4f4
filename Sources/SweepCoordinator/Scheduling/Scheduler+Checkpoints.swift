import TracCore

// Checkpoints: a running attempt ships its newest one; the run's next attempt resumes from it.
extension Scheduler {
  /// Whether a checkpoint at `step` from `workerID` for `attempt` would be kept, without keeping it: the
  /// I/O layer asks before it writes the file. Only the run's current attempt, on the worker that holds
  /// it, and only a checkpoint newer than the one kept.
  public func acceptsCheckpoint(from workerID: WorkerID, attempt: AttemptID, step: Int) -> Bool {
    holds(attempt, on: workerID) && step > (runs[attempt.run]?.checkpoint?.step ?? 0)
  }

  /// The bytes of every checkpoint kept for an unfinished run, and how many runs have one (a done stage
  /// unit's end-of-BC checkpoint is counted in `stageCounts()`); kept by the write paths, O(1).
  public var checkpointsHeld: (runs: Int, bytes: Int) {
    (tallies.checkpointRuns, tallies.checkpointBytes)
  }

  mutating func checkpointShipped(
    _ checkpoint: RunCheckpoint, of attempt: AttemptID, from workerID: WorkerID, now: SchedulerInstant,
    commands: inout [SchedulerCommand]
  ) {
    if workers[workerID]?.state == .online { heard(from: workerID, at: now) }
    guard acceptsCheckpoint(from: workerID, attempt: attempt, step: checkpoint.step),
      var run = runs[attempt.run]
    else {
      commands.append(
        .log(
          level: .info,
          message:
            "checkpoint of \(attempt) at step \(checkpoint.step) from \(workerID) not kept: the attempt "
            + "is not the run's current one there, or a newer checkpoint is kept"))
      return
    }
    if let old = run.checkpoint, old.sha256 != checkpoint.sha256 {
      commands.append(.deleteCheckpoint(old.sha256))
    }
    run.checkpoint = checkpoint
    update(run: run)
  }

  /// Forgets a run's checkpoint and has its file deleted (the caller saves the run).
  mutating func dropCheckpoint(of run: inout RunRecord, commands: inout [SchedulerCommand]) {
    guard let checkpoint = run.checkpoint else { return }
    run.checkpoint = nil
    commands.append(.deleteCheckpoint(checkpoint.sha256))
  }
}
