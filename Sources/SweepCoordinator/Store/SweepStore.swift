import Foundation
import GRDB
import TracCore

/// The coordinator's state in `DIR/state.sqlite`: SQLite in WAL mode (a `DatabasePool`), so that readers
/// (`status`, `results`) never wait for the writer. Every scheduler event's changes are written in one
/// transaction by `save(_:)`; a restarted coordinator reads them back with `loadScheduler(...)`.
public final class SweepStore: Sendable {
  /// The database file, `DIR/state.sqlite`.
  public let databaseURL: URL
  private let pool: DatabasePool
  private let wallClock: @Sendable () -> Date

  public static let fileName = "state.sqlite"

  /// Opens (creating if needed) `directory/state.sqlite` and brings its tables up to date.
  /// `wallClock` stamps the rows' times (`created_at`, `recorded_at`, ...), which only people read.
  public init(directory: URL, wallClock: @escaping @Sendable () -> Date = { Date() }) throws(CoordinatorError)
  {
    databaseURL = directory.appendingPathComponent(Self.fileName)
    self.wallClock = wallClock
    let path = databaseURL.path
    pool = try Self.attempt("opening \(path)") {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      var configuration = Configuration()
      configuration.busyMode = .timeout(10)
      configuration.prepareDatabase { db in
        // A result is acknowledged once committed: the commit must survive a power cut, not only a crash.
        try db.execute(sql: "PRAGMA synchronous = FULL")
      }
      let pool = try DatabasePool(path: path, configuration: configuration)
      try StoreSchema.migrator.migrate(pool)
      return pool
    }
  }

  /// Closes the database; using the store afterwards throws.
  public func close() throws(CoordinatorError) {
    try Self.attempt("closing the database") { try pool.close() }
  }

  /// SQLite's journal mode: `wal`.
  public func journalMode() throws(CoordinatorError) -> String {
    try Self.attempt("reading the journal mode") {
      try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }
  }

  // MARK: Writing

  /// Writes an event's changes (`Scheduler.takeChanges()`) in one transaction: all or nothing. Throws if
  /// a result is already recorded for one of the runs (the primary key of `results`), changing nothing.
  public func save(_ changes: SchedulerRecords) throws(CoordinatorError) {
    guard !changes.isEmpty else { return }
    let now = Self.timestamp(wallClock())
    try Self.attempt("saving the scheduler's state") {
      try pool.write { db in
        try Self.write(changes, at: now, in: db)
      }
    }
  }

