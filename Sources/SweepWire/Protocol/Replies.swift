import TracCore

/// `reply` to `submit`.
public struct SubmitReply: Codable, Equatable, Sendable {
  public var sweepID: String
  public var name: String
  public var runs: Int
  /// Runs whose result already existed (from this or another sweep): not run again.
  public var alreadyDone: Int
  /// False when the same grid had been submitted before (submit is idempotent).
  public var created: Bool

  public init(sweepID: String, name: String, runs: Int, alreadyDone: Int, created: Bool) {
    self.sweepID = sweepID
    self.name = name
    self.runs = runs
    self.alreadyDone = alreadyDone
    self.created = created
  }

  enum CodingKeys: String, CodingKey {
    case sweepID = "sweep_id"
    case name, runs
    case alreadyDone = "already_done"
    case created
  }
}

/// `reply` to `status`: what `status` and `watch` show.
public struct StatusReply: Codable, Equatable, Sendable {
  public struct Sweep: Codable, Equatable, Sendable {
    public var id: String
    public var name: String
    public var total: Int
    public var pending: Int
    public var running: Int
    public var done: Int
    public var failed: Int
    public var cancelled: Int
    public var duplicates: Int
    public var lostAttempts: Int
    /// Seconds since the sweep was first submitted (a resubmission does not reset it).
    public var ageSeconds: Double

    public init(
      id: String, name: String, total: Int, pending: Int, running: Int, done: Int, failed: Int,
      cancelled: Int,
      duplicates: Int, lostAttempts: Int, ageSeconds: Double
    ) {
      self.id = id
      self.name = name
      self.total = total
      self.pending = pending
      self.running = running
      self.done = done
      self.failed = failed
      self.cancelled = cancelled
      self.duplicates = duplicates
      self.lostAttempts = lostAttempts
      self.ageSeconds = ageSeconds
    }

    enum CodingKeys: String, CodingKey {
      case id, name, total, pending, running, done, failed, cancelled, duplicates
      case lostAttempts = "lost_attempts"
      case ageSeconds = "age_seconds"
    }
  }

  public struct Worker: Codable, Equatable, Sendable {
    public var id: String
    public var host: String
    public var slots: Int
    public var running: [String]
    /// `online`, `offline` (silent past its lease), `left` (said goodbye).
    public var state: String
    public var quarantined: Bool
    public var consecutiveFailures: Int
    /// The task families it evaluates, as it announced them (`[]`: train-only runs).
    public var evaluates: [String]
    /// The BLAS kernel of its trainers, as its `hello` said (nil: not said, or not heard since the
    /// coordinator started).
    public var blas: String?

    public init(
      id: String, host: String, slots: Int, running: [String], state: String, quarantined: Bool,
      consecutiveFailures: Int, evaluates: [String] = [], blas: String? = nil
    ) {
      self.blas = blas
      self.id = id
      self.host = host
      self.slots = slots
      self.running = running
      self.state = state
      self.quarantined = quarantined
      self.consecutiveFailures = consecutiveFailures
      self.evaluates = evaluates
    }

    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      id = try container.decode(String.self, forKey: .id)
      host = try container.decode(String.self, forKey: .host)
      slots = try container.decode(Int.self, forKey: .slots)
      running = try container.decode([String].self, forKey: .running)
      state = try container.decode(String.self, forKey: .state)
      quarantined = try container.decode(Bool.self, forKey: .quarantined)
      consecutiveFailures = try container.decode(Int.self, forKey: .consecutiveFailures)
      evaluates = try container.decodeIfPresent([String].self, forKey: .evaluates) ?? []
      blas = try container.decodeIfPresent(String.self, forKey: .blas)
    }

