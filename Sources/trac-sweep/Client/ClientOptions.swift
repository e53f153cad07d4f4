import ArgumentParser
import Foundation
import SweepWire

/// `--coordinator URL` and the CURVE options, shared by every client command. The address defaults
/// from `$TRAC_SWEEP_COORDINATOR` or `~/.config/trac-sweep/config.json`.
struct ClientOptions: ParsableArguments {
  @Option(
    help:
      "Coordinator address (default: $TRAC_SWEEP_COORDINATOR, ~/.config/trac-sweep/config.json, tcp://127.0.0.1:5555)."
  )
  var coordinator: String?

  @Option(help: "Seconds to wait for the coordinator's answer.") var timeout: Double = 10

  @OptionGroup var curve: CurveClientOptions

  func validate() throws {
    do { _ = try CoordinatorAddress.resolve(coordinator) } catch { throw ValidationError("\(error)") }
    guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
  }

  /// Sends one request; a refusal or an unreachable coordinator ends the command with its words.
  /// `explain` may give a refusal's text more context (it returns nil to keep the coordinator's).
  func call<Reply: Decodable>(
    _ request: ClientRequest, attachments: [Data] = [], expecting: Reply.Type,
    explain: (ErrorMessage) -> String? = { _ in nil }
  ) throws -> Reply {
    let client = try RequestClient(
      endpoint: try CoordinatorAddress.resolve(coordinator),
      curve: try curve.keys())
    do {
      return try client.call(
        request, attachments: attachments, expecting: Reply.self, timeout: .milliseconds(Int(timeout * 1000)))
    } catch {
      var text = "\(error)"
      if case .refused(let refusal) = error, let explained = explain(refusal) { text = explained }
      FileHandle.standardError.write(Data("error: \(text)\n".utf8))
      throw ExitCode.failure
    }
  }
}
