import SweepWire
import TracCore

extension WorkerStateMachine {
  /// What the worker announces in `hello` and the timings of its decisions. `WorkerAgent.Configuration`
  /// keeps the one copy; the machine's `Configuration` adds the worker id.
  public struct Settings: Sendable {
    public var host: String
    public var slots: Int
    public var trainerVersion: String
    /// On a stop request, how long running attempts may take to finish before they are handed back.
    public var grace: Duration
    /// After SIGTERM to a trainer (cancel, hand-back), how long before SIGKILL.
    public var terminationGrace: Duration
    /// After `goodbye`, how long to wait for acknowledgements of results already sent.
    public var acknowledgementWait: Duration
    /// How long a new attempt waits for an older attempt of its run (killed) to exit before it
    /// takes the run's directory anyway.
    public var predecessorWait: Duration
    /// The heartbeat contract until the coordinator's `welcome` gives its own.
    public var heartbeatInterval: Duration
    public var liveness: Int
    /// Reconnection delays: the first one, doubled after every failed try up to the maximum.
    public var reconnectDelay: Duration
    public var maxReconnectDelay: Duration
    /// Whether the connection uses CURVE (only for the hint when the coordinator never answers).
    public var usesCurve: Bool
    /// The coordinator's address, e.g. `tcp://head-node:5555`.
    public var endpoint: String
    /// How often a training attempt's newest checkpoint is sent to the coordinator (also when the
    /// attempt is handed back). Nil: never.
    public var checkpointShipInterval: Duration?
    /// The task families this worker evaluates, announced in `hello` (`[]`: train-only runs); nil
    /// announces nothing (the coordinator then assumes BulletGym).
    public var evaluates: [TaskFamily]? = nil
    /// The BLAS kernel its trainers use and how it was chosen, for the start line and `hello` (shown by
    /// `status`; at most 200 characters there). Nil: as the library chooses, not announced.
    public var blas: String? = nil
    /// With CURVE, this worker's public key (Z85): a `key_mismatch` naming it stops the worker.
    public var publicKey: String? = nil

    public init(
      host: String, slots: Int, trainerVersion: String, grace: Duration = .seconds(10),
      terminationGrace: Duration = .seconds(5), acknowledgementWait: Duration = .seconds(2),
      predecessorWait: Duration = .seconds(2), heartbeatInterval: Duration = .seconds(1),
      liveness: Int = 3,
      reconnectDelay: Duration = .milliseconds(100), maxReconnectDelay: Duration = .seconds(10),
      usesCurve: Bool = false, endpoint: String = "the coordinator's address",
      checkpointShipInterval: Duration? = .seconds(300)
    ) {
      self.host = host
      self.slots = slots
      self.trainerVersion = trainerVersion
      self.grace = grace
      self.terminationGrace = terminationGrace
      self.acknowledgementWait = acknowledgementWait
      self.predecessorWait = predecessorWait
      self.heartbeatInterval = heartbeatInterval
      self.liveness = liveness
      self.reconnectDelay = reconnectDelay
      self.maxReconnectDelay = maxReconnectDelay
      self.usesCurve = usesCurve
      self.endpoint = endpoint
      self.checkpointShipInterval = checkpointShipInterval
    }
  }

  /// The settings and this worker's id; `configuration.grace` and the like read the settings.
  @dynamicMemberLookup
  public struct Configuration: Sendable {
    public var workerID: WorkerID
    public var settings: Settings

    public init(workerID: WorkerID, settings: Settings) {
      self.workerID = workerID
      self.settings = settings
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<Settings, Value>) -> Value {
      get { settings[keyPath: keyPath] }
      set { settings[keyPath: keyPath] = newValue }
    }
  }
}
