import Foundation
import Logging
import SweepWire
import TracCore

/// Clients' `request`s: the changes (`submit`, `cancel`, `retry`, `release`), answered after the commit
/// that makes them; the reads (`status`, `results`, `report`, `metrics`), answered from the committed
/// state by the views; dataset uploads, handed to the blob service. Only the loop's thread uses it.
public final class ClientRequests {
  let scheduler: DurableScheduler
  let blobs: BlobService
  let status: StatusViews
  let results: ResultRows
  /// The directories a grid's datasets may be read from (those of `datasetDirectories` that exist).
  let datasetSources: [ContainedDirectory]
  var logger: Logger

  public init(
    scheduler: DurableScheduler, blobs: BlobService, status: StatusViews, results: ResultRows,
    datasetDirectories: [URL], logger: Logger
  ) {
    self.scheduler = scheduler
    self.blobs = blobs
    self.status = status
    self.results = results
    datasetSources = datasetDirectories.compactMap { try? ContainedDirectory($0, create: false) }
    self.logger = logger
  }

  public func request(
    _ request: ClientRequest, attachments: [Data], route: Data, into outbox: inout ServiceOutbox
  ) throws {
    switch request.command {
    case .dataset, .upload: try blobs.upload(request, attachments: attachments, route: route, into: &outbox)
    case .submit:
      let reply = try submit(request, into: &outbox)
      outbox.replyAfterCommit(route, WireMessage(.reply, reply))
    case .status:
      let sweep = request.sweep
      outbox.read(route) { [status] in try status.status(sweep) }
    case .cancel:
      let sweep = try scheduler.sweepID(matching: request.sweep)
      let before = scheduler.read { $0.sweepStatus(sweep)?.runs.cancelled } ?? 0
      try outbox.schedule(.cancel(sweep), on: scheduler)
      let after = scheduler.read { $0.sweepStatus(sweep)?.runs.cancelled } ?? 0
      let message = ChangeReply(
        message: "cancelled \(sweep): \(after - before) runs", affected: after - before)
      outbox.replyAfterCommit(route, WireMessage(.reply, message))
    case .retry:
      let sweep = try scheduler.sweepID(matching: request.sweep)
      let before = scheduler.read { $0.sweepStatus(sweep)?.runs.failed } ?? 0
      try outbox.schedule(.retryFailed(sweep), on: scheduler)
      let after = scheduler.read { $0.sweepStatus(sweep)?.runs.failed } ?? 0
      let message = ChangeReply(
        message: "\(before - after) failed runs of \(sweep) queued again", affected: before - after)
      outbox.replyAfterCommit(route, WireMessage(.reply, message))
    case .release:
      guard let worker = request.worker else { throw WireError.malformed("release needs a worker") }
      let wasQuarantined = scheduler.read { $0.worker(worker)?.quarantined } ?? false
      try outbox.schedule(.releaseQuarantine(worker), on: scheduler)
      let message =
        wasQuarantined
        ? ChangeReply(message: "released \(worker) from quarantine", affected: 1)
        : ChangeReply(message: "\(worker) was not quarantined", affected: 0)
      outbox.replyAfterCommit(route, WireMessage(.reply, message))
    case .results:
      let sweep = try scheduler.sweepID(matching: request.sweep)
      outbox.read(route) { [results] in try results.results(sweep) }
    case .report:
      let sweep = try scheduler.sweepID(matching: request.sweep)
      outbox.read(route) { [results] in try results.reportData(sweep) }
    case .metrics:
      outbox.read(route) { [status] in status.metrics() }
    }
  }

  /// A grid's sweep: each dataset it names is the client's upload (by hash) or a file inside the
  /// directories the operator named (`--datasets`), copied into the store.
  func submit(_ request: ClientRequest, into outbox: inout ServiceOutbox) throws -> SubmitReply {
    guard let text = request.grid else { throw WireError.malformed("submit needs the grid's text") }
    let grid = try GridFile(parsing: Data(text.utf8))
    let base = URL(fileURLWithPath: request.gridDirectory ?? FileManager.default.currentDirectoryPath)
    let datasets = blobs.datasets
    let submission = try SweepSubmission(grid: grid) { (taskDataset: GridFile.TaskDataset) throws -> String in
      if let given = taskDataset.datasetPath, let sha256 = request.datasetHashes?[given] {
        guard datasets.contains(sha256) else { throw CoordinatorError.unknownDataset(sha256) }
        return sha256.rawValue
      }
      // Read from this machine's disk: only inside the directories the operator named.
      let path: String
      if let given = taskDataset.datasetPath {
        path = given.hasPrefix("/") ? given : base.appendingPathComponent(given).standardizedFileURL.path
      } else {
        path = try DSRLDatasetDirectory.resolve(task: taskDataset.task)
      }
      guard datasetSources.contains(where: { $0.contains(URL(fileURLWithPath: path)) }) else {
        throw CoordinatorError.datasetNotAllowed(path: path, allowed: datasetSources.map(\.url.path))
      }
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw WireError.refused(
          code: .invalidInput, message: "dataset \(path): no such readable file on the coordinator's machine",
          subject: nil)
      }
      return try datasets.importFile(at: path).sha256.rawValue
    }
    let existed = scheduler.read { $0.sweep(submission.id) != nil }
    try outbox.schedule(.submit(submission), on: scheduler)
    let runs = Set(submission.runs.map(\.runID))
    let done = scheduler.read { current in runs.filter { current.run($0)?.state == .done }.count }
    logger.info(
      "\(existed ? "resubmitted" : "submitted") sweep",
      metadata: ["sweep": "\(submission.id)", "runs": "\(runs.count)"])
    return SubmitReply(
      sweepID: submission.id.rawValue, name: submission.name, runs: runs.count, alreadyDone: done,
      created: !existed)
  }
}

extension DurableScheduler {
  /// A sweep by id or by name: O(1), from the scheduler's name index (the known sweeps are listed
  /// only when none matches).
  public func sweepID(matching value: String?) throws -> SweepID {
    guard let value else { throw WireError.malformed("which sweep? give its id or name") }
    if let match = read({ $0.sweepID(matching: value) }) { return match }
    let sweeps = read { $0.sweeps.values.sorted { $0.submitOrder < $1.submitOrder } }
    throw WireError.refused(
      code: .unknownSweep,
      message: "no sweep has the id or name \"\(loggable(value, limit: 80))\"; known sweeps: "
        + (sweeps.isEmpty ? "none" : sweeps.map { "\($0.id) (\($0.name))" }.joined(separator: ", ")),
      subject: loggable(value, limit: 80))
  }
}
