import Foundation
import TracCore

/// Where the coordinator is, so a user types it once: `--coordinator URL`, else
/// `$TRAC_SWEEP_COORDINATOR`, else `coordinator` in `~/.config/trac-sweep/config.json`, else
/// `tcp://127.0.0.1:5555`.
public enum CoordinatorAddress {
  public static let defaultURL = "tcp://127.0.0.1:5555"

  public static var configFile: URL {
    let base =
      ProcessInfo.processInfo.environment["XDG_CONFIG_HOME"].map { URL(fileURLWithPath: $0) }
      ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config")
    return base.appendingPathComponent("trac-sweep/config.json")
  }

  public static func resolve(_ option: String?) throws -> String {
    if let option { return try validated(option, source: "--coordinator") }
    if let value = ProcessInfo.processInfo.environment["TRAC_SWEEP_COORDINATOR"], !value.isEmpty {
      return try validated(value, source: "TRAC_SWEEP_COORDINATOR")
    }
    if let data = try? Data(contentsOf: configFile) {
      guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw AddressError("\(configFile.path) is not a JSON object")
      }
      if let value = object["coordinator"] as? String { return try validated(value, source: configFile.path) }
    }
    return defaultURL
  }

  /// A ZeroMQ endpoint a DEALER can connect to: `tcp://HOST:PORT` (or `ipc://PATH`).
  public static func validated(_ value: String, source: String) throws -> String {
    if value.hasPrefix("ipc://") { return value }
    guard value.hasPrefix("tcp://"), let colon = value.lastIndex(of: ":"),
      colon > value.index(value.startIndex, offsetBy: 6),
      let port = Int(value[value.index(after: colon)...]), (1...65535).contains(port)
    else {
      throw AddressError("\(source): '\(value)' is not a coordinator address like tcp://HOST:5555")
    }
    return value
  }

  public struct AddressError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
  }
}
