import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// A fresh directory under the system's temporary directory, removed by the test's teardown.
func makeScratchDirectory(_ testCase: XCTestCase) throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "sweep-worker-tests-\(UUID().uuidString.prefix(8))", isDirectory: true)
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
  return url
}

/// Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ...; nil if no such process.
private func processStatFields(_ pid: pid_t) -> [Substring]? {
  guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/stat"),
    let data = try? handle.readToEnd()
  else { return nil }
  try? handle.close()
  let text = String(decoding: data, as: UTF8.self)
  guard let commandEnd = text.lastIndex(of: ")") else { return nil }
  return text[text.index(after: commandEnd)...].split(separator: " ")
}

/// True while the process exists and is not a zombie (a zombie has exited; only its parent, which
/// may be an init that reaps late, still has to collect it).
func isAlive(_ pid: pid_t) -> Bool {
  guard let fields = processStatFields(pid), let state = fields.first else { return false }
  return state != "Z" && state != "X"
}

/// Living processes whose process group is `group`.
func livingMembers(ofGroup group: pid_t) -> [pid_t] {
  let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  return names.compactMap { pid_t($0) }.filter { pid in
    guard let fields = processStatFields(pid), fields.count > 2, isAlive(pid) else { return false }
    return pid_t(fields[2]) == group
  }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
func eventually(within timeout: Duration, _ condition: () -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if condition() { return true }
    try? await Task.sleep(for: .milliseconds(20))
  }
  return condition()
}

func fileText(_ url: URL) -> String {
  (try? String(contentsOf: url, encoding: .utf8)) ?? ""
}
