// The ZeroMQ transport and the protocol messages (docs/PROTOCOL.md).
