import Foundation
import TracCore

/// A worker's or client's CURVE keys: its own key pair (`--curve-secret FILE`) and the coordinator's
/// public key (`--server-key FILE`). Like the coordinator's address, each is taken from the option,
/// else `$TRAC_SWEEP_CURVE_SECRET` / `$TRAC_SWEEP_SERVER_KEY`, else `curve_secret` / `server_key` in
/// `~/.config/trac-sweep/config.json`. Neither anywhere: plaintext.
public struct CurveClientKeys: Sendable, Equatable {
  public let pair: CurveKeyPair
  public let serverKey: CurveKey

  public init(pair: CurveKeyPair, serverKey: CurveKey) {
    self.pair = pair
    self.serverKey = serverKey
  }

  /// The keys, read and checked, or nil when none is configured. One without the other, or a
  /// missing or malformed file, is an error naming it.
  public static func resolve(
    secret: String?, serverKey: String?,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(CurveKeyError) -> CurveClientKeys? {
    let secretSource = try source(
      option: secret, optionName: "--curve-secret", variable: "TRAC_SWEEP_CURVE_SECRET",
      field: "curve_secret", environment: environment)
    let serverSource = try source(
      option: serverKey, optionName: "--server-key", variable: "TRAC_SWEEP_SERVER_KEY", field: "server_key",
      environment: environment)
    switch (secretSource, serverSource) {
    case (nil, nil): return nil
    case (let secret?, nil):
      throw .incomplete(
        "\(secret.from) gives this side's key but not the coordinator's: add --server-key FILE"
          + " (the coordinator's .pub file)")
    case (nil, let server?):
      throw .incomplete(
        "\(server.from) gives the coordinator's key but not this side's: add --curve-secret FILE"
          + " (this worker's or client's .key file)")
    case (let secret?, let server?):
      guard CurveKeyPair.isAvailable else { throw .unavailable }
      let pair = try CurveKeyFile.readSecret(URL(fileURLWithPath: expandingTilde(secret.path)))
      let key = try CurveKeyFile.readPublic(URL(fileURLWithPath: expandingTilde(server.path)))
      return CurveClientKeys(pair: pair, serverKey: key)
    }
  }

  private static func source(
    option: String?, optionName: String, variable: String, field: String, environment: [String: String]
  ) throws(CurveKeyError) -> (path: String, from: String)? {
    if let option { return (option, optionName) }
    if let value = environment[variable], !value.isEmpty { return (value, variable) }
    let config = CoordinatorAddress.configFile
    guard let data = try? Data(contentsOf: config) else { return nil }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw .malformed(path: config.path, reason: "not a JSON object")
    }
    guard let value = object[field] else { return nil }
    guard let path = value as? String, !path.isEmpty else {
      throw .malformed(path: config.path, reason: "'\(field)' must be a file path")
    }
    return (path, "\(config.path) (\(field))")
  }

  private static func expandingTilde(_ path: String) -> String {
    guard path == "~" || path.hasPrefix("~/") else { return path }
    return FileManager.default.homeDirectoryForCurrentUser.path + path.dropFirst()
  }
}
