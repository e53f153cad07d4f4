import Foundation
import Logging
import SweepWire
import TracCore

/// What workers hand in: finished attempts (`result`) and running attempts' checkpoints (`checkpoint`).
/// Nothing is taken on trust: the files are checked against their sizes and hashes (and, for a result
/// the scheduler will record, by `ResultCheck` and `StageOutputCheck`), and only what the scheduler will
/// keep is written, before the commit that refers to it. Only the loop's thread uses it.
public final class ResultIntake {
  let scheduler: DurableScheduler
  let link: WorkerLink
  let artifacts: ArtifactStore
  let checkpoints: CheckpointStore
  /// Why a result was refused, for its `ack` (sent after the commit).
  private var rejections: [AttemptID: String] = [:]
  /// Bytes under `artifacts/runs`: counted once, on the first `artifactBytes()`, then kept up to date
  /// as results are stored.
  private var storedBytes: Int?

  public init(
    scheduler: DurableScheduler, link: WorkerLink, artifacts: ArtifactStore, checkpoints: CheckpointStore
  ) {
    self.scheduler = scheduler
    self.link = link
    self.artifacts = artifacts
    self.checkpoints = checkpoints
  }

  /// A finished attempt. Its files are checked against their sizes and hashes; then the scheduler says
  /// whether it will record the result, and only a result it will record has its files written (into
  /// `artifacts/runs/<run id>/`, before the database commit, so a committed result always has its
  /// files). A duplicate, or a result for an attempt that is not this worker's, touches no file. A
  /// result of an audit attempt is checked the same way, then only its fingerprint (`ResultFingerprint`,
  /// made here from its files) goes to the scheduler, which compares it with the recorded result's.
  public func result(
    _ result: ResultMessage, attachments: [Data], route: Data, peerKey: String?,
    into outbox: inout ServiceOutbox
  ) throws {
    let worker = result.workerID
    try link.identify(worker, route: route, peerKey: peerKey)
    let attempt = result.attempt
    guard attachments.count == result.files.count else {
      throw WireError.malformed("result lists \(result.files.count) files but carries \(attachments.count)")
    }
    guard Set(result.files.map(\.name)).count == result.files.count else {
      throw WireError.malformed("result of \(attempt) names a file twice")
    }
    for (file, data) in zip(result.files, attachments) {
      guard data.count == file.size, SHA256Digest(of: data) == file.sha256 else {
        throw WireError.malformed("file \(file.name) of \(attempt) does not match its size or sha256")
      }
    }
    let outcome: ReportedOutcome
    switch result.outcome {
    case .succeeded:
      let files = zip(result.files, attachments).map { (name: $0.0.name, data: $0.1) }
      let runJSON =
        files.first { $0.name.rawValue == RunFiles.runJSON }.map { String(decoding: $0.data, as: UTF8.self) }
        ?? "{}"
      let (disposition, spec, isAudit) = scheduler.read {
        (
          $0.disposition(ofResultFrom: worker, attempt: attempt, succeeded: true), $0.run(attempt.run)?.spec,
          $0.isAuditAttempt(attempt)
        )
      }
      let stage = disposition == .recorded && spec?.isStageUnit == true ? StageOutputCheck(files) : nil
      if disposition == .recorded, let spec,
        let problem = ResultCheck.problem(with: files, of: attempt.run, spec: spec)
          ?? stage?.problem(of: attempt.run, spec: spec)
      {
        // Not recorded and not cached: the attempt fails (retried, counted toward quarantine), and the
        // worker is told why in its ack.
        let reason = "the coordinator refused the result: \(problem)"
        rejections[attempt] = reason
        outcome = .failed(exitStatus: result.exitStatus ?? 0, stderrTail: reason)
      } else {
        var payload = RunResultPayload(runJSON: runJSON)
        if disposition == .recorded, let spec {
          payload.fingerprint = ResultFingerprint(files: files, summary: payload.summary, spec: spec)
        }
        // An audit's training is compared with the recorded result, never stored in its place.
        if disposition == .recorded && !isAudit {
          // A stage unit's end-of-BC checkpoint is kept with the checkpoints (fetched by hash), not twice.
          if let stage, let output = stage.file {
            try checkpoints.store(output.data, sha256: output.reference.sha256)
            payload.stageOutput = output.reference
            payload.stageSeconds = payload.summary.bcSeconds
          }
          payload.artifactPaths = try store(
            run: attempt.run, files: files.filter { $0.name.rawValue != StageOutputCheck.fileName })
        }
        outcome = .succeeded(payload)
      }
    case .failed: outcome = .failed(exitStatus: result.exitStatus ?? -1, stderrTail: result.stderrTail)
    case .inputError:
      outcome = .inputError(exitStatus: result.exitStatus ?? 65, stderrTail: result.stderrTail)
    }
    try outbox.schedule(.result(worker: worker, attempt: attempt, outcome: outcome), on: scheduler)
  }

