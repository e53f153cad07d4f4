import Logging
import TracCore

/// The coordinator's scheduling state machine: sweeps, runs, attempts and workers, changed only by
/// `handle(_:now:)`. It does no I/O, reads no clock and starts no thread: every event carries its `now`,
/// and returns the commands the I/O layer must carry out (after committing the changes, see below).
///
/// Persistence: every record an event touches is marked, and `takeChanges()` returns those records as
/// they now are (plus results to insert), ready to be written in one transaction. A record is always
/// written whole, so writing it twice is harmless, and a restarted coordinator rebuilds the scheduler
/// from the rows with `init(configuration:restoring:now:)`. An event that throws changes nothing.
///
/// After every event, pending runs are pushed to online, unquarantined workers with free slots: oldest
/// submitted first, each to the least loaded worker (ties: the one assigned to least recently), one run
/// to one worker.
public struct Scheduler: Sendable {
  public let configuration: SchedulerConfiguration

  public internal(set) var sweeps: [SweepID: SweepRecord] = [:]
  public internal(set) var runs: [RunID: RunRecord] = [:]
  public internal(set) var workers: [WorkerID: WorkerRecord] = [:]
  var attempts: [AttemptID: AttemptRecord] = [:]
  /// Results discarded because their run's result was already recorded, over all sweeps.
  public internal(set) var duplicatesDiscarded = 0

  // Indexes, rebuilt on restore.
  var sweepIDsByName: [String: SweepID] = [:]
  /// The sweeps that contain each run, in submit order, with the run's point in each.
  var sweepsOfRun: [RunID: [(sweep: SweepID, pointID: String)]] = [:]
  /// The runs each worker holds a lease on.
  var runningByWorker: [WorkerID: Set<RunID>] = [:]
  /// The pending runs that evaluate nothing (any worker can take them); those that evaluate wait in
  /// `pendingByFamily`, by the family whose evaluator they need.
  var pending = PendingQueue()
  var pendingByFamily: [TaskFamily: PendingQueue] = [:]
  var nextQueueOrder = 0
  var nextSubmitOrder = 0
  /// The latest trainer failures, oldest first, at most `configuration.recentFailureLimit`.
  var recentFailures: [AttemptID] = []
  /// Attempts assigned that their worker has not named in a heartbeat or hello since (not saved): one
  /// still unconfirmed at the worker's goodbye crossed it on the way, and is handed back, not lost.
  var unconfirmedAttempts: Set<AttemptID> = []
  /// For round-robin among equally loaded workers; not saved.
  var lastAssignment: [WorkerID: Int] = [:]
  var assignmentCount = 0
  /// The workers that can take a run now, least loaded first; kept in step by `refreshSlots(of:)`.
  var freeSlots = FreeSlotIndex()
  /// The same, per task family, of the workers that evaluate it.
  var freeSlotsByFamily: [TaskFamily: FreeSlotIndex] = [:]
  /// With CURVE: the worker ids each public key registered (they share its quarantine).
  var workersByKey: [String: Set<WorkerID>] = [:]
  /// The runs that start from each stage unit (`RunRecord.stage`); those pending wait until it is done.
  var dependentsOfStage: [RunID: Set<RunID>] = [:]
  /// What `status` and `metrics` count, kept by the functions below (`SchedulerTallies`).
  var tallies = SchedulerTallies()
  /// Recorded results drawn for audit, by run (`Scheduler+Audits.swift`), with their indexes: the audits
  /// each worker runs, those waiting for a worker, their counts by state.
  var audits: [RunID: AuditRecord] = [:]
  var auditsByWorker: [WorkerID: Set<RunID>] = [:]
  var waitingAudits: Set<RunID> = []
  var auditTallies = AuditCounts()
  /// The kernel each worker's latest result was trained with (not saved): audits go to workers that
  /// compute a result the same way.
  var learnedKernels: [WorkerID: String] = [:]
  /// Recorded results whose producer was convicted by an audit, with why; until trained again.
  var suspectRuns: [RunID: String] = [:]

