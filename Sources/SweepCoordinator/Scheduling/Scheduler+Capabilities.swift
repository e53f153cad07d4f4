import TracCore

// Which worker can take which run: a run that evaluates its policy needs a worker that evaluates its
// task's family (the worker announces the families in `hello`); a run with no evaluation episodes
// goes to any worker. Pending runs wait in one queue per need, and the workers with a free slot are
// indexed per family they evaluate, so that a run nobody online can take costs nothing per event.
extension Scheduler {
  /// The task family whose evaluator `spec` needs, or nil when it asks for no evaluation episodes.
  /// A task this version does not know (it could not have been submitted) counts as BulletGym.
  static func evaluationNeed(of spec: RunSpec) -> TaskFamily? {
    guard spec.evalEpisodes > 0 else { return nil }
    return familyOfTask[spec.task] ?? .bulletGym
  }

  /// Every task's family by its DSRL id and its simulator id.
  static let familyOfTask: [String: TaskFamily] = {
    var families: [String: TaskFamily] = [:]
    for task in TaskInfo.all {
      families[task.dsrlID] = task.family
      families[task.simulatorID] = task.family
    }
    return families
  }()

  /// Queues a pending run in the queue of what it needs.
  mutating func enqueue(_ run: RunRecord) {
    if let family = Self.evaluationNeed(of: run.spec) {
      pendingByFamily[family, default: PendingQueue()].push(run.id, queueOrder: run.queueOrder)
    } else {
      pending.push(run.id, queueOrder: run.queueOrder)
    }
  }

  /// The oldest pending run some worker with a free slot can take, with that worker (the least loaded
  /// of those that can take it); removed from its queue. Nil when no worker can take any pending run.
  mutating func nextAssignment() -> (run: RunID, worker: WorkerID)? {
    // No free slot anywhere: nothing to look at (the common case while a big queue drains).
    guard freeSlots.best() != nil else { return nil }
    let runs = self.runs
    let isPending = { (run: RunID) in runs[run]?.state == .pending }
    var best: (family: TaskFamily?, order: Int, worker: WorkerID)?
    if let worker = freeSlots.best(), let order = pending.firstOrder(where: isPending) {
      best = (nil, order, worker)
    }
    for family in TaskFamily.allCases {
      guard pendingByFamily[family]?.isEmpty == false, let worker = freeSlotsByFamily[family]?.best(),
        let order = pendingByFamily[family]?.firstOrder(where: isPending)
      else { continue }
      if best == nil || order < best!.order { best = (family, order, worker) }
    }
    guard let best else { return nil }
    let run: RunID?
    if let family = best.family {
      run = pendingByFamily[family]?.pop()
    } else {
      run = pending.pop()
    }
    return run.map { ($0, best.worker) }
  }

  /// Puts `record` in the free-slot index of every family it evaluates (`candidate`), and out of the
  /// others.
  mutating func refreshFamilySlots(
    of record: WorkerRecord?, _ worker: WorkerID, _ candidate: FreeSlotIndex.Candidate?
  ) {
    for family in TaskFamily.allCases {
      let evaluates = record?.evaluates.contains(family) ?? false
      if !evaluates && freeSlotsByFamily[family] == nil { continue }
      freeSlotsByFamily[family, default: FreeSlotIndex()].set(worker, evaluates ? candidate : nil)
    }
  }

  /// Pending runs no online, unquarantined worker can take, by the family they need, with the reason
  /// `status` shows: O(workers), the pending runs counted by the write paths
  /// (`SchedulerTallies.pendingNeeding`). Runs waiting for their stage unit count too: they will need
  /// the evaluator as much.
  func waitingRuns() -> [WaitingRuns] {
    guard tallies.pendingNeeding.values.contains(where: { $0 > 0 }) else { return [] }
    var available: Set<TaskFamily> = []
    var quarantined: Set<TaskFamily> = []
    for worker in workers.values where worker.state == .online && worker.slots > 0 {
      if worker.quarantined {
        quarantined.formUnion(worker.evaluates)
      } else {
        available.formUnion(worker.evaluates)
      }
    }
    return TaskFamily.allCases.compactMap { family in
      guard let count = tallies.pendingNeeding[family], count > 0, !available.contains(family) else {
        return nil
      }
      return WaitingRuns(family: family, runs: count, onlyQuarantinedCan: quarantined.contains(family))
    }
  }

  // MARK: Keys

  /// Binds `worker` to `publicKey` (its first key stays) and, with CURVE, makes it share its key's
  /// quarantine: a worker id registered by a quarantined key's holder is quarantined too.
  mutating func bindKey(
    _ worker: inout WorkerRecord, to publicKey: String?, commands: inout [SchedulerCommand]
  ) {
    guard let publicKey else { return }
    if worker.publicKey == nil {
      worker.publicKey = publicKey
      workersByKey[publicKey, default: []].insert(worker.id)
    }
    guard let key = worker.publicKey, !worker.quarantined else { return }
    let quarantinedSibling = (workersByKey[key] ?? []).sorted().first {
      $0 != worker.id && workers[$0]?.quarantined == true
    }
    if let quarantinedSibling {
      worker.quarantined = true
      commands.append(
        .log(
          level: .error,
          message:
            "worker \(worker.id) quarantined: its CURVE key is that of quarantined worker \(quarantinedSibling); "
            + "it gets no new work until released"))
    }
  }

  /// Quarantine follows the CURVE key: `worker`'s key's other worker ids are quarantined with it.
  mutating func quarantineSiblings(of worker: WorkerRecord, commands: inout [SchedulerCommand]) {
    for sibling in siblings(of: worker) {
      guard var other = workers[sibling], !other.quarantined else { continue }
      other.quarantined = true
      update(worker: other)
      commands.append(
        .log(
          level: .error,
          message: "worker \(sibling) quarantined with \(worker.id): the same CURVE key"))
    }
  }

  /// The other worker ids registered with `worker`'s key (none without CURVE).
  func siblings(of worker: WorkerRecord) -> [WorkerID] {
    guard let key = worker.publicKey else { return [] }
    return (workersByKey[key] ?? []).filter { $0 != worker.id }.sorted()
  }
}

/// Pending runs no online worker can take: their evaluation needs `family`.
public struct WaitingRuns: Equatable, Sendable {
  public var family: TaskFamily
  public var runs: Int
  /// Some online worker evaluates the family, but every such worker is quarantined.
  public var onlyQuarantinedCan: Bool

  public init(family: TaskFamily, runs: Int, onlyQuarantinedCan: Bool = false) {
    self.family = family
    self.runs = runs
    self.onlyQuarantinedCan = onlyQuarantinedCan
  }

  /// "3 runs need a worker that evaluates safety_gymnasium; no online worker does"
  public var reason: String {
    "\(runs) run\(runs == 1 ? "" : "s") need\(runs == 1 ? "s" : "") a worker that evaluates \(family.rawValue); "
      + (onlyQuarantinedCan ? "the online workers that do are quarantined" : "no online worker does")
  }
}
