import SweepWire

/// The worker's link to the coordinator (docs/PROTOCOL.md section 6): the socket, `hello`, the heartbeat
/// contract `welcome` gives, liveness, and reconnection with a doubling delay. Pure: the parent
/// (`WorkerStateMachine`) feeds it and turns what it answers into actions.
public struct LinkMachine: Sendable {
  public enum State: Equatable, Sendable {
    /// `connect` is under way (or the loop has not started).
    case connecting
    /// No socket: a new one is asked for at this time.
    case waiting(reconnectAt: WorkerInstant)
    /// The socket is open and `hello` went out.
    case connected(Connected)
  }

  public struct Connected: Equatable, Sendable {
    /// Whether `welcome` answered the last `hello`: only then do heartbeats go out.
    public var welcomed = false
    public var lastHeard: WorkerInstant
    public var helloSentAt: WorkerInstant
    public var nextHeartbeat: WorkerInstant
  }

  /// What is due at a tick.
  public enum Due: Equatable, Sendable {
    case nothing
    case connect
    case heartbeat
    /// Nothing heard for longer than liveness allows: drop the socket.
    case silence(Duration, welcomed: Bool)
  }

  public private(set) var state = State.connecting
  /// Whether any `welcome` came since the worker started (the silence is then "lost", not "never").
  public private(set) var everWelcomed = false
  public private(set) var heartbeatInterval: Duration
  public private(set) var liveness: Int
  /// The delay before the next reconnection: doubled after every try, reset by any message.
  public private(set) var reconnectDelay: Duration
  let firstReconnectDelay: Duration
  let maxReconnectDelay: Duration

  public init(
    heartbeatInterval: Duration, liveness: Int, reconnectDelay: Duration, maxReconnectDelay: Duration
  ) {
    self.heartbeatInterval = heartbeatInterval
    self.liveness = liveness
    self.reconnectDelay = reconnectDelay
    firstReconnectDelay = reconnectDelay
    self.maxReconnectDelay = maxReconnectDelay
  }

  public var isConnected: Bool { if case .connected = state { true } else { false } }
  public var isWelcomed: Bool { if case .connected(let link) = state { link.welcomed } else { false } }
  /// When the current connection's `hello` went out (nil: not connected).
  public var helloSentAt: WorkerInstant? {
    if case .connected(let link) = state { link.helloSentAt } else { nil }
  }
  public var silenceLimit: Duration { heartbeatInterval * liveness }

  public var nextDeadline: WorkerInstant? {
    switch state {
    case .connecting: nil
    case .waiting(let reconnectAt): reconnectAt
    case .connected(let link):
      link.welcomed ? min(link.nextHeartbeat, link.lastHeard + silenceLimit) : link.lastHeard + silenceLimit
    }
  }

  /// The loop starts, or a reconnection is due: `connect` is under way.
  public mutating func connect() { state = .connecting }

  /// The socket is open; `hello` goes out now.
  public mutating func connected(now: WorkerInstant) {
    state = .connected(Connected(lastHeard: now, helloSentAt: now, nextHeartbeat: now))
  }

  /// The socket could not be opened or is gone: the next try is after the current delay, which doubles.
  /// Returns the delay.
  public mutating func disconnected(now: WorkerInstant) -> Duration {
    let delay = reconnectDelay
    state = .waiting(reconnectAt: now + delay)
    reconnectDelay = min(delay * 2, maxReconnectDelay)
    return delay
  }

  /// `hello` went out again on the open socket (the coordinator forgot this worker).
  public mutating func helloSent(now: WorkerInstant) {
    guard case .connected(var link) = state else { return }
    link.helloSentAt = now
    link.welcomed = false
    state = .connected(link)
  }

  /// Any message from the coordinator, even one refused: it is alive.
  public mutating func heard(now: WorkerInstant) {
    reconnectDelay = firstReconnectDelay
    guard case .connected(var link) = state else { return }
    link.lastHeard = now
    state = .connected(link)
  }

  /// `welcome`: its heartbeat contract holds from now. Returns whether it is the first since the worker
  /// started, nil when there is no connection to welcome.
  public mutating func welcomed(_ welcome: Welcome, now: WorkerInstant) -> (
    first: Bool, helloSentAt: WorkerInstant
  )? {
    guard case .connected(var link) = state else { return nil }
    let first = !everWelcomed
    everWelcomed = true
    heartbeatInterval = .milliseconds(max(welcome.heartbeatIntervalMilliseconds, 10))
    liveness = max(welcome.liveness, 1)
    link.welcomed = true
    link.nextHeartbeat = now + heartbeatInterval
    state = .connected(link)
    return (first, link.helloSentAt)
  }

  /// What is due at `now`; `mayConnect` false once the worker is finished.
  public mutating func tick(now: WorkerInstant, mayConnect: Bool) -> Due {
    switch state {
    case .connecting:
      return .nothing
    case .waiting(let reconnectAt):
      guard mayConnect, now >= reconnectAt else { return .nothing }
      state = .connecting
      return .connect
    case .connected(var link):
      let silence = now - link.lastHeard
      if silence > silenceLimit { return .silence(silence, welcomed: link.welcomed) }
      guard link.welcomed, now >= link.nextHeartbeat else { return .nothing }
      link.nextHeartbeat = now + heartbeatInterval
      state = .connected(link)
      return .heartbeat
    }
  }
}