    enum CodingKeys: String, CodingKey {
      case id, host, slots, running, state, quarantined
      case consecutiveFailures = "consecutive_failures"
      case evaluates, blas
    }
  }

  /// Pending runs that no online worker can take, and why: their evaluation needs a task family no
  /// online, unquarantined worker evaluates. They stay queued until such a worker says hello.
  public struct Waiting: Codable, Equatable, Sendable {
    /// The task family whose evaluator the runs need (`safety_gymnasium`).
    public var evaluates: String
    public var runs: Int
    /// For people: "3 runs need a worker that evaluates safety_gymnasium; no online worker does".
    public var reason: String

    public init(evaluates: String, runs: Int, reason: String) {
      self.evaluates = evaluates
      self.runs = runs
      self.reason = reason
    }
  }

  public struct Failure: Codable, Equatable, Sendable {
    public var runID: String
    public var attempt: Int
    public var worker: String
    public var exitStatus: Int32
    public var stderrTail: String
    public var inputError: Bool
    /// The sweeps the failure concerns: those containing the run, or for a BC stage unit, those
    /// containing the runs that start from it.
    public var sweeps: [String]
    /// Whether the failed run is a BC stage unit (docs/PROTOCOL.md, "Shared BC stages").
    public var stageUnit: Bool

    public init(
      runID: String, attempt: Int, worker: String, exitStatus: Int32, stderrTail: String, inputError: Bool,
      sweeps: [String] = [], stageUnit: Bool = false
    ) {
      self.runID = runID
      self.attempt = attempt
      self.worker = worker
      self.exitStatus = exitStatus
      self.stderrTail = stderrTail
      self.inputError = inputError
      self.sweeps = sweeps
      self.stageUnit = stageUnit
    }

    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      runID = try container.decode(String.self, forKey: .runID)
      attempt = try container.decode(Int.self, forKey: .attempt)
      worker = try container.decode(String.self, forKey: .worker)
      exitStatus = try container.decode(Int32.self, forKey: .exitStatus)
      stderrTail = try container.decode(String.self, forKey: .stderrTail)
      inputError = try container.decode(Bool.self, forKey: .inputError)
      sweeps = try container.decodeIfPresent([String].self, forKey: .sweeps) ?? []
      stageUnit = try container.decodeIfPresent(Bool.self, forKey: .stageUnit) ?? false
    }

    enum CodingKeys: String, CodingKey {
      case runID = "run_id"
      case attempt, worker
      case exitStatus = "exit_status"
      case stderrTail = "stderr_tail"
      case inputError = "input_error"
      case sweeps
      case stageUnit = "stage_unit"
    }
  }

  /// The checkpoints the coordinator keeps for unfinished runs (docs/CHECKPOINTS.md).
  public struct Checkpoints: Codable, Equatable, Sendable {
    /// Runs with a checkpoint kept.
    public var runs: Int
    /// Their bytes on the coordinator's disk.
    public var bytes: Int

    public init(runs: Int, bytes: Int) {
      self.runs = runs
      self.bytes = bytes
    }
  }

  /// Shared BC stages (docs/CHECKPOINTS.md): the stage units, the runs that start their TraC phase
  /// from one, and the trainer time sharing saved.
  public struct Stages: Codable, Equatable, Sendable {
    /// Stage units, and how many are done, running, failed.
    public var units: Int
    public var done: Int
    public var running: Int
    public var failed: Int
    /// Runs that start from a unit, and how many of them are done.
    public var runs: Int
    public var runsDone: Int
    /// The end-of-BC checkpoints kept for done units.
    public var bytes: Int
    /// For each done unit: the seconds its BC phase took times (its done runs - 1), the BC training
    /// the runs did not repeat (trainers run with one BLAS thread: CPU seconds).
    public var secondsSaved: Double

    public init(
      units: Int = 0, done: Int = 0, running: Int = 0, failed: Int = 0, runs: Int = 0, runsDone: Int = 0,
      bytes: Int = 0, secondsSaved: Double = 0
    ) {
      self.units = units
      self.done = done
      self.running = running
      self.failed = failed
      self.runs = runs
      self.runsDone = runsDone
      self.bytes = bytes
      self.secondsSaved = secondsSaved
    }

    enum CodingKeys: String, CodingKey {
      case units, done, running, failed, runs
      case runsDone = "runs_done"
      case bytes
      case secondsSaved = "seconds_saved"
    }
  }

  /// Audits (docs/SECURITY.md): the share of recorded results drawn, the audits by state, and the
  /// recorded results marked suspect (their producer was convicted) until their runs are trained again.
  public struct Audits: Codable, Equatable, Sendable {
    public var share: Double
    public var waiting: Int
    public var running: Int
    public var disputed: Int
    public var passed: Int
    public var mismatch: Int
    public var inconclusive: Int
    public var withdrawn: Int
    public var suspect: Int

    public init(
      share: Double = 0, waiting: Int = 0, running: Int = 0, disputed: Int = 0, passed: Int = 0,
      mismatch: Int = 0, inconclusive: Int = 0, withdrawn: Int = 0, suspect: Int = 0
    ) {
      self.share = share
      self.waiting = waiting
      self.running = running
      self.disputed = disputed
      self.passed = passed
      self.mismatch = mismatch
      self.inconclusive = inconclusive
      self.withdrawn = withdrawn
      self.suspect = suspect
    }
  }

  public var sweeps: [Sweep]
  public var workers: [Worker]
  public var recentFailures: [Failure]
  /// Pending runs no online worker can take, by the evaluator they need (empty when every pending
  /// run has a worker that could take it).
  public var waitingFor: [Waiting]
  public var checkpoints: Checkpoints
  /// How far each running run's trainer is, as its worker last reported (runs not reported yet are
  /// missing).
  public var progress: [RunProgress]
  public var stages: Stages
  public var audits: Audits

  /// A running run's progress (`heartbeat.progress`), with the sweeps that contain it.
  public struct RunProgress: Codable, Equatable, Sendable {
    public var runID: String
    public var attempt: Int
    public var worker: String
    public var sweeps: [String]
    public var phase: String
    public var step: Int
    public var totalSteps: Int
    public var loss: Double?

    public init(
      runID: String, attempt: Int, worker: String, sweeps: [String], phase: String, step: Int,
      totalSteps: Int,
      loss: Double?
    ) {
      self.runID = runID
      self.attempt = attempt
      self.worker = worker
      self.sweeps = sweeps
      self.phase = phase
      self.step = step
      self.totalSteps = totalSteps
      self.loss = loss
    }

    enum CodingKeys: String, CodingKey {
      case runID = "run_id"
      case attempt, worker, sweeps, phase, step
      case totalSteps = "total_steps"
      case loss
    }
  }

  public init(
    sweeps: [Sweep], workers: [Worker], recentFailures: [Failure], waitingFor: [Waiting] = [],
    checkpoints: Checkpoints = Checkpoints(runs: 0, bytes: 0), progress: [RunProgress] = [],
    stages: Stages = Stages(), audits: Audits = Audits()
  ) {
    self.stages = stages
    self.audits = audits
    self.sweeps = sweeps
    self.workers = workers
    self.recentFailures = recentFailures
    self.waitingFor = waitingFor
    self.checkpoints = checkpoints
    self.progress = progress
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    sweeps = try container.decode([Sweep].self, forKey: .sweeps)
    workers = try container.decode([Worker].self, forKey: .workers)
    recentFailures = try container.decode([Failure].self, forKey: .recentFailures)
    waitingFor = try container.decodeIfPresent([Waiting].self, forKey: .waitingFor) ?? []
    checkpoints =
      try container.decodeIfPresent(Checkpoints.self, forKey: .checkpoints) ?? Checkpoints(runs: 0, bytes: 0)
    progress = try container.decodeIfPresent([RunProgress].self, forKey: .progress) ?? []
    stages = try container.decodeIfPresent(Stages.self, forKey: .stages) ?? Stages()
    audits = try container.decodeIfPresent(Audits.self, forKey: .audits) ?? Audits()
  }

  enum CodingKeys: String, CodingKey {
    case sweeps, workers
    case recentFailures = "recent_failures"
    case waitingFor = "waiting_for"
    case checkpoints, progress, stages, audits
  }
}