  // What changed since the last `takeChanges()`.
  var changedSweeps: Set<SweepID> = []
  var newSweeps: Set<SweepID> = []
  var changedRuns: Set<RunID> = []
  var changedAttempts: [AttemptID] = []
  var changedAttemptSet: Set<AttemptID> = []
  var changedWorkers: Set<WorkerID> = []
  var newResults: [ResultRecord] = []
  var duplicatesChanged = false
  var changedAudits: Set<RunID> = []
  var newSuspects: [RunID: String] = [:]

  /// A scheduler with nothing in it.
  public init(configuration: SchedulerConfiguration = .default) {
    self.configuration = configuration
  }

  /// Handles one event at `now` and returns what the I/O layer must do, in order. Throws, changing
  /// nothing, for a request that cannot be carried out (an unknown sweep, a sweep name taken, ...).
  public mutating func handle(
    _ event: SchedulerEvent, now: SchedulerInstant
  ) throws(CoordinatorError) -> [SchedulerCommand] {
    var commands: [SchedulerCommand] = []
    switch event {
    case .submit(let submission):
      try submit(submission, commands: &commands)
    case .workerHello(let worker, let host, let slots, let running, let spooled, let evaluates, let key):
      try workerHello(
        worker, host: host, slots: slots, running: running, spooled: spooled, evaluates: evaluates,
        publicKey: key, now: now, commands: &commands)
    case .heartbeat(let worker, let running):
      heartbeat(worker, running: running, now: now, commands: &commands)
    case .result(let worker, let attempt, let outcome):
      result(worker, attempt: attempt, outcome: outcome, now: now, commands: &commands)
    case .checkpointShipped(let worker, let attempt, let checkpoint):
      checkpointShipped(checkpoint, of: attempt, from: worker, now: now, commands: &commands)
    case .workerGoodbye(let worker, let released):
      workerGoodbye(worker, released: released, commands: &commands)
    case .tick:
      tick(now: now, commands: &commands)
    case .cancel(let sweep):
      try cancel(sweep, commands: &commands)
    case .retryFailed(let sweep):
      try retryFailed(sweep, commands: &commands)
    case .releaseQuarantine(let worker):
      try releaseQuarantine(worker, commands: &commands)
    }
    assignPendingRuns(now: now, commands: &commands)
    assignAudits(now: now, commands: &commands)
    return commands
  }

  // MARK: Queries

  public func sweep(_ id: SweepID) -> SweepRecord? { sweeps[id] }
  public func run(_ id: RunID) -> RunRecord? { runs[id] }
  public func worker(_ id: WorkerID) -> WorkerRecord? { workers[id] }
  public func attempt(_ id: AttemptID) -> AttemptRecord? { attempts[id] }

  /// A run's attempts, first to last.
  public func attempts(of run: RunID) -> [AttemptRecord] {
    guard let record = runs[run], record.attemptCount > 0 else { return [] }
    return (1...record.attemptCount).compactMap { attempts[AttemptID(run: run, counted: $0)] }
  }

  /// The sweeps that contain `run`, in the order they were submitted.
  public func sweeps(containing run: RunID) -> [SweepID] {
    sweepsOfRun[run]?.map(\.sweep) ?? []
  }

  /// Whether `attempt` is its run's current attempt, leased to `worker`.
  public func holds(_ attempt: AttemptID, on worker: WorkerID) -> Bool {
    runs[attempt.run]?.state.lease.map { $0.attempt == attempt.number && $0.worker == worker } ?? false
  }

  /// The runs `worker` holds a lease on.
  public func runningAttempts(of worker: WorkerID) -> [AttemptID] {
    (runningByWorker[worker] ?? []).sorted().compactMap { run in
      runs[run]?.state.lease.map { AttemptID(run: run, counted: $0.attempt) }
    }
  }

  /// Every record, as `SweepStore` saves them: for tests and for writing a whole state at once.
  public func snapshot() -> SchedulerRecords {
    SchedulerRecords(
      sweeps: sweeps.values.sorted { $0.submitOrder < $1.submitOrder },
      runs: runs.values.sorted { $0.queueOrder < $1.queueOrder },
      attempts: attempts.values.sorted { ($0.id.run, $0.id.number) < ($1.id.run, $1.id.number) },
      workers: workers.values.sorted { $0.id < $1.id },
      duplicatesDiscarded: duplicatesDiscarded,
      audits: audits.values.sorted { $0.run < $1.run }, suspectResults: suspectRuns)
  }

