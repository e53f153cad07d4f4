import Foundation
import TracCore

/// The coordinator's secret that draws the results to audit (`SchedulerConfiguration.auditSalt`):
/// 32 random bytes, hex, in `audit-salt` in the state directory (mode 0600), made on first start and
/// kept, so a restarted coordinator draws the same results and no worker can predict the draw.
public enum AuditSalt {
  public static let fileName = "audit-salt"

  /// The salt of `stateDirectory`, made (and the directory with it) when missing.
  public static func load(stateDirectory: URL) throws -> String {
    let file = stateDirectory.appendingPathComponent(fileName)
    if let text = try? String(contentsOf: file, encoding: .utf8) {
      let salt = text.trimmingCharacters(in: .whitespacesAndNewlines)
      guard salt.count == 64, salt.allSatisfy(\.isHexDigit) else {
        throw CoordinatorError.corruptState(
          "\(file.path) is not 64 hexadecimal digits: restore it from a backup, or delete it to draw anew")
      }
      return salt
    }
    try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
    var generator = SystemRandomNumberGenerator()
    let salt = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator))
    }
    .joined()
    try AtomicFile.write(Data((salt + "\n").utf8), to: file)
    chmod(file.path, 0o600)
    return salt
  }
}
