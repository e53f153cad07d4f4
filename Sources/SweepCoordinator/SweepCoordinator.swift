// The coordinator: scheduling state machine (pure, clock injected) and the SQLite store.
