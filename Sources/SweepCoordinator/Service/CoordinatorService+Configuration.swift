import Foundation
import SweepWire
import TracCore

extension CoordinatorService {
  public struct Configuration: Sendable {
    public var bind: String
    public var stateDirectory: URL
    public var scheduler: SchedulerConfiguration
    /// A larger message closes its sender's connection before anything is allocated. Above the
    /// largest honest message: a dataset chunk is 4 MiB, a result carries one run's files.
    public var maxMessageSize: Int64
    /// CURVE: the coordinator's key pair and the directory of authorized `*.pub` keys. Nil: plaintext.
    public var curve: Curve?
    /// The directories a grid's dataset path may name on this machine (`--datasets`); any other
    /// dataset must be uploaded by the client. Default: the DSRL dataset directory.
    public var datasetDirectories: [URL]
    /// How much one peer, and all peers together, may leave unread (docs/PROTOCOL.md, "Flow control").
    public var flowControl: FlowControl

    public static let defaultMaxMessageSize: Int64 = 64 << 20

    /// The limits that keep one peer from stalling or bloating the coordinator.
    public struct FlowControl: Sendable {
      /// Bytes of replies queued for one peer and not yet taken by its connection; past this, its
      /// requests (and fetches) are answered `busy` until it reads.
      public var peerBytes: Int
      /// The same over every peer together.
      public var totalBytes: Int
      /// Requests and fetches one peer may have answered in one pass of the loop; the rest get `busy`.
      public var requestsPerPass: Int
      /// Messages libzmq queues for one peer before the next is dropped (ZMQ_SNDHWM), and receives from
      /// one peer before it stops reading that connection (ZMQ_RCVHWM).
      public var queuedMessages: Int32

      public static let `default` = FlowControl(
        peerBytes: 16 << 20, totalBytes: 512 << 20, requestsPerPass: 16, queuedMessages: 1000)

      public init(peerBytes: Int, totalBytes: Int, requestsPerPass: Int, queuedMessages: Int32) {
        self.peerBytes = peerBytes
        self.totalBytes = totalBytes
        self.requestsPerPass = requestsPerPass
        self.queuedMessages = queuedMessages
      }
    }

    public struct Curve: Sendable {
      public var pair: CurveKeyPair
      public var authorizedKeys: URL

      public init(pair: CurveKeyPair, authorizedKeys: URL) {
        self.pair = pair
        self.authorizedKeys = authorizedKeys
      }
    }

    public init(
      bind: String, stateDirectory: URL, scheduler: SchedulerConfiguration = .default,
      maxMessageSize: Int64 = Configuration.defaultMaxMessageSize, curve: Curve? = nil,
      datasetDirectories: [URL] = [DSRLDatasetDirectory.directory], flowControl: FlowControl = .default
    ) {
      self.datasetDirectories = datasetDirectories
      self.flowControl = flowControl
      self.bind = bind
      self.stateDirectory = stateDirectory
      self.scheduler = scheduler
      self.maxMessageSize = maxMessageSize
      self.curve = curve
    }
  }
}
