import TracCore

/// Every message of the protocol, by who sends it (docs/PROTOCOL.md has each one's fields).
public enum MessageType: String, Codable, Sendable, CaseIterable {
  // worker -> coordinator
  case hello
  case heartbeat
  case result
  case goodbye
  case fetch
  case checkpoint
  // coordinator -> worker
  case welcome
  case pong
  case assign
  case ack
  case cancel
  case chunk
  // client -> coordinator, and its answer
  case request
  case reply
  // either way: a refusal of the last message, with the reason
  case error
}