  private static func write(_ changes: SchedulerRecords, at now: String, in db: Database) throws {
    let encoder = JSONCodec.canonicalEncoder
    let upsertSweep = try db.cachedStatement(
      sql: """
        INSERT INTO sweeps (id, name, grid_json, submit_order, cancelled, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET cancelled = excluded.cancelled, updated_at = excluded.updated_at
        """)
    let upsertRun = try db.cachedStatement(
      sql: """
        INSERT INTO runs (id, spec_json, dataset_path, queue_order, state, current_attempt, current_worker,
          attempt_count, failure_count, duplicate_results, checkpoint_sha256, checkpoint_size, checkpoint_step,
          stage_run_id, stage_seconds, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET state = excluded.state, current_attempt = excluded.current_attempt,
          current_worker = excluded.current_worker, attempt_count = excluded.attempt_count,
          failure_count = excluded.failure_count, duplicate_results = excluded.duplicate_results,
          checkpoint_sha256 = excluded.checkpoint_sha256, checkpoint_size = excluded.checkpoint_size,
          checkpoint_step = excluded.checkpoint_step, stage_seconds = excluded.stage_seconds,
          updated_at = excluded.updated_at
        """)
    let insertMember = try db.cachedStatement(
      sql: "INSERT OR IGNORE INTO sweep_runs (sweep_id, run_id, position, point_id) VALUES (?, ?, ?, ?)")
    let upsertWorker = try db.cachedStatement(
      sql: """
        INSERT INTO workers (id, host, slots, state, quarantined, consecutive_failures, first_seen_at, updated_at,
          public_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET host = excluded.host, slots = excluded.slots, state = excluded.state,
          quarantined = excluded.quarantined, consecutive_failures = excluded.consecutive_failures,
          updated_at = excluded.updated_at, public_key = COALESCE(workers.public_key, excluded.public_key)
        """)
    let upsertAttempt = try db.cachedStatement(
      sql: """
        INSERT INTO attempts (run_id, number, worker_id, outcome, exit_status, stderr_tail, started_at, ended_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (run_id, number) DO UPDATE SET outcome = excluded.outcome,
          exit_status = excluded.exit_status, stderr_tail = excluded.stderr_tail,
          ended_at = CASE
            WHEN excluded.outcome IS NULL THEN NULL
            WHEN attempts.outcome IS excluded.outcome THEN attempts.ended_at
            ELSE excluded.ended_at END
        """)
    let insertResult = try db.cachedStatement(
      sql: """
        INSERT INTO results (run_id, attempt, worker_id, run_json, artifact_paths, recorded_at, \
        \(ResultSummaryColumns.list()))
        VALUES (?, ?, ?, ?, ?, ?, \(ResultSummaryColumns.placeholders))
        """)

    for sweep in changes.sweeps {
      try upsertSweep.execute(
        arguments: [
          sweep.id.rawValue, sweep.name, sweep.gridJSON, sweep.submitOrder, sweep.cancelled, now, now,
        ])
    }
    for run in changes.runs {
      let spec = String(decoding: try encoder.encode(run.spec), as: UTF8.self)
      let lease = run.state.lease
      try upsertRun.execute(
        arguments: [
          run.id.rawValue, spec, run.datasetPath, run.queueOrder, run.state.name, lease?.attempt,
          lease?.worker.rawValue, run.attemptCount, run.failureCount, run.duplicateResults,
          run.checkpoint?.sha256.rawValue, run.checkpoint?.size, run.checkpoint?.step, run.stage?.rawValue,
          run.stageSeconds, now, now,
        ])
    }
    for sweep in changes.sweeps {
      for (position, member) in sweep.members.enumerated() {
        try insertMember.execute(arguments: [
          sweep.id.rawValue, member.run.rawValue, position, member.pointID,
        ])
      }
    }
    for worker in changes.workers {
      try upsertWorker.execute(
        arguments: [
          worker.id.rawValue, worker.host, worker.slots, worker.state.rawValue, worker.quarantined,
          worker.consecutiveFailures, now, now, worker.publicKey,
        ])
    }
    for attempt in changes.attempts {
      try upsertAttempt.execute(
        arguments: [
          attempt.id.run.rawValue, attempt.id.number, attempt.worker.rawValue, attempt.outcome?.name,
          attempt.outcome?.exitStatus.map { Int($0) }, attempt.outcome?.stderrTail, now,
          attempt.outcome == nil ? nil : now,
        ])
    }
    for (run, reason) in changes.suspectResults.sorted(by: { $0.key < $1.key }) {
      try db.execute(
        sql: "UPDATE results SET suspect = ? WHERE run_id = ?", arguments: [reason, run.rawValue])
    }
    let upsertAudit = try db.cachedStatement(
      sql: """
        INSERT INTO audits (run_id, state, producer, producer_attempt, detail, record_json, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (run_id, producer_attempt) DO UPDATE SET state = excluded.state, detail = excluded.detail,
          record_json = excluded.record_json, updated_at = excluded.updated_at
        """)
    for audit in changes.audits {
      let json = String(decoding: try encoder.encode(StoredAudit(audit)), as: UTF8.self)
      try upsertAudit.execute(
        arguments: [
          audit.run.rawValue, audit.stateName, audit.producer.rawValue, audit.producerAttempt, audit.detail,
          json,
          now,
        ])
    }
    // A suspect result's run trained again: its new result replaces the suspect row (the only row of
    // `results` ever replaced; the audit keeps what the suspect result was).
    let dropSuspect = try db.cachedStatement(
      sql: "DELETE FROM results WHERE run_id = ? AND suspect IS NOT NULL")
    for result in changes.results {
      try dropSuspect.execute(arguments: [result.run.rawValue])
      let paths = String(decoding: try encoder.encode(result.payload.artifactPaths), as: UTF8.self)
      try insertResult.execute(
        arguments: StatementArguments(
          ([
            result.run.rawValue, result.attempt.number, result.worker.rawValue, result.payload.runJSON, paths,
            now,
          ]
            as [(any DatabaseValueConvertible)?]) + ResultSummaryColumns.values(result.payload.summary)))
    }
    if let duplicates = changes.duplicatesDiscarded {
      try db.execute(
        sql: """
          INSERT INTO counters (name, value) VALUES ('duplicates_discarded', ?)
          ON CONFLICT (name) DO UPDATE SET value = excluded.value
          """,
        arguments: [duplicates])
    }
  }

  // MARK: Reading

  /// Every row, as a snapshot for `Scheduler(configuration:restoring:now:)`.
  public func load() throws(CoordinatorError) -> SchedulerRecords {
    let rows = try Self.attempt("loading the scheduler's state") {
      try pool.read { db in try Self.read(db) }
    }
    return rows
  }