  // MARK: Changes

  /// The records changed since the last call, as they are now, and the results to insert; then forgets
  /// them. Write them in one transaction before carrying out the event's commands.
  public mutating func takeChanges() -> SchedulerRecords {
    var changes = SchedulerRecords()
    changes.sweeps = changedSweeps.compactMap { id -> SweepRecord? in
      guard var sweep = sweeps[id] else { return nil }
      if !newSweeps.contains(id) { sweep.members = [] }
      return sweep
    }.sorted { $0.submitOrder < $1.submitOrder }
    changes.runs = changedRuns.compactMap { runs[$0] }.sorted { $0.queueOrder < $1.queueOrder }
    changes.attempts = changedAttempts.compactMap { attempts[$0] }
    changes.workers = changedWorkers.compactMap { workers[$0] }.sorted { $0.id < $1.id }
    changes.results = newResults
    changes.duplicatesDiscarded = duplicatesChanged ? duplicatesDiscarded : nil
    changes.audits = changedAudits.compactMap { audits[$0] }.sorted { $0.run < $1.run }
    changes.suspectResults = newSuspects
    changedSweeps = []
    newSweeps = []
    changedRuns = []
    changedAttempts = []
    changedAttemptSet = []
    changedWorkers = []
    newResults = []
    duplicatesChanged = false
    changedAudits = []
    newSuspects = [:]
    return changes
  }

  /// Whether some change has not been taken yet.
  public var hasChanges: Bool {
    !changedSweeps.isEmpty || !changedRuns.isEmpty || !changedAttempts.isEmpty || !changedWorkers.isEmpty
      || !newResults.isEmpty || duplicatesChanged || !changedAudits.isEmpty || !newSuspects.isEmpty
  }

  // MARK: Changing state
  //
  // Every change goes through these functions. `update(...)` marks the record for saving and keeps the
  // counters of `status` in step (`SchedulerTallies`); the two
  // below change only what is never saved (a restarted coordinator gives every worker a fresh
  // `lastSeen` and every lease a fresh deadline), so they mark nothing.

  /// A worker was heard from: its liveness clock restarts.
  mutating func heard(from workerID: WorkerID, at now: SchedulerInstant) {
    workers[workerID]?.lastSeen = now
  }

  /// A running attempt's lease moves to a new deadline (same attempt, same worker).
  mutating func extendLease(of runID: RunID, to lease: RunLease) {
    guard let current = runs[runID]?.state.lease, current.attempt == lease.attempt,
      current.worker == lease.worker
    else { return }
    runs[runID]?.state = .running(lease)
  }

  mutating func update(sweep: SweepRecord) {
    sweeps[sweep.id] = sweep
    changedSweeps.insert(sweep.id)
  }

  mutating func update(worker: WorkerRecord) {
    workers[worker.id] = worker
    changedWorkers.insert(worker.id)
    refreshSlots(of: worker.id)
  }

  mutating func update(attempt: AttemptRecord) {
    let old = attempts[attempt.id]?.outcome
    attempts[attempt.id] = attempt
    tally(attempt: attempt.id, outcome: old, becoming: attempt.outcome)
    if changedAttemptSet.insert(attempt.id).inserted { changedAttempts.append(attempt.id) }
  }

  /// Saves `run`, keeping the lease index and the queue in step with its state.
  mutating func update(run: RunRecord) {
    let previous = runs[run.id]
    if let old = runs[run.id]?.state.lease, old.worker != run.state.lease?.worker {
      runningByWorker[old.worker]?.remove(run.id)
      refreshSlots(of: old.worker)
    }
    if let lease = run.state.lease, runningByWorker[lease.worker, default: []].insert(run.id).inserted {
      refreshSlots(of: lease.worker)
    }
    runs[run.id] = run
    tally(run: previous, becoming: run)
    changedRuns.insert(run.id)
    if run.state == .pending { queue(run, revivingStage: true) }
  }

