import Foundation

/// A `Scheduler` whose every change is committed to a `SweepStore` before the event's commands are
/// returned: the I/O layer can carry them out (acknowledge a result, above all) knowing the state they
/// depend on survives a crash (DESIGN.md guarantee 2). Safe to call from any thread; events are handled
/// one at a time.
///
/// If a commit fails, the scheduler is rebuilt from what the database holds, so that memory never runs
/// ahead of the disk, and the error is thrown: the event did not happen, and its sender will try again
/// (a worker keeps its result until acknowledged).
public final class DurableScheduler: @unchecked Sendable {
  public let store: SweepStore
  private let lock = NSLock()
  private var scheduler: Scheduler

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
  public func handle(_ event: SchedulerEvent, now: SchedulerInstant) throws(CoordinatorError)
    -> [SchedulerCommand]
  {
    lock.lock()
    defer { lock.unlock() }
    let commands = try scheduler.handle(event, now: now)
    let changes = scheduler.takeChanges()
    do {
      try store.save(changes)
    } catch {
      // A failed reload leaves the scheduler ahead of the disk; every later commit would fail alike,
      // and the coordinator, which cannot acknowledge anything any more, should stop.
      if let committed = try? store.loadScheduler(configuration: scheduler.configuration, now: now) {
        scheduler = committed
      }
      throw error
    }
    return commands
  }

  /// A copy of the scheduler as it is now.
  public var current: Scheduler {
    lock.lock()
    defer { lock.unlock() }
    return scheduler
  }

  public func status() -> SchedulerStatus {
    lock.lock()
    defer { lock.unlock() }
    return scheduler.status()
  }
}
