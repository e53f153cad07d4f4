import ArgumentParser
import Dispatch
import Foundation
import Logging
import SweepDashboard
import SweepWire

struct DashboardCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dashboard",
    abstract:
      "A read-only web dashboard of the coordinator: sweeps, workers, failures, live reports, /metrics.",
    discussion: """
      A client of the coordinator like `status`: it asks the coordinator once a second and serves \
      browsers and Prometheus (GET /metrics) from the answers. Pages update by themselves and load \
      nothing from other servers (docs/DASHBOARD.md).

      It listens on 127.0.0.1 unless told otherwise; any other address needs --token or --token-file, \
      and every request must then present the token (Authorization: Bearer TOKEN, or ?token=TOKEN in \
      the address). From a laptop, tunnel instead: ssh -L 8080:127.0.0.1:8080 HEAD, then open \
      http://127.0.0.1:8080/.

      Example:
        trac-sweep dashboard --coordinator tcp://head:5555 --listen 127.0.0.1:8080
      """)

  @Option(help: "Where to listen for browsers, HOST:PORT (anything but loopback needs a token).")
  var listen: String = ListenAddress.default.description
  @Option(help: "The token every request must present (visible in `ps`: prefer --token-file).") var token:
    String?
  @Option(name: .customLong("token-file"), help: "A file holding the token (its first line).") var tokenFile:
    String?
  @Option(
    help: ArgumentHelp(
      "A copy of the coordinator's artifacts folder, for run files the coordinator's paths do not reach here.",
      valueName: "dir"))
  var artifacts: [String] = []
  @Option(help: "Seconds between two polls of the coordinator.") var interval: Double = 1
  @OptionGroup var client: ClientOptions

  func validate() throws {
    guard token == nil || tokenFile == nil else {
      throw ValidationError("give --token or --token-file, not both")
    }
    guard interval.isFinite, interval >= 0.1 else {
      throw ValidationError("--interval must be at least 0.1 seconds")
    }
    do { _ = try configuration() } catch { throw ValidationError("\(error)") }
  }

  func configuration() throws -> Dashboard.Configuration {
    var secret = token
    if let tokenFile {
      guard let data = FileManager.default.contents(atPath: tokenFile) else {
        throw DashboardError("--token-file \(tokenFile): cannot read it")
      }
      secret =
        String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first
        .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
    return try Dashboard.Configuration(
      listen: try ListenAddress(parsing: listen), token: secret,
      feed: .init(
        endpoint: try CoordinatorAddress.resolve(client.coordinator),
        curve: try client.curve.keys(),
        interval: interval, timeout: client.timeout),
      artifacts: artifacts.map { URL(fileURLWithPath: $0) })
  }

  func run() throws {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    var logger = Logger(label: "trac-sweep.dashboard")
    logger.logLevel = .notice
    let dashboard = Dashboard(configuration: try configuration(), logger: logger)
    let host = dashboard.configuration.listen.host
    let display = host.contains(":") ? "[\(host)]" : host
    let failure = Failure()
    let done = DispatchSemaphore(value: 0)
    Task {
      do {
        try await dashboard.run(handleSignals: true) { port in
          FileHandle.standardError.write(
            Data(
              "dashboard listening on http://\(display):\(port)/ (coordinator \(dashboard.feed.options.endpoint))\n"
                .utf8))
        }
      } catch {
        failure.message = "\(error)"
      }
      done.signal()
    }
    done.wait()
    if let message = failure.message {
      FileHandle.standardError.write(
        Data("error: the dashboard on \(dashboard.configuration.listen) stopped: \(message)\n".utf8))
      throw ExitCode.failure
    }
  }

  private final class Failure: @unchecked Sendable {
    var message: String?
  }
}
