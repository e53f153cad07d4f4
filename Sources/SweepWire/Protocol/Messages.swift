import TracCore

/// `hello`: a worker (re)connects and announces what it is still running and what it holds
/// unacknowledged in its spool.
public struct Hello: Codable, Equatable, Sendable {
  public var workerID: WorkerID
  public var host: String
  public var slots: Int
  public var trainerVersion: String
  public var running: [AttemptID]
  public var spooled: [AttemptID]
  /// The task families whose evaluation this worker can run (`bullet_gym`, `safety_gymnasium`, `metadrive`); `[]`
  /// for a worker started with `--no-evaluate`. Nil: not announced (an older worker), which the
  /// coordinator takes as `["bullet_gym"]`. Names this version does not know are dropped on decoding.
  public var evaluates: [TaskFamily]?
  /// The BLAS kernel its trainers compute with and how it was chosen, for people (`status`), e.g.
  /// `Zen (AVX2+FMA; probed fastest)`; nil: not said (an older worker). At most 200 printable characters.
  public var blas: String?

  /// The most entries `evaluates` may have (a longer list is refused as malformed).
  public static let maxEvaluates = 64

  public init(
    workerID: WorkerID, host: String, slots: Int, trainerVersion: String, running: [AttemptID],
    spooled: [AttemptID], evaluates: [TaskFamily]? = nil, blas: String? = nil
  ) {
    self.blas = blas
    self.workerID = workerID
    self.host = host
    self.slots = slots
    self.trainerVersion = trainerVersion
    self.running = running
    self.spooled = spooled
    self.evaluates = evaluates
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    workerID = try container.decode(WorkerID.self, forKey: .workerID)
    host = try container.decode(String.self, forKey: .host)
    slots = try container.decode(Int.self, forKey: .slots)
    trainerVersion = try container.decode(String.self, forKey: .trainerVersion)
    running = try container.decode([AttemptID].self, forKey: .running)
    spooled = try container.decode([AttemptID].self, forKey: .spooled)
    if let names = try container.decodeIfPresent([String].self, forKey: .evaluates) {
      guard names.count <= Self.maxEvaluates else {
        throw DecodingError.dataCorruptedError(
          forKey: .evaluates, in: container,
          debugDescription: "\(names.count) entries; at most \(Self.maxEvaluates)")
      }
      // A family a newer worker knows and this coordinator does not: it cannot be scheduled anyway.
      var families: [TaskFamily] = []
      for name in names {
        if let family = TaskFamily(rawValue: name), !families.contains(family) { families.append(family) }
      }
      evaluates = families
    } else {
      evaluates = nil
    }
    blas = try container.decodeIfPresent(String.self, forKey: .blas)
  }

  enum CodingKeys: String, CodingKey {
    case workerID = "worker_id"
    case host, slots
    case trainerVersion = "trainer_version"
    case running, spooled, evaluates, blas
  }
}

/// `welcome`: the coordinator's answer to `hello`: the heartbeat contract, and the announced
/// attempts it does not know (the worker stops them).
public struct Welcome: Codable, Equatable, Sendable {
  public var heartbeatIntervalMilliseconds: Int
  public var liveness: Int
  public var cancel: [AttemptID]

  public init(heartbeatIntervalMilliseconds: Int, liveness: Int, cancel: [AttemptID]) {
    self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
    self.liveness = liveness
    self.cancel = cancel
  }

  enum CodingKeys: String, CodingKey {
    case heartbeatIntervalMilliseconds = "heartbeat_interval_ms"
    case liveness, cancel
  }
}

/// `heartbeat`: sent every interval from a thread that never trains; extends the worker's leases.
public struct Heartbeat: Codable, Equatable, Sendable {
  public var workerID: WorkerID
  public var running: [AttemptID]
  /// How far the running attempts' trainers are (from their train.jsonl), when it changed; absent
  /// from most heartbeats.
  public var progress: [AttemptProgress]?

  public init(workerID: WorkerID, running: [AttemptID], progress: [AttemptProgress]? = nil) {
    self.workerID = workerID
    self.running = running
    self.progress = progress
  }

  enum CodingKeys: String, CodingKey {
    case workerID = "worker_id"
    case running, progress
  }
}

