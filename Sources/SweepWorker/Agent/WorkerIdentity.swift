import Foundation
import TracCore

/// The worker's id (PROTOCOL.md section 3): `<host>-<8 hex digits>`, chosen once and kept in
/// `WORKDIR/worker-id`, so a restarted worker process is the same worker. It is also the routing id
/// of the worker's DEALER socket, so a reconnecting worker takes over its old routing entry.
public enum WorkerIdentity {
  public static let fileName = "worker-id"

  /// Reads the id kept in `workDirectory`, or makes one and keeps it there.
  public static func load(workDirectory: URL, host: String = ProcessInfo.processInfo.hostName) throws
    -> WorkerID
  {
    let url = workDirectory.appendingPathComponent(fileName)
    if let data = FileManager.default.contents(atPath: url.path) {
      let id = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      guard let valid = WorkerID(rawValue: id) else {
        throw WorkerAgentError.invalidWorkerID(path: url.path, content: id)
      }
      return valid
    }
    try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    let id = make(host: host)
    try Data((id.rawValue + "\n").utf8).write(to: url, options: .atomic)
    return id
  }

  /// A new id: the first label of the host name (letters, digits and '-' only), then 8 random hex digits.
  public static func make(host: String) -> WorkerID {
    let label = host.split(separator: ".").first.map(String.init) ?? ""
    let cleaned = String(
      label.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") }
        .map(Character.init)
    ).prefix(64)
    let trimmed = String(cleaned.drop { $0 == "-" })
    let prefix = trimmed.isEmpty ? "worker" : trimmed.lowercased()
    let random = (0..<4).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    return WorkerID(checked: "\(prefix)-\(random)")
  }
}