  /// Ends a run's current attempt with `outcome` and moves the run to `state`.
  mutating func endCurrentAttempt(of runID: RunID, outcome: AttemptOutcome, then state: RunState) {
    guard var run = runs[runID], let lease = run.state.lease else { return }
    let id = AttemptID(run: runID, counted: lease.attempt)
    unconfirmedAttempts.remove(id)
    if var attempt = attempts[id] {
      attempt.outcome = outcome
      update(attempt: attempt)
    }
    if outcome.isTrainerFailure { noteFailure(id) }
    run.state = state
    update(run: run)
  }

  mutating func noteFailure(_ attempt: AttemptID) {
    recentFailures.append(attempt)
    if recentFailures.count > configuration.recentFailureLimit {
      recentFailures.removeFirst(recentFailures.count - configuration.recentFailureLimit)
    }
  }

  // MARK: Assignment

  /// Pushes pending runs to workers with free slots until one or the other runs out; a run goes only
  /// to a worker that can evaluate it (`nextAssignment()`).
  mutating func assignPendingRuns(now: SchedulerInstant, commands: inout [SchedulerCommand]) {
    while let (runID, worker) = nextAssignment() {
      startAttempt(of: runID, on: worker, now: now, commands: &commands)
    }
  }

  /// The online, unquarantined worker with a free slot that is least loaded (running / slots); among
  /// equals, the one assigned to least recently, then by id. O(log W): see `FreeSlotIndex`.
  mutating func leastLoadedWorker() -> WorkerID? { freeSlots.best() }

  /// Puts `worker` in its place among the workers that can take a run, or out of them. Call after any
  /// change to its state, slots, quarantine, running runs or last assignment.
  mutating func refreshSlots(of worker: WorkerID) {
    guard let record = workers[worker], record.state == .online, !record.quarantined, record.slots > 0
    else {
      freeSlots.set(worker, nil)
      refreshFamilySlots(of: nil, worker, nil)
      return
    }
    let running = load(of: worker)
    let candidate =
      running < record.slots
      ? FreeSlotIndex.Candidate(
        running: running, slots: record.slots, lastAssignment: lastAssignment[worker] ?? -1) : nil
    freeSlots.set(worker, candidate)
    refreshFamilySlots(of: record, worker, candidate)
  }

  mutating func startAttempt(
    of runID: RunID, on worker: WorkerID, now: SchedulerInstant, commands: inout [SchedulerCommand]
  ) {
    guard var run = runs[runID] else { return }
    run.attemptCount += 1
    let attempt = AttemptID(run: runID, counted: run.attemptCount)
    let deadline = now + configuration.leaseDuration
    update(attempt: AttemptRecord(id: attempt, worker: worker))
    unconfirmedAttempts.insert(attempt)
    run.state = .running(RunLease(attempt: attempt.number, worker: worker, leaseDeadline: deadline))
    update(run: run)
    assignmentCount += 1
    lastAssignment[worker] = assignmentCount
    refreshSlots(of: worker)
    commands.append(
      .assign(assignment(of: run, attempt: attempt, to: worker, deadline: deadline, from: run.checkpoint)))
  }

  /// What `attempt` of `run` on `worker` is sent: the run's spec and oldest live sweep, and what it
  /// starts from: `checkpoint`, or without one its stage unit's end-of-BC checkpoint (none for a unit).
  func assignment(
    of run: RunRecord, attempt: AttemptID, to worker: WorkerID, deadline: SchedulerInstant,
    from checkpoint: RunCheckpoint?
  ) -> RunAssignment {
    let owner = liveSweep(of: run.id)
    return RunAssignment(
      worker: worker, attempt: attempt, leaseDeadline: deadline, spec: run.spec, datasetPath: run.datasetPath,
      sweep: owner?.sweep, pointID: owner?.pointID ?? "", checkpoint: checkpoint,
      initFrom: checkpoint == nil ? stageOutput(of: run.stage) : nil)
  }

  /// The oldest sweep containing `run` that is not cancelled (or the oldest of all), with the run's point.
  func liveSweep(of run: RunID) -> (sweep: SweepID, pointID: String)? {
    let owners = sweepsOfRun[run] ?? []
    return owners.first { sweeps[$0.sweep]?.cancelled == false } ?? owners.first
  }

  /// Whether some sweep containing `run` still wants it.
  func isWanted(_ run: RunID) -> Bool {
    (sweepsOfRun[run] ?? []).contains { sweeps[$0.sweep]?.cancelled == false }
  }
}
