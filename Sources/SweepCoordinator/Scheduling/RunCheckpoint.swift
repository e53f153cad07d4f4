import TracCore

/// The newest checkpoint a run's attempts have shipped (docs/CHECKPOINTS.md): its content hash names
/// the file the coordinator keeps, and the next attempt, on any worker, resumes from it. The same type
/// as the wire's `checkpoint` and `init_from` objects, so nothing converts between them.
public typealias RunCheckpoint = CheckpointRef