  /// A scheduler with everything the database holds, as a restarted coordinator sees it at `now`.
  public func loadScheduler(
    configuration: SchedulerConfiguration, now: SchedulerInstant
  ) throws(CoordinatorError) -> Scheduler {
    try Scheduler(configuration: configuration, restoring: load(), now: now)
  }

  private static func read(_ db: Database) throws -> SchedulerRecords {
    var records = SchedulerRecords()
    var members: [SweepID: [SweepMember]] = [:]
    for row in try Row.fetchAll(
      db, sql: "SELECT sweep_id, run_id, point_id FROM sweep_runs ORDER BY sweep_id, position")
    {
      members[try SweepID(row["sweep_id"] as String), default: []].append(
        SweepMember(run: try RunID(row["run_id"] as String), pointID: row["point_id"]))
    }
    for row in try Row.fetchAll(
      db, sql: "SELECT id, name, grid_json, submit_order, cancelled FROM sweeps ORDER BY submit_order")
    {
      let id = try SweepID(row["id"] as String)
      records.sweeps.append(
        SweepRecord(
          id: id, name: row["name"], gridJSON: row["grid_json"], submitOrder: row["submit_order"],
          cancelled: row["cancelled"], members: members[id] ?? []))
    }

    let decoder = JSONCodec.decoder
    for row in try Row.fetchAll(
      db,
      sql: """
        SELECT id, spec_json, dataset_path, queue_order, state, current_attempt, current_worker, attempt_count,
          failure_count, duplicate_results, checkpoint_sha256, checkpoint_size, checkpoint_step, stage_run_id,
          stage_seconds
        FROM runs ORDER BY queue_order
        """)
    {
      let id = try RunID(row["id"] as String)
      let specJSON: String = row["spec_json"]
      let spec: RunSpec
      do {
        spec = try decoder.decode(RunSpec.self, from: Data(specJSON.utf8))
      } catch {
        throw CoordinatorError.corruptState("run \(id): its spec cannot be read (\(error))")
      }
      let stateName: String = row["state"]
      let state: RunState
      switch stateName {
      case "pending": state = .pending
      case "running":
        state = .running(
          RunLease(
            attempt: row["current_attempt"], worker: try WorkerID(row["current_worker"] as String),
            leaseDeadline: .zero))
      case "done": state = .done
      case "failed": state = .failed
      case "cancelled": state = .cancelled
      default: throw CoordinatorError.corruptState("run \(id) has the unknown state \(stateName)")
      }
      var checkpoint: RunCheckpoint?
      if let sha: String = row["checkpoint_sha256"] {
        guard let digest = SHA256Digest(rawValue: sha), let size: Int = row["checkpoint_size"],
          let step: Int = row["checkpoint_step"]
        else { throw CoordinatorError.corruptState("run \(id): its checkpoint row cannot be read") }
        checkpoint = RunCheckpoint(sha256: digest, size: size, step: step)
      }
      records.runs.append(
        RunRecord(
          id: id, spec: spec, datasetPath: row["dataset_path"], queueOrder: row["queue_order"], state: state,
          attemptCount: row["attempt_count"], failureCount: row["failure_count"],
          duplicateResults: row["duplicate_results"], checkpoint: checkpoint,
          stage: try (row["stage_run_id"] as String?).map { try RunID($0) },
          stageSeconds: row["stage_seconds"]))
    }

    for row in try Row.fetchAll(
      db,
      sql:
        "SELECT id, host, slots, state, quarantined, consecutive_failures, public_key FROM workers ORDER BY id"
    ) {
      let id = try WorkerID(row["id"] as String)
      let stateName: String = row["state"]
      guard let state = WorkerState(rawValue: stateName) else {
        throw CoordinatorError.corruptState("worker \(id) has the unknown state \(stateName)")
      }
      records.workers.append(
        WorkerRecord(
          id: id, host: row["host"], slots: row["slots"], state: state, quarantined: row["quarantined"],
          consecutiveFailures: row["consecutive_failures"], publicKey: row["public_key"]))
    }

    // Ended attempts in the order they ended (so that recent failures come back in order), running ones last.
    for row in try Row.fetchAll(
      db,
      sql: """
        SELECT run_id, number, worker_id, outcome, exit_status, stderr_tail FROM attempts
        ORDER BY ended_at IS NULL, ended_at, rowid
        """)
    {
      let id = try AttemptID(run: try RunID(row["run_id"] as String), number: row["number"])
      var outcome: AttemptOutcome?
      if let name = row["outcome"] as String? {
        let exitStatus = (row["exit_status"] as Int?).map { Int32(truncatingIfNeeded: $0) }
        guard let known = AttemptOutcome(name: name, exitStatus: exitStatus, stderrTail: row["stderr_tail"])
        else {
          throw CoordinatorError.corruptState("attempt \(id) has the unknown outcome \(name)")
        }
        outcome = known
      }
      records.attempts.append(
        AttemptRecord(id: id, worker: try WorkerID(row["worker_id"] as String), outcome: outcome))
    }

    records.duplicatesDiscarded =
      try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'duplicates_discarded'") ?? 0
    for row in try Row.fetchAll(
      db, sql: "SELECT run_id, record_json FROM audits ORDER BY run_id, producer_attempt")
    {
      let json: String = row["record_json"]
      do {
        records.audits.append(try decoder.decode(StoredAudit.self, from: Data(json.utf8)).record())
      } catch {
        throw CoordinatorError.corruptState(
          "the audit of run \(row["run_id"] as String) cannot be read (\(error))")
      }
    }
    for row in try Row.fetchAll(db, sql: "SELECT run_id, suspect FROM results WHERE suspect IS NOT NULL") {
      records.suspectResults[try RunID(row["run_id"] as String)] = row["suspect"]
    }
    return records
  }

