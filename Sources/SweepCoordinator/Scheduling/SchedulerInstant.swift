import TracCore

/// A point in the scheduler's time: the time elapsed since an arbitrary epoch fixed by whoever drives the
/// scheduler (the coordinator: the start of the process on `ContinuousClock`; tests: a manual clock). Only
/// differences and comparisons within one process's life mean anything; nothing persists an instant.
public typealias SchedulerInstant = Duration
