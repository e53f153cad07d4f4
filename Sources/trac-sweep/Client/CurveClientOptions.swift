import ArgumentParser
import SweepWire

/// `--curve-secret` and `--server-key`: the keys of a worker or a client of a secured coordinator,
/// shared by `worker` and every client command. Each defaults to `$TRAC_SWEEP_CURVE_SECRET` and
/// `$TRAC_SWEEP_SERVER_KEY`, then `~/.config/trac-sweep/config.json`.
struct CurveClientOptions: ParsableArguments {
  @Option(
    name: .customLong("curve-secret"),
    help:
      "This machine's CURVE key file, for a secured coordinator (default: $TRAC_SWEEP_CURVE_SECRET, config.json)."
  )
  var curveSecret: String?
  @Option(
    name: .customLong("server-key"),
    help: "The coordinator's public key file (default: $TRAC_SWEEP_SERVER_KEY, config.json).")
  var serverKey: String?

  func validate() throws {
    do { _ = try keys() } catch { throw ValidationError("\(error)") }
  }

  /// The keys to connect with, or nil for a coordinator without CURVE.
  func keys() throws -> CurveClientKeys? {
    try CurveClientKeys.resolve(secret: curveSecret, serverKey: serverKey)
  }
}
