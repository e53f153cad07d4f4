import Foundation
import Hummingbird
import Logging
import SweepWire
import TracCore

/// `trac-sweep dashboard`: a read-only web view of a coordinator, a client of it like `status`.
/// A feed (`CoordinatorFeed`, a service of the application) polls the coordinator; the Hummingbird
/// application answers browsers and Prometheus from what it last read, so the coordinator never sees more
/// than one steady client.
public final class Dashboard: Sendable {
  public struct Configuration: Sendable {
    public var listen: ListenAddress
    /// Required unless `listen` is a loopback address: every request must present it.
    public var token: String?
    public var feed: CoordinatorFeed.Options
    /// Copies of the coordinator's `artifacts` folder, for run files when the policy path given by the
    /// coordinator is not readable here (as `trac-sweep report --artifacts`).
    public var artifacts: [URL]

    public init(
      listen: ListenAddress, token: String?, feed: CoordinatorFeed.Options, artifacts: [URL] = []
    ) throws(DashboardError) {
      if let token {
        guard token.count >= Self.minimumTokenLength, !token.contains(where: \.isWhitespace) else {
          throw DashboardError(
            "the token must be at least \(Self.minimumTokenLength) characters without spaces"
              + " (e.g. from: openssl rand -hex 24)")
        }
      } else if !listen.isLoopback {
        throw DashboardError(
          "listening on \(listen) reaches beyond this machine: give --token or --token-file (every request"
            + " must then present it), or listen on 127.0.0.1 and use an ssh tunnel"
            + " (ssh -L 8080:127.0.0.1:8080 HEAD)")
      }
      self.listen = listen
      self.token = token
      self.feed = feed
      self.artifacts = artifacts
    }

    public static let minimumTokenLength = 16
  }

  public let configuration: Configuration
  public let feed: CoordinatorFeed
  let logger: Logger

  /// `feed` defaults to one polling the coordinator named by the configuration.
  public init(
    configuration: Configuration, feed: CoordinatorFeed? = nil,
    logger: Logger = Logger(label: "trac-sweep.dashboard")
  ) {
    self.configuration = configuration
    self.logger = logger
    self.feed = feed ?? CoordinatorFeed(options: configuration.feed, logger: logger)
  }

  /// Every route, grouped by concern, behind the access rules (`AccessMiddleware`).
  public func router() -> Router<BasicRequestContext> {
    let views = DashboardViews(
      feed: feed, coordinator: configuration.feed.endpoint, artifacts: configuration.artifacts)
    let router = Router()
    router.add(middleware: AccessMiddleware<BasicRequestContext>(token: configuration.token))
    router.addRoutes(PageRoutes(views: views).routes)
    router.addRoutes(APIRoutes(views: views).routes)
    router.addRoutes(MetricsRoutes(feed: feed).routes)
    router.addRoutes(RunFileRoutes(views: views).routes)
    return router
  }

  /// The server on `configuration.listen`, with the feed in its service group: the application's
  /// shutdown stops the feed. `onListening` gets the port bound (the one chosen for port 0).
  public func application(
    onListening: @escaping @Sendable (Int) async -> Void = { _ in }
  ) -> some ApplicationProtocol {
    let listen = configuration.listen
    return Application(
      router: router(),
      configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: nil),
      services: [feed],
      onServerRunning: { channel in
        await onListening(channel.localAddress?.port ?? listen.port)
      },
      logger: logger)
  }

  /// Serves until cancelled (or, with `handleSignals`, until SIGTERM or SIGINT).
  public func run(
    handleSignals: Bool = false, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
  ) async throws {
    try await application(onListening: onListening).runService(
      gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [])
  }
}

public struct DashboardError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
