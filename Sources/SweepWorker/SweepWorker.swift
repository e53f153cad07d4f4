import TracCore

// The worker agent: connection, heartbeats, child trainer processes, the result spool.