/// Where a running attempt's trainer is: the last line of its train.jsonl (a few bytes).
public struct AttemptProgress: Codable, Equatable, Sendable {
  public var attempt: AttemptID
  /// `bc` or `trac`: the phase of the steps last logged.
  public var phase: String
  /// Updates made (BC included) and the run's total.
  public var step: Int
  public var totalSteps: Int
  /// The mean loss of the steps last logged.
  public var loss: Double?

  public init(attempt: AttemptID, phase: String, step: Int, totalSteps: Int, loss: Double?) {
    self.attempt = attempt
    self.phase = phase
    self.step = step
    self.totalSteps = totalSteps
    self.loss = loss
  }

  enum CodingKeys: String, CodingKey {
    case attempt, phase, step
    case totalSteps = "total_steps"
    case loss
  }
}

/// `pong`: the answer to a heartbeat. `known == false` means the coordinator does not know this
/// worker (it restarted): the worker sends `hello` again.
public struct Pong: Codable, Equatable, Sendable {
  public var known: Bool

  public init(known: Bool) { self.known = known }
}

/// Where the worker gets a run's dataset: by content hash, from its cache or by `fetch`.
public struct DatasetRef: Codable, Hashable, Sendable {
  public var sha256: SHA256Digest
  public var size: Int
  /// The file name the dataset had when submitted, for logs.
  public var name: String

  public init(sha256: SHA256Digest, size: Int, name: String) {
    self.sha256 = sha256
    self.size = size
    self.name = name
  }
}

/// `assign`: one attempt of one run, pushed to one worker with a lease.
public struct Assign: Codable, Equatable, Sendable {
  public var attempt: AttemptID
  public var spec: RunSpec
  public var dataset: DatasetRef
  public var leaseMilliseconds: Int
  /// The run's newest checkpoint (shipped by an earlier attempt): the worker fetches it by hash and
  /// the trainer resumes from it. Absent: the run starts from step 0.
  public var checkpoint: CheckpointRef?
  /// The end-of-BC checkpoint of the run's shared BC stage (docs/CHECKPOINTS.md): the worker fetches it
  /// by hash and the trainer starts the TraC phase from it (`--init-from-checkpoint`). Absent when the
  /// run trains its own BC phase, or resumes from `checkpoint`.
  public var initFrom: CheckpointRef?

  public init(
    attempt: AttemptID, spec: RunSpec, dataset: DatasetRef, leaseMilliseconds: Int,
    checkpoint: CheckpointRef? = nil, initFrom: CheckpointRef? = nil
  ) {
    self.attempt = attempt
    self.spec = spec
    self.dataset = dataset
    self.leaseMilliseconds = leaseMilliseconds
    self.checkpoint = checkpoint
    self.initFrom = initFrom
  }

  enum CodingKeys: String, CodingKey {
    case attempt, spec, dataset
    case leaseMilliseconds = "lease_ms"
    case checkpoint
    case initFrom = "init_from"
  }
}

/// `checkpoint`: a running attempt's newest checkpoint, one attachment with its bytes. Sent every
/// shipping interval while the attempt trains and when the worker hands the attempt back.
public struct CheckpointMessage: Codable, Equatable, Sendable {
  public var workerID: WorkerID
  public var attempt: AttemptID
  public var checkpoint: CheckpointRef

  public init(workerID: WorkerID, attempt: AttemptID, checkpoint: CheckpointRef) {
    self.workerID = workerID
    self.attempt = attempt
    self.checkpoint = checkpoint
  }

  enum CodingKeys: String, CodingKey {
    case workerID = "worker_id"
    case attempt, checkpoint
  }
}

/// How an attempt ended on the worker.
public enum TrainerOutcome: String, Codable, Sendable {
  case succeeded
  /// The trainer exited non-zero: retried up to the limit.
  case failed
  /// The trainer reported an error of its input (exit status 65): the run fails at once.
  case inputError = "input_error"

  /// Classifies a trainer's exit: 0 succeeded, 65 input error, anything else (or a signal, nil) failed.
  public init(exitStatus: Int32?) {
    switch exitStatus {
    case 0: self = .succeeded
    case TracError.inputErrorExitStatus: self = .inputError
    default: self = .failed
    }
  }
}

/// A file that travels with a result, as one attachment frame in this order.
public struct FileInfo: Codable, Hashable, Sendable {
  public var name: ArtifactName
  public var size: Int
  public var sha256: SHA256Digest

