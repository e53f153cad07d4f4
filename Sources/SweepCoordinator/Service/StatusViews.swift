import Foundation
import SweepWire
import TracCore

/// The read-only views of the coordinator's state: `status` (sweeps, workers, failures, progress) and
/// `metrics` (the loop's counters and timings). Answered after the commit of their pass, from memory
/// (the scheduler's tallies). Only the loop's thread uses it.
public final class StatusViews {
  let scheduler: DurableScheduler
  let link: WorkerLink
  let blobs: BlobService
  let intake: ResultIntake
  let loop: LoopStatistics
  private var directorySizes = DirectorySizeCache()

  public init(
    scheduler: DurableScheduler, link: WorkerLink, blobs: BlobService, intake: ResultIntake,
    loop: LoopStatistics
  ) {
    self.scheduler = scheduler
    self.link = link
    self.blobs = blobs
    self.intake = intake
    self.loop = loop
  }

  public func status(_ sweep: String?) throws -> StatusReply {
    let status = scheduler.status()
    var sweeps = status.sweeps
    if let sweep {
      let id = try scheduler.sweepID(matching: sweep)
      sweeps = sweeps.filter { $0.id == id }
    }
    // A sweep's age counts from its first submission, as the database recorded it (restarts included);
    // read once, not per poll.
    let submitted = try scheduler.sweepSubmissionDates()
    let clock = Date()
    let shown = Set(sweeps.map(\.id))
    return StatusReply(
      sweeps: sweeps.map {
        StatusReply.Sweep(
          id: $0.id.rawValue, name: $0.name, total: $0.runs.total, pending: $0.runs.pending,
          running: $0.runs.running,
          done: $0.runs.done, failed: $0.runs.failed, cancelled: $0.runs.cancelled,
          duplicates: $0.duplicatesDiscarded,
          lostAttempts: $0.lostAttempts,
          ageSeconds: submitted[$0.id].map { max(0, clock.timeIntervalSince($0)) } ?? 0)
      },
      workers: status.workers.map {
        StatusReply.Worker(
          id: $0.id.rawValue, host: $0.host, slots: $0.slots, running: $0.running.map(\.run.rawValue),
          state: "\($0.state)", quarantined: $0.quarantined, consecutiveFailures: $0.consecutiveFailures,
          evaluates: $0.evaluates.map(\.rawValue).sorted(), blas: link.kernel(of: $0.id))
      },
      recentFailures: status.recentFailures.map {
        StatusReply.Failure(
          runID: $0.attempt.run.rawValue, attempt: $0.attempt.number, worker: $0.worker.rawValue,
          exitStatus: $0.exitStatus ?? -1, stderrTail: $0.stderrTail, inputError: $0.isInputError,
          sweeps: $0.sweeps.map(\.rawValue), stageUnit: $0.isStageUnit)
      },
      waitingFor: status.waiting.map {
        StatusReply.Waiting(evaluates: $0.family.rawValue, runs: $0.runs, reason: $0.reason)
      },
      checkpoints: scheduler.read { scheduler in
        let held = scheduler.checkpointsHeld
        return StatusReply.Checkpoints(runs: held.runs, bytes: held.bytes)
      },
      progress: runningProgress(in: shown),
      stages: StatusReply.Stages(
        units: status.stages.units.total, done: status.stages.units.done,
        running: status.stages.units.running, failed: status.stages.units.failed,
        runs: status.stages.dependents, runsDone: status.stages.dependentsDone, bytes: status.stages.bytes,
        secondsSaved: status.stages.secondsSaved),
      audits: StatusReply.Audits(
        share: status.audits.share, waiting: status.audits.waiting, running: status.audits.running,
        disputed: status.audits.disputed, passed: status.audits.passed, mismatch: status.audits.mismatch,
        inconclusive: status.audits.inconclusive, withdrawn: status.audits.withdrawn,
        suspect: status.audits.suspect))
  }

  /// The progress of the runs running now in these sweeps.
  func runningProgress(in sweeps: Set<SweepID>) -> [StatusReply.RunProgress] {
    link.runningProgress().compactMap { entry in
      let owners = scheduler.read { $0.sweeps(containing: entry.run) }
      guard owners.contains(where: sweeps.contains) else { return nil }
      let report = entry.progress
      return StatusReply.RunProgress(
        runID: entry.run.rawValue, attempt: report.attempt.number, worker: entry.worker.rawValue,
        sweeps: owners.map(\.rawValue), phase: report.phase, step: report.step, totalSteps: report.totalSteps,
        loss: report.loss)
    }
  }

  /// The loop's counters and timings (`metrics`): read-only, answered from memory in O(1) (the
  /// scheduler's tallies; the runs' files are counted as they are stored, the datasets' recounted at
  /// most every 5 seconds).
  public func metrics() -> MetricsReply {
    let (totals, duplicates, units) = scheduler.read {
      ($0.totals, $0.duplicatesDiscarded, $0.stageCounts().units)
    }
    // Runs recorded, stage units left out (`status.stages` counts them); the queue holds both.
    let (recorded, queued) = (totals.runs.done - units.done, totals.runs.pending)
    let (failed, lost) = (totals.failedAttempts, totals.lostAttempts)
    let now = ContinuousClock().now
    let counters = loop.counters
    var reply = MetricsReply(
      uptimeSeconds: (now - loop.started).seconds,
      messages: counters.messages, hellos: counters.hellos, heartbeats: counters.heartbeats,
      results: counters.results, assignments: counters.assigned, acknowledgements: counters.acknowledged,
      commits: counters.batches, resultsRecorded: recorded,
      duplicates: duplicates, failedAttempts: failed, lostAttempts: lost,
      queueDepth: queued,
      datasetBytes: directorySizes.bytes(
        under: blobs.datasets.directory, version: counters.messages, now: now),
      artifactBytes: intake.artifactBytes(),
      loopPassSeconds: loop.timings.pass.reply, commitSeconds: loop.timings.commit.reply)
    reply.repliesDropped = counters.repliesDropped
    reply.busyAnswers = counters.busy
    reply.queuedReplyBytes = loop.outbound.total
    reply.queuedReplyBytesPeak = loop.outbound.highWater
    return reply
  }
}
