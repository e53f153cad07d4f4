import ArgumentParser
import Foundation
import SweepWire

/// `--coordinator URL`, shared by every client command; defaults from `$TRAC_SWEEP_COORDINATOR`
/// or `~/.config/trac-sweep/config.json`.
struct ClientOptions: ParsableArguments {
  @Option(
    help:
      "Coordinator address (default: $TRAC_SWEEP_COORDINATOR, ~/.config/trac-sweep/config.json, tcp://127.0.0.1:5555)."
  )
  var coordinator: String?

  @Option(help: "Seconds to wait for the coordinator's answer.") var timeout: Double = 10

  @Option(
    name: .customLong("curve-secret"),
    help:
      "This client's CURVE key file, for a secured coordinator (default: $TRAC_SWEEP_CURVE_SECRET, config.json)."
  )
  var curveSecret: String?
  @Option(
    name: .customLong("server-key"),
    help: "The coordinator's public key file (default: $TRAC_SWEEP_SERVER_KEY, config.json).")
  var serverKey: String?

  func validate() throws {
    do { _ = try CoordinatorAddress.resolve(coordinator) } catch { throw ValidationError("\(error)") }
    guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    do { _ = try CurveClientKeys.resolve(secret: curveSecret, serverKey: serverKey) } catch {
      throw ValidationError("\(error)")
    }
  }

  /// Sends one request; a refusal or an unreachable coordinator ends the command with its words.
  func call<Reply: Decodable>(
    _ request: ClientRequest, attachments: [Data] = [], expecting: Reply.Type
  ) throws -> Reply {
    let client = try RequestClient(
      endpoint: try CoordinatorAddress.resolve(coordinator),
      curve: try CurveClientKeys.resolve(secret: curveSecret, serverKey: serverKey))
    do {
      return try client.call(
        request, attachments: attachments, expecting: Reply.self, timeout: .milliseconds(Int(timeout * 1000)))
    } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }
}
