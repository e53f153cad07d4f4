import Foundation
import SweepWire
import TracCore
import XCTest

/// Audits (docs/SECURITY.md) with real processes: three workers and the real trainer, one of them
/// cheating (its trainer trains the run, then changes one byte of the policy: a well-formed, plausible
/// result). With every result audited, the cheat is caught by the two honest workers, quarantined, its
/// results trained again; the honest workers are never flagged, and every recorded result in the end
/// is an honest one that an audit passed.
final class AuditTests: XCTestCase {
  /// A trainer that trains for real, then flips the policy's last byte (a weight's low bits).
  func cheatingTrainer(in directory: URL) throws -> URL {
    let script = directory.appendingPathComponent("cheating-trainer")
    try """
    #!/bin/sh
    # Trains the run with the real trainer, then changes one byte of the policy it wrote.
    out=''; previous=''
    for argument in "$@"; do
      [ "$previous" = "--out" ] && out="$argument"
      previous="$argument"
    done
    "\(CLI.binary.path)" "$@" || exit $?
    policy="$out/policy.safetensors"
    [ -f "$policy" ] || exit 0
    size=$(stat -c %s "$policy")
    last=$(od -An -tu1 -j $((size - 1)) -N1 "$policy" | tr -d ' ')
    printf "$(printf '\\\\%03o' $(( (last + 1) % 256 )))" | dd of="$policy" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
    exit 0
    """.write(to: script, atomically: true, encoding: .utf8)
    chmod(script.path, 0o755)
    return script
  }

  func testACheatingWorkerIsConvictedItsResultsTrainedAgainAndHonestWorkersNeverFlagged() throws {
    let cluster = ClusterHarness("audit")
    cluster.auditShare = 1
    try cluster.startCoordinator()
    let dataset = try CLI.datasetFile()
    // Each worker's id is its name (kept in its work folder before it starts).
    for name in ["honest-a", "honest-b", "cheat"] {
      let folder = cluster.root.appendingPathComponent("worker-\(name)")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      try Data("\(name)\n".utf8).write(to: folder.appendingPathComponent("worker-id"))
    }
    for name in ["honest-a", "honest-b"] {
      try cluster.startWorker(name, trainer: CLI.binary, extra: ["--no-evaluate"])
    }
    try cluster.startWorker("cheat", trainer: try cheatingTrainer(in: cluster.root), extra: ["--no-evaluate"])
    _ = try cluster.waitFor("three workers online") { $0.workers.filter { $0.state == "online" }.count == 3 }

    let grid: [String: Any] = [
      "name": "audited", "task": "OfflineBallCircle-v0", "dataset": dataset, "algorithm": "trac",
      "base": ["bc_steps": 20, "steps": 40, "batch_size": 16], "vary": ["alpha": [0.1, 0.2]],
      "design": "one_at_a_time", "cost_thresholds": [5], "seeds": [0, 1], "eval": ["episodes": 0, "seed": 0],
    ]
    let gridFile = cluster.root.appendingPathComponent("audited.json")
    try JSONSerialization.data(withJSONObject: grid).write(to: gridFile)
    let submitted = try cluster.client(["submit", gridFile.path])
    XCTAssertEqual(submitted.status, 0, submitted.stderr)
    let sweep = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

    let status = try cluster.waitFor("every run recorded, every audit settled", timeout: 240) { status in
      let audits = status.audits
      return status.sweeps.first?.done == 4 && audits.waiting + audits.running + audits.disputed == 0
        && audits.suspect == 0 && audits.passed >= 4
    }
    let byID = Dictionary(uniqueKeysWithValues: status.workers.map { ($0.id, $0) })
    XCTAssertEqual(byID["cheat"]?.quarantined, true, cluster.logs())
    XCTAssertEqual(byID["honest-a"]?.quarantined, false, "an honest worker was flagged\n\(cluster.logs())")
    XCTAssertEqual(byID["honest-b"]?.quarantined, false, "an honest worker was flagged\n\(cluster.logs())")
    XCTAssertEqual(status.audits.inconclusive, 0, cluster.logs())
    XCTAssertEqual(status.audits.share, 1)

    // Every recorded result is an honest worker's, and an audit passed it.
    let rows = try cluster.resultRows(sweep)
    XCTAssertEqual(rows.count, 4)
    for row in rows {
      XCTAssertNotEqual(row["worker"] as? String, "cheat", "\(row)")
      XCTAssertEqual(row["audit"] as? String, "passed", "\(row)")
    }
    let log = (try? String(contentsOf: cluster.coordinatorLog, encoding: .utf8)) ?? ""
    XCTAssertTrue(log.contains("worker cheat convicted by audit"), cluster.logs())
    XCTAssertFalse(
      log.contains("worker honest-a convicted") || log.contains("worker honest-b convicted"), log)
    let text = try cluster.client(["status"]).stdout
    XCTAssertTrue(text.contains("audits (100% of results drawn):"), text)
  }
}
