import Foundation
import TracCore

/// What two trainings of one run must agree on (docs/SECURITY.md, "Audits"): the bytes of the policy
/// (for a BC stage unit, of its end-of-BC checkpoint), computed by the same kernels, and the evaluation
/// of that policy. Made by the coordinator from the files a result carries, never taken from the worker.
public struct ResultFingerprint: Equatable, Sendable, Codable {
  /// SHA-256 of `policy.safetensors`, or of a stage unit's `bc-stage.safetensors`.
  public var sha256: String
  /// The kernels that trained the run, in order (run.json `blas.trained_steps`, each range's kernel,
  /// repeats merged); empty when run.json does not say.
  public var kernels: [String]
  /// Whether the run's spec asks for `blas: reproducible` (one kernel on every machine).
  public var reproducible: Bool
  /// The normalized reward and cost at the first threshold, when the run was evaluated.
  public var reward: Double?
  public var cost: Double?

  /// How far two evaluations of the same policy bytes may differ (normalized reward and cost): the
  /// simulators are deterministic for a given policy, seed and episode count, so this only absorbs
  /// printing and summing in another order.
  public static let evaluationTolerance = 1e-6

  public init(
    sha256: String, kernels: [String], reproducible: Bool, reward: Double? = nil, cost: Double? = nil
  ) {
    self.sha256 = sha256
    self.kernels = kernels
    self.reproducible = reproducible
    self.reward = reward
    self.cost = cost
  }

  /// Whether a training of the run by another worker can be compared byte for byte with this one: the
  /// run asks for one kernel everywhere, or it was trained by one kernel (or, when it started from a
  /// shared BC stage, by one kernel after the stage's: the audit starts from the same stage). A run
  /// resumed across kernels cannot be trained again the same way.
  public func isAuditable(startsFromStage: Bool) -> Bool {
    reproducible || kernels.count == 1 || (startsFromStage && kernels.count == 2)
  }

  /// The kernel a worker needs to train the run again the same way; nil when any worker will do.
  public var neededKernel: String? { reproducible ? nil : kernels.last }

  /// Whether `other` was computed the same way (same kernels), so that its bytes must equal these.
  public func isComparable(with other: ResultFingerprint) -> Bool {
    reproducible || kernels == other.kernels
  }

  /// Whether `other` is the same result: the same bytes and the same evaluation.
  public func agrees(with other: ResultFingerprint) -> Bool {
    guard sha256 == other.sha256 else { return false }
    func close(_ a: Double?, _ b: Double?) -> Bool {
      switch (a, b) {
      case (nil, nil): return true
      case (let a?, let b?): return abs(a - b) <= Self.evaluationTolerance * max(1, abs(a), abs(b))
      default: return false
      }
    }
    return close(reward, other.reward) && close(cost, other.cost)
  }

  /// `3f2a9c01d4e5 (Zen)`: for log lines and `detail`.
  public var short: String {
    "\(sha256.prefix(12)) (\(reproducible ? "reproducible" : kernels.joined(separator: "+")))"
  }
}

/// A recorded result chosen for audit: the run is trained again by a worker that had no part in it, and
/// the two must agree. A disagreement is settled by a third worker (the referee); the side the referee
/// contradicts is convicted: quarantined, its results marked suspect and trained again.
public struct AuditRecord: Equatable, Sendable {
  public let run: RunID
  /// The recorded result under audit: the attempt that produced it, its worker, what it must match.
  public var producer: WorkerID
  public var producerAttempt: Int
  public var expected: ResultFingerprint
  public var state: AuditState
  /// The audit's attempts (attempt numbers of the run), oldest first.
  public var attempts: [Int] = []
  /// Workers that were asked to train it and are not asked again (they failed, disagreed, lost it).
  public var tried: [WorkerID] = []
  /// A first auditor that disagreed with the producer, waiting for a referee.
  public var dispute: AuditDispute?
  /// Audit attempts whose trainer failed; at `maximumFailures` the audit is inconclusive.
  public var failures = 0
  /// What happened, for `status` and the log: who agreed with whom.
  public var detail = ""

  public static let maximumFailures = 3

  public init(run: RunID, producer: WorkerID, producerAttempt: Int, expected: ResultFingerprint) {
    self.run = run
    self.producer = producer
    self.producerAttempt = producerAttempt
    self.expected = expected
    self.state = .waiting
  }

  /// The lease of its running attempt.
  public var lease: RunLease? {
    if case .running(let lease) = state { return lease }
    return nil
  }

  /// `waiting`, `running`, `disputed` (a disagreement waiting for, or being settled by, a referee),
  /// `passed`, `mismatch`, `inconclusive`, `withdrawn`: what `status` and `results` show.
  public var stateName: String {
    switch state {
    case .waiting, .running: return dispute == nil ? state.name : "disputed"
    default: return state.name
    }
  }
}

/// Where an audit is.
public enum AuditState: Equatable, Sendable {
  /// Waiting for a worker that may train it (`Scheduler.mayAudit`) to have a free slot.
  case waiting
  case running(RunLease)
  /// Another worker's training agreed with the recorded result (or a referee agreed with it against a
  /// first auditor, who was convicted).
  case passed
  /// The producer was contradicted by two other workers: convicted.
  case mismatch
  /// No comparison could be made (the kernels differed, the trainings failed, three different results,
  /// or the result was withdrawn).
  case inconclusive
  /// The result under audit was withdrawn before it was compared: its worker was convicted by another
  /// audit, and the run is trained again (and its new result may be drawn).
  case withdrawn

  public var name: String {
    switch self {
    case .waiting: return "waiting"
    case .running: return "running"
    case .passed: return "passed"
    case .mismatch: return "mismatch"
    case .inconclusive: return "inconclusive"
    case .withdrawn: return "withdrawn"
    }
  }

  public var isFinal: Bool {
    switch self {
    case .waiting, .running: return false
    default: return true
    }
  }
}

/// A first auditor's training that disagreed with the recorded result.
public struct AuditDispute: Equatable, Sendable, Codable {
  public var auditor: WorkerID
  public var fingerprint: ResultFingerprint

  public init(auditor: WorkerID, fingerprint: ResultFingerprint) {
    self.auditor = auditor
    self.fingerprint = fingerprint
  }
}

/// Audits by state, for `status`.
public struct AuditCounts: Equatable, Sendable {
  /// The share of recorded results chosen for audit (the coordinator's `--audit`).
  public var share = 0.0
  public var waiting = 0
  public var running = 0
  public var disputed = 0
  public var passed = 0
  public var mismatch = 0
  public var inconclusive = 0
  public var withdrawn = 0
  /// Recorded results marked suspect (their producer was convicted), not yet trained again.
  public var suspect = 0

  public init() {}

  public var total: Int { waiting + running + disputed + passed + mismatch + inconclusive + withdrawn }
}
