import Foundation
import GRDB
import TracCore

/// The tables of `state.sqlite`, as migrations: a database made by an older version is brought up to
/// date when opened, never rebuilt. Times are ISO 8601 text in UTC, for people reading the file.
enum StoreSchema {
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1: sweeps, runs, attempts, results, workers, counters") { db in
      try db.execute(
        sql: """
          CREATE TABLE sweeps (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL UNIQUE,
            grid_json TEXT NOT NULL,
            submit_order INTEGER NOT NULL UNIQUE,
            cancelled INTEGER NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
          );

          CREATE TABLE runs (
            id TEXT PRIMARY KEY NOT NULL,
            spec_json TEXT NOT NULL,
            dataset_path TEXT,
            queue_order INTEGER NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
            current_attempt INTEGER,
            current_worker TEXT,
            attempt_count INTEGER NOT NULL CHECK (attempt_count >= 0),
            failure_count INTEGER NOT NULL CHECK (failure_count >= 0),
            duplicate_results INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((state = 'running') = (current_attempt IS NOT NULL AND current_worker IS NOT NULL))
          );

          CREATE TABLE sweep_runs (
            sweep_id TEXT NOT NULL REFERENCES sweeps(id),
            run_id TEXT NOT NULL REFERENCES runs(id),
            position INTEGER NOT NULL,
            point_id TEXT NOT NULL,
            PRIMARY KEY (sweep_id, run_id),
            UNIQUE (sweep_id, position)
          );
          CREATE INDEX sweep_runs_by_run ON sweep_runs(run_id);

          CREATE TABLE workers (
            id TEXT PRIMARY KEY NOT NULL,
            host TEXT NOT NULL,
            slots INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('online', 'offline', 'left')),
            quarantined INTEGER NOT NULL CHECK (quarantined IN (0, 1)),
            consecutive_failures INTEGER NOT NULL,
            first_seen_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
          );

          CREATE TABLE attempts (
            run_id TEXT NOT NULL REFERENCES runs(id),
            number INTEGER NOT NULL CHECK (number >= 1),
            worker_id TEXT NOT NULL REFERENCES workers(id),
            outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'input_error', 'lost', 'released', 'cancelled')),
            exit_status INTEGER,
            stderr_tail TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            PRIMARY KEY (run_id, number)
          );

          -- One row per run at most: "a result is recorded at most once" is a fact of the database.
          CREATE TABLE results (
            run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs(id),
            attempt INTEGER NOT NULL,
            worker_id TEXT NOT NULL,
            run_json TEXT NOT NULL,
            artifact_paths TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            FOREIGN KEY (run_id, attempt) REFERENCES attempts(run_id, number)
          );

          CREATE TABLE counters (
            name TEXT PRIMARY KEY NOT NULL,
            value INTEGER NOT NULL
          );
          """)
    }
    migrator.registerMigration("v2: a run's newest checkpoint") { db in
      try db.execute(
        sql: """
          ALTER TABLE runs ADD COLUMN checkpoint_sha256 TEXT;
          ALTER TABLE runs ADD COLUMN checkpoint_size INTEGER;
          ALTER TABLE runs ADD COLUMN checkpoint_step INTEGER;
          """)
    }
    migrator.registerMigration("workers.public_key: a worker id bound to the CURVE key that registered it") {
      db in
      try db.execute(sql: "ALTER TABLE workers ADD COLUMN public_key TEXT")
    }
    migrator.registerMigration("v3: shared BC stages") { db in
      try db.execute(
        sql: """
          ALTER TABLE runs ADD COLUMN stage_run_id TEXT;
          ALTER TABLE runs ADD COLUMN stage_seconds REAL;
          """)
    }
    migrator.registerMigration("v4: what results rows show of run.json, typed") { db in
      try db.execute(
        sql: ResultSummaryColumns.names.map { "ALTER TABLE results ADD COLUMN \($0.name) \($0.type);" }
          .joined(separator: "\n"))
      // The results recorded before: their run.json decoded once, here.
      let update = try db.makeStatement(
        sql:
          "UPDATE results SET \(ResultSummaryColumns.names.map { "\($0.name) = ?" }.joined(separator: ", "))"
          + " WHERE run_id = ?")
      for row in try Row.fetchAll(db, sql: "SELECT run_id, run_json FROM results") {
        let runJSON: String = row["run_json"]
        let summary = RunSummary(runJSON: Data(runJSON.utf8)) ?? RunSummary()
        try update.execute(
          arguments: StatementArguments(ResultSummaryColumns.values(summary) + [row["run_id"] as String]))
      }
    }
    migrator.registerMigration("v5: audits, and recorded results marked suspect") { db in
      try db.execute(
        sql: """
          CREATE TABLE audits (
            run_id TEXT NOT NULL REFERENCES runs(id),
            producer_attempt INTEGER NOT NULL,
            state TEXT NOT NULL
              CHECK (state IN ('waiting', 'running', 'disputed', 'passed', 'mismatch', 'inconclusive', 'withdrawn')),
            producer TEXT NOT NULL,
            detail TEXT NOT NULL,
            record_json TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run_id, producer_attempt)
          );
          ALTER TABLE results ADD COLUMN suspect TEXT;
          """)
    }
    return migrator
  }
}

