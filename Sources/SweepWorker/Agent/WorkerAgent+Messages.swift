import Foundation
import Logging
import SweepWire
import TracCore

extension WorkerAgent {
  /// One message from the coordinator. Throws only for what must stop the worker (a protocol
  /// version mismatch); anything else malformed is logged, answered with `error`, and ignored.
  func handle(_ frames: [Data]) throws {
    connection.lastHeard = clock.now
    connection.reconnectDelay = configuration.reconnectDelay
    let message: WireMessage
    do {
      message = try WireMessage.decode(frames)
    } catch {
      if case .versionMismatch = error { throw WorkerAgentError.versionMismatch(error.description) }
      refuse(error)
      return
    }
    do {
      switch message.type {
      case .welcome: welcome(try message.decodeBody(Welcome.self))
      case .pong:
        if !(try message.decodeBody(Pong.self)).known {
          logger.notice("the coordinator does not know this worker (it restarted?); saying hello again")
          connection.welcomed = false
          sendHello()
        }
      case .assign: assign(try message.decodeBody(Assign.self))
      case .ack: acknowledge(try message.decodeBody(Ack.self))
      case .cancel:
        cancel(try message.decodeBody(Cancel.self).attempt, reason: "cancelled by the coordinator")
      case .chunk: chunk(try message.decodeBody(Chunk.self), attachments: message.attachments)
      case .error: try coordinatorError(try message.decodeBody(ErrorMessage.self))
      default:
        refuse(WireError.unknownType("\(message.type.rawValue) (not for a worker)"))
      }
    } catch let error as WireError {
      refuse(error)
    }
  }

  /// Logs a message refused and tells the coordinator why (it logs it and keeps serving).
  private func refuse(_ error: WireError) {
    logger.warning("refused a message from the coordinator: \(error)")
    send(WireMessage(.error, ErrorMessage(error)))
  }

  private func welcome(_ welcome: Welcome) {
    let first = !connection.everWelcomed
    connection.everWelcomed = true
    connection.heartbeatInterval = .milliseconds(max(welcome.heartbeatIntervalMilliseconds, 10))
    connection.liveness = max(welcome.liveness, 1)
    connection.welcomed = true
    connection.nextHeartbeat = clock.now + connection.heartbeatInterval
    logger.info(
      first ? "connected to the coordinator" : "welcomed by the coordinator",
      metadata: [
        "heartbeat_interval_ms": "\(welcome.heartbeatIntervalMilliseconds)",
        "liveness": "\(welcome.liveness)",
      ])
    for ref in welcome.cancel {
      cancel(ref, reason: "the coordinator no longer wants it")
    }
    // Every result the coordinator has not acknowledged, again (it may have restarted).
    for entry in spool.pending() { sendResult(entry.key) }
    // A fetch asked before this hello may have been lost with the old connection.
    for sha256 in fetches.keys.sorted() where fetches[sha256]!.requestedAt <= connection.helloSentAt {
      requestChunk(sha256)
    }
  }

  /// Acts on the error's code, never its text.
  private func coordinatorError(_ error: ErrorMessage) throws {
    logger.error("the coordinator refused a message: \(loggable(error.message)) (\(error.code))")
    if error.code == .versionMismatch { throw WorkerAgentError.versionMismatch(error.message) }
    // A fetch of a dataset the coordinator does not have (or will not send): its attempts cannot run.
    if error.code == .unknownDataset || error.code == .invalidInput,
      let subject = error.subject.flatMap(SHA256Digest.init(rawValue:)), fetches[subject] != nil
    {
      failFetch(subject, reason: "the coordinator refused to send it: \(error.message)")
    }
  }

  private func acknowledge(_ ack: Ack) {
    let key = ack.attempt
    if let rejected = ack.rejected {
      logger.error("result of \(key) not recorded: \(loggable(rejected))", metadata: ["run": "\(key.run)"])
    }
    unacknowledged.remove(key)
    var runLogger = logger
    runLogger[metadataKey: "run"] = "\(key.run)"
    do {
      let removed = try spool.acknowledge(key)
      runLogger.info(
        removed ? "result acknowledged" : "result acknowledged again",
        metadata: ["attempt": "\(key.number)", "duplicate": "\(ack.duplicate)"])
    } catch {
      runLogger.error("cannot delete the acknowledged result from the spool: \(error)")
    }
    if attempts[key] == nil, stopping[key] == nil {
      do { try runs.remove(key) } catch {
        runLogger.warning("cannot remove the attempt's directory: \(error)")
      }
    }
  }
}