  /// The recorded results of a sweep's runs, in the grid's order: the rows of `results` exports.
  public func results(sweep: SweepID) throws(CoordinatorError) -> [ResultRow] {
    try Self.attempt("reading the results of sweep \(sweep)") {
      try pool.read { db in
        try Self.resultRows(
          db,
          sql: """
            SELECT m.sweep_id, m.point_id, r.id, r.spec_json, res.attempt, res.worker_id, res.run_json,
              res.artifact_paths, res.recorded_at, res.suspect, a.state AS audit_state,
              \(ResultSummaryColumns.list(table: "res"))
            FROM sweep_runs m JOIN runs r ON r.id = m.run_id JOIN results res ON res.run_id = m.run_id
              LEFT JOIN audits a ON a.run_id = res.run_id AND a.producer_attempt = res.attempt
            WHERE m.sweep_id = ? ORDER BY m.position
            """,
          arguments: [sweep.rawValue])
      }
    }
  }

  /// When each sweep was first submitted (`sweeps.created_at`), for `status`'s `age_seconds`.
  public func sweepSubmissionDates() throws(CoordinatorError) -> [SweepID: Date] {
    try Self.attempt("reading the sweeps' submission times") {
      try pool.read { db in
        var dates: [SweepID: Date] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, created_at FROM sweeps") {
          if let id = SweepID(rawValue: row["id"]), let date = Self.date(row["created_at"]) {
            dates[id] = date
          }
        }
        return dates
      }
    }
  }

  /// How many results are recorded for `run`: 0 or 1.
  public func resultCount(run: RunID) throws(CoordinatorError) -> Int {
    try Self.attempt("counting the results of run \(run)") {
      try pool.read { db in
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM results WHERE run_id = ?", arguments: [run.rawValue])
          ?? 0
      }
    }
  }

  private static func resultRows(_ db: Database, sql: String, arguments: StatementArguments) throws
    -> [ResultRow]
  {
    let decoder = JSONCodec.decoder
    return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
      let run = try RunID(row["id"] as String)
      let specJSON: String = row["spec_json"]
      let pathsJSON: String = row["artifact_paths"]
      guard let spec = try? decoder.decode(RunSpec.self, from: Data(specJSON.utf8)),
        let paths = try? decoder.decode([String].self, from: Data(pathsJSON.utf8))
      else {
        throw CoordinatorError.corruptState("the result of run \(run) cannot be read")
      }
      let recordedAt: String = row["recorded_at"]
      return ResultRow(
        sweep: try SweepID(row["sweep_id"] as String), run: run, pointID: row["point_id"], spec: spec,
        attempt: row["attempt"], worker: try WorkerID(row["worker_id"] as String), runJSON: row["run_json"],
        summary: ResultSummaryColumns.summary(row), artifactPaths: paths,
        recordedAt: Self.date(recordedAt) ?? .distantPast,
        audit: (row["suspect"] as String?) == nil ? (row["audit_state"] as String?) ?? "" : "suspect")
    }
  }

  // MARK: Helpers

  private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

  static func timestamp(_ date: Date) -> String { date.formatted(timestampStyle) }
  static func date(_ text: String) -> Date? { try? timestampStyle.parse(text) }

  /// Runs `body`, turning whatever it throws into a `CoordinatorError` that says what was being done.
  private static func attempt<T>(_ operation: String, _ body: () throws -> T) throws(CoordinatorError) -> T {
    do {
      return try body()
    } catch let error as CoordinatorError {
      throw error
    } catch let error as DatabaseError {
      throw .storage(operation: operation, message: error.description)
    } catch {
      throw .storage(operation: operation, message: "\(error)")
    }
  }
}
