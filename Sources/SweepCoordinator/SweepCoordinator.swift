import TracCore
// The coordinator: scheduling state machine (pure, clock injected) and the SQLite store.
//
// `Scheduling/` holds `Scheduler`, a value that owns sweeps, runs, attempts and workers and changes only
// through `Scheduler.handle(_:now:)`: no I/O, no clock reads, no threads. Each event returns the
// `SchedulerCommand`s the I/O layer must carry out; the rows the event touched are collected and taken
// with `Scheduler.takeChanges()`. `Store/` holds `SweepStore` (SQLite in WAL mode through GRDB), which
// writes those rows in one transaction and loads them back into a fresh `Scheduler` on restart, and
// `DurableScheduler`, which ties the two together so that a command (an acknowledgement above all) is
// only ever returned after the state it depends on is committed.