/// `reply` to `results`: one tidy row per run (pandas loads the CSV as is). Every field is text (`""`
/// when missing); `types` gives each column's kind (`ResultColumnKind`: text, integer, number, boolean).
public struct ResultsReply: Codable, Equatable, Sendable {
  public var columns: [String]
  /// One kind per column; absent from coordinators before it was added (optional, as the protocol allows).
  public var types: [String]?
  public var rows: [[String]]

  public init(columns: [String], types: [String]? = nil, rows: [[String]]) {
    self.columns = columns
    self.types = types
    self.rows = rows
  }
}

/// `reply` to `report`: what a sensitivity report is made of. The sweep's grid (its canonical JSON) and
/// one row per run of the sweep, recorded or not: the columns of `results` plus `state` (`done`,
/// `pending`, `running`, `failed`, `cancelled`); a run not recorded has empty result fields.
public struct ReportDataReply: Codable, Equatable, Sendable {
  public var sweepID: String
  public var name: String
  public var grid: String
  public var columns: [String]
  /// One kind per column, as in `ResultsReply`.
  public var types: [String]?
  public var rows: [[String]]

  public init(
    sweepID: String, name: String, grid: String, columns: [String], types: [String]? = nil, rows: [[String]]
  ) {
    self.sweepID = sweepID
    self.name = name
    self.grid = grid
    self.columns = columns
    self.types = types
    self.rows = rows
  }

  enum CodingKeys: String, CodingKey {
    case sweepID = "sweep_id"
    case name, grid, columns, types, rows
  }
}

/// `reply` to `dataset` and `upload`: how many bytes of the dataset the coordinator holds, and
/// whether it holds all of it, checked against its sha256.
public struct UploadReply: Codable, Equatable, Sendable {
  public var received: Int
  public var complete: Bool

  public init(received: Int, complete: Bool) {
    self.received = received
    self.complete = complete
  }
}

/// `reply` to `cancel`, `retry` and `release`: what changed.
public struct ChangeReply: Codable, Equatable, Sendable {
  public var message: String
  public var affected: Int

  public init(message: String, affected: Int) {
    self.message = message
    self.affected = affected
  }
}