/// An audit as `audits.record_json` holds it: the whole `AuditRecord`, its lease without a deadline (a
/// restarted coordinator gives every lease a fresh one).
struct StoredAudit: Codable {
  var run: RunID
  var producer: WorkerID
  var producerAttempt: Int
  var expected: ResultFingerprint
  var state: String
  var lease: StoredLease?
  var attempts: [Int]
  var tried: [WorkerID]
  var dispute: AuditDispute?
  var failures: Int
  var detail: String

  struct StoredLease: Codable {
    var attempt: Int
    var worker: WorkerID
  }

  init(_ audit: AuditRecord) {
    run = audit.run
    producer = audit.producer
    producerAttempt = audit.producerAttempt
    expected = audit.expected
    state = audit.state.name
    lease = audit.lease.map { StoredLease(attempt: $0.attempt, worker: $0.worker) }
    attempts = audit.attempts
    tried = audit.tried
    dispute = audit.dispute
    failures = audit.failures
    detail = audit.detail
  }

  func record() throws -> AuditRecord {
    var audit = AuditRecord(
      run: run, producer: producer, producerAttempt: producerAttempt, expected: expected)
    switch state {
    case "waiting": audit.state = .waiting
    case "running":
      guard let lease else {
        throw CoordinatorError.corruptState("audit of run \(run) is running with no lease")
      }
      audit.state = .running(RunLease(attempt: lease.attempt, worker: lease.worker, leaseDeadline: .zero))
    case "passed": audit.state = .passed
    case "mismatch": audit.state = .mismatch
    case "inconclusive": audit.state = .inconclusive
    case "withdrawn": audit.state = .withdrawn
    default: throw CoordinatorError.corruptState("audit of run \(run) has the unknown state \(state)")
    }
    audit.attempts = attempts
    audit.tried = tried
    audit.dispute = dispute
    audit.failures = failures
    audit.detail = detail
    return audit
  }
}

/// The columns of `results` that hold a result's `RunSummary`, written when it is recorded.
enum ResultSummaryColumns {
  static let names: [(name: String, type: String)] = [
    ("reward_mean", "REAL"), ("reward_std", "REAL"), ("cost_mean", "REAL"), ("cost_std", "REAL"),
    ("safe", "INTEGER"), ("reward_return_mean", "REAL"), ("cost_return_mean", "REAL"),
    ("total_seconds", "REAL"),
    ("bc_seconds", "REAL"), ("bc_stage", "TEXT"), ("resumed_from_run", "TEXT"),
  ]

  /// `reward_mean, reward_std, ...`, each prefixed with `table.` when given.
  static func list(table: String? = nil) -> String {
    names.map { (table.map { "\($0)." } ?? "") + $0.name }.joined(separator: ", ")
  }
  static var placeholders: String { names.map { _ in "?" }.joined(separator: ", ") }

  /// The summary's values, in `names` order.
  static func values(_ summary: RunSummary) -> [(any DatabaseValueConvertible)?] {
    [
      summary.rewardMean, summary.rewardStd, summary.costMean, summary.costStd, summary.safe,
      summary.rewardReturnMean, summary.costReturnMean, summary.totalSeconds, summary.bcSeconds,
      summary.bcStage, summary.resumedFromRun,
    ]
  }

  /// The summary in a row that selected the columns.
  static func summary(_ row: Row) -> RunSummary {
    var summary = RunSummary()
    summary.rewardMean = row["reward_mean"]
    summary.rewardStd = row["reward_std"]
    summary.costMean = row["cost_mean"]
    summary.costStd = row["cost_std"]
    summary.safe = row["safe"]
    summary.rewardReturnMean = row["reward_return_mean"]
    summary.costReturnMean = row["cost_return_mean"]
    summary.totalSeconds = row["total_seconds"]
    summary.bcSeconds = row["bc_seconds"]
    summary.bcStage = row["bc_stage"]
    summary.resumedFromRun = row["resumed_from_run"]
    return summary
  }
}