  public init(name: ArtifactName, size: Int, sha256: SHA256Digest) {
    self.name = name
    self.size = size
    self.sha256 = sha256
  }
}

/// `result`: a finished attempt; the files (policy.safetensors, run.json, train.jsonl) follow as
/// attachments. The worker keeps it in its spool until `ack`.
public struct ResultMessage: Codable, Equatable, Sendable {
  public var workerID: WorkerID
  public var attempt: AttemptID
  public var outcome: TrainerOutcome
  public var exitStatus: Int32?
  public var stderrTail: String
  public var files: [FileInfo]

  public init(
    workerID: WorkerID, attempt: AttemptID, outcome: TrainerOutcome, exitStatus: Int32?, stderrTail: String,
    files: [FileInfo]
  ) {
    self.workerID = workerID
    self.attempt = attempt
    self.outcome = outcome
    self.exitStatus = exitStatus
    self.stderrTail = stderrTail
    self.files = files
  }

  enum CodingKeys: String, CodingKey {
    case workerID = "worker_id"
    case attempt, outcome
    case exitStatus = "exit_status"
    case stderrTail = "stderr_tail"
    case files
  }
}

/// `ack`: the result is committed to the coordinator's database (or was a duplicate): the worker
/// may delete it from its spool.
public struct Ack: Codable, Equatable, Sendable {
  public var attempt: AttemptID
  public var duplicate: Bool
  /// Set when a `succeeded` result was refused (no run.json of this run, no finite evaluation, a
  /// policy of the wrong shapes...): the attempt is recorded as failed, with this reason.
  public var rejected: String?

  public init(attempt: AttemptID, duplicate: Bool, rejected: String? = nil) {
    self.attempt = attempt
    self.duplicate = duplicate
    self.rejected = rejected
  }
}

/// `cancel`: stop this attempt (its sweep was cancelled, or the coordinator gave the run to another).
public struct Cancel: Codable, Equatable, Sendable {
  public var attempt: AttemptID

  public init(attempt: AttemptID) { self.attempt = attempt }
}

/// `goodbye`: a worker stopping gracefully hands these attempts back (not failures, not lost).
public struct Goodbye: Codable, Equatable, Sendable {
  public var workerID: WorkerID
  public var released: [AttemptID]

  public init(workerID: WorkerID, released: [AttemptID]) {
    self.workerID = workerID
    self.released = released
  }

  enum CodingKeys: String, CodingKey {
    case workerID = "worker_id"
    case released
  }
}

/// `fetch`: a piece of a dataset by content hash; answered by `chunk`. One request in flight per
/// dataset gives flow control: the worker asks for the next piece after writing this one.
public struct Fetch: Codable, Equatable, Sendable {
  public var sha256: SHA256Digest
  public var offset: Int
  public var length: Int

  public init(sha256: SHA256Digest, offset: Int, length: Int) {
    self.sha256 = sha256
    self.offset = offset
    self.length = length
  }
}

/// `chunk`: the bytes `[offset, offset + attachment.count)` of the dataset, as one attachment.
public struct Chunk: Codable, Equatable, Sendable {
  public var sha256: SHA256Digest
  public var offset: Int
  public var total: Int

  public init(sha256: SHA256Digest, offset: Int, total: Int) {
    self.sha256 = sha256
    self.offset = offset
    self.total = total
  }
}

/// `error`: the last message was refused; the peer keeps serving. Peers act on `code`, never on the
/// text, which is for people.
public struct ErrorMessage: Codable, Equatable, Sendable {
  public var code: ErrorCode
  public var message: String
  /// The identifier the error is about, when there is one: the dataset's sha256 of a refused `fetch`,
  /// the attempt's run id of a refused `result`.
  public var subject: String?

  public init(code: ErrorCode, message: String, subject: String? = nil) {
    self.code = code
    self.message = message
    self.subject = subject
  }

  /// The reply to a refused message.
  public init(_ error: WireError) {
    self.init(code: error.code, message: error.description, subject: error.subject)
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    message = try container.decode(String.self, forKey: .message)
    // A peer that sends no code (an older one) gets the generic one: the text still reaches the log.
    code = try container.decodeIfPresent(ErrorCode.self, forKey: .code) ?? .malformed
    subject = try container.decodeIfPresent(String.self, forKey: .subject)
  }
}
