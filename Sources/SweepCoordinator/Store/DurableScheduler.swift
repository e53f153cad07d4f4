import Foundation
import TracCore

/// A `Scheduler` whose every change is committed to a `SweepStore` before the event's commands are
/// returned: the I/O layer can carry them out (acknowledge a result, above all) knowing the state they
/// depend on survives a crash (nothing finished is lost). Safe to call from any thread; events are handled
/// one at a time.
///
/// If a commit fails, the scheduler is rebuilt from what the database holds, so that memory never runs
/// ahead of the disk, and the error is thrown: the event did not happen, and its sender will try again
/// (a worker keeps its result until acknowledged).
public final class DurableScheduler: @unchecked Sendable {
  public let store: SweepStore
  private let lock = NSLock()
  private var scheduler: Scheduler
  /// `store.sweepSubmissionDates()`, read once and again only after a commit wrote a sweep it lacks:
  /// the dates change only when a sweep is first submitted, and `status` must not query per poll.
  private var submissionDates: [SweepID: Date]?

  /// Loads the store's state, as a restarted coordinator sees it at `now`.
  public init(
    store: SweepStore, configuration: SchedulerConfiguration = .default, now: SchedulerInstant
  ) throws(CoordinatorError) {
    self.store = store
    var scheduler = try store.loadScheduler(configuration: configuration, now: now)
    try store.save(scheduler.takeChanges())
    self.scheduler = scheduler
  }

  /// Handles `event`, commits its changes in one transaction, and returns the commands to carry out.
  /// With `commit: false` the changes wait for `commit()`: a busy coordinator handles every message
  /// it has in hand, commits once, and only then carries out the commands (group commit).
  public func handle(_ event: SchedulerEvent, now: SchedulerInstant, commit: Bool = true)
    throws(CoordinatorError)
    -> [SchedulerCommand]
  {
    lock.lock()
    defer { lock.unlock() }
    let commands = try scheduler.handle(event, now: now)
    if commit { try saveChanges(now: now) }
    return commands
  }

  /// Commits every change since the last commit in one transaction.
  public func commit(now: SchedulerInstant) throws(CoordinatorError) {
    lock.lock()
    defer { lock.unlock() }
    try saveChanges(now: now)
  }

  private func saveChanges(now: SchedulerInstant) throws(CoordinatorError) {
    let changes = scheduler.takeChanges()
    do {
      try store.save(changes)
      if let dates = submissionDates, changes.sweeps.contains(where: { dates[$0.id] == nil }) {
        submissionDates = nil
      }
    } catch {
      // A failed reload leaves the scheduler ahead of the disk; every later commit would fail alike,
      // and the coordinator, which cannot acknowledge anything any more, should stop.
      if let committed = try? store.loadScheduler(configuration: scheduler.configuration, now: now) {
        scheduler = committed
      }
      throw error
    }
  }

  /// A copy of the scheduler as it is now.
  public var current: Scheduler {
    lock.lock()
    defer { lock.unlock() }
    return scheduler
  }

  /// Reads the scheduler in place. Unlike `current`, this never copies it, so the next event does
  /// not have to copy every table before changing one row.
  public func read<Result>(_ body: (borrowing Scheduler) -> Result) -> Result {
    lock.lock()
    defer { lock.unlock() }
    return body(scheduler)
  }

  /// When each committed sweep was first submitted (`SweepStore.sweepSubmissionDates()`), from memory
  /// except after a commit that wrote a new sweep.
  public func sweepSubmissionDates() throws(CoordinatorError) -> [SweepID: Date] {
    lock.lock()
    defer { lock.unlock() }
    if let submissionDates { return submissionDates }
    let dates = try store.sweepSubmissionDates()
    submissionDates = dates
    return dates
  }

  public func status() -> SchedulerStatus {
    lock.lock()
    defer { lock.unlock() }
    return scheduler.status()
  }
}