  /// Why the result of `attempt` was refused, for its `ack`; forgotten once asked.
  public func takeRejection(_ attempt: AttemptID) -> String? { rejections.removeValue(forKey: attempt) }

  /// Forgets every refusal: the pass that made them was not committed (its results come again).
  public func forgetRejections() { rejections = [:] }

  /// A running attempt's newest checkpoint. Checked (size, hash, a checkpoint of this run) and kept only
  /// if the scheduler will keep it: the attempt is the run's current one on this worker and the
  /// checkpoint is newer than the one kept. The file is written before the commit that refers to it.
  public func checkpoint(
    _ body: CheckpointMessage, attachments: [Data], route: Data, peerKey: String?,
    into outbox: inout ServiceOutbox
  ) throws {
    let worker = body.workerID
    try link.identify(worker, route: route, peerKey: peerKey)
    let attempt = body.attempt
    let reference = body.checkpoint
    guard attachments.count == 1, let data = attachments.first else {
      throw WireError.malformed("a checkpoint carries its bytes as exactly one attachment")
    }
    guard data.count == reference.size, SHA256Digest(of: data) == reference.sha256 else {
      throw WireError.malformed("checkpoint of \(attempt) does not match its size or sha256")
    }
    guard let header = CheckpointHeader(data), header.format == CheckpointFormat.current,
      header.runID == attempt.run.rawValue, header.step == reference.step
    else {
      throw WireError.refused(
        code: .invalidInput,
        message:
          "checkpoint of \(attempt) is not a \(CheckpointFormat.current) file of run \(attempt.run) at step "
          + "\(reference.step)", subject: attempt.run.rawValue)
    }
    let accepted = scheduler.read {
      $0.acceptsCheckpoint(from: worker, attempt: attempt, step: reference.step)
    }
    if accepted { try checkpoints.store(data, sha256: reference.sha256) }
    try outbox.schedule(
      .checkpointShipped(worker: worker, attempt: attempt, checkpoint: reference),
      on: scheduler)
  }

  // MARK: - Stored bytes

  /// Bytes of the recorded runs' files (`metrics`' `artifact_bytes`): the folder is walked once, then
  /// every stored result adds its files and takes away the unrecorded copy it replaced.
  public func artifactBytes() -> Int {
    if let storedBytes { return storedBytes }
    let counted = Self.bytes(under: artifacts.runs.url)
    storedBytes = counted
    return counted
  }

  private func store(run: RunID, files: [(name: ArtifactName, data: Data)]) throws -> [String] {
    guard storedBytes != nil, !files.isEmpty else { return try artifacts.store(run: run, files: files) }
    let folder = try artifacts.folder(of: run)
    let replaced = FileManager.default.fileExists(atPath: folder.path) ? Self.bytes(under: folder) : 0
    let paths = try artifacts.store(run: run, files: files)
    storedBytes? += files.reduce(0) { $0 + $1.data.count } - replaced
    return paths
  }

  /// Bytes of the regular files under `directory` (0 when there is none).
  static func bytes(under directory: URL) -> Int {
    var total = 0
    let keys: [URLResourceKey] = [.fileSizeKey, .isRegularFileKey]
    guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: keys) else {
      return 0
    }
    for case let url as URL in walker {
      guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true else {
        continue
      }
      total += values.fileSize ?? 0
    }
    return total
  }
}
