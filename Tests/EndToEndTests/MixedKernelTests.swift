import Foundation
import SweepWire
import TracCore
import XCTest

/// A mixed cluster (docs/PERFORMANCE.md), simulated on one machine by forcing two OpenBLAS kernels
/// that the probe finds correct here but that sum in different orders (so their policies differ):
/// in the `reproducible` mode a run resumed across them, or started from a BC stage trained by the
/// other, is the bytes of the run trained alone; in the `fastest` mode the mixing is recorded in
/// run.json, which kernel trained which steps.
final class MixedKernelTests: XCTestCase {
  /// Two usable kernels of different instruction sets, fastest first; skips when there are not two,
  /// or when the environment forces a kernel (an operator's setting is never overridden in tests).
  func twoKernels() throws -> (fast: String, other: String) {
    if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
      throw XCTSkip(
        "OPENBLAS_CORETYPE=\(forced) is set in this environment: the machine's kernel is forced, so no second"
          + " kernel is tried (mixed-kernel tests skipped)")
    }
    let shown = try CLI.run(CLI.binary, ["blas", "show", "--json"])
    XCTAssertEqual(shown.status, 0, shown.stderr)
    let decision = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
    let probes = try XCTUnwrap(decision["probes"] as? [[String: Any]])
    let usable = probes.filter { $0["rejected"] == nil }.compactMap { $0["requested"] as? String }
    let fast = try XCTUnwrap(
      decision["fastest"] as? String, "no kernel passed the self-check: \(shown.stdout)")
    // Kernels of one instruction set (Zen and Haswell) compute the same bytes: take another set.
    let avx2 = ["Zen", "Haswell"]
    guard let other = usable.first(where: { avx2.contains(fast) ? !avx2.contains($0) : $0 != fast }) else {
      throw XCTSkip("only one kind of OpenBLAS kernel passes the self-check on this CPU: \(usable)")
    }
    return (fast, other)
  }

  @discardableResult
  func train(
    _ dataset: String, out: URL, steps: Int, batch: Int = 16, extra: [String],
    environment: [String: String] = [:]
  ) throws -> CLI.Result {
    let result = try CLI.run(
      CLI.binary,
      [
        "train", "--dataset", dataset, "--task", "OfflineBallCircle-v0", "--cost-threshold", "5", "--seed",
        "0",
        "--bc-steps", "20", "--steps", "\(steps)", "--batch-size", "\(batch)", "--eval-episodes", "0",
        "--out",
        out.path,
      ] + extra, environment: environment)
    XCTAssertEqual(result.status, 0, result.stderr)
    return result
  }

  func blasRecord(_ out: URL) throws -> [String: Any] {
    let record = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("run.json")))
        as? [String: Any])
    return try XCTUnwrap(record["blas"] as? [String: Any], "run.json has no blas: \(record)")
  }

  func trainedSteps(_ out: URL) throws -> [String] {
    let entries = try XCTUnwrap(try blasRecord(out)["trained_steps"] as? [[String: Any]])
    return entries.map { "\($0["from"] ?? "?")-\($0["to"] ?? "?") \($0["kernel"] ?? "?")" }
  }

  func policy(_ out: URL) throws -> Data {
    try Data(contentsOf: out.appendingPathComponent("policy.safetensors"))
  }

  /// A BC stage trained on one kind of machine, the TraC phase on the other: the environment a worker
  /// gives its trainers (`OPENBLAS_CORETYPE` with trac-sweep's marker) stands for each machine.
  func testABCStageOfAnotherKernelIsTheSameBytesInReproducibleModeAndRecordedInFastestMode() throws {
    let (fast, other) = try twoKernels()
    let dataset = try CLI.datasetFile()
    func machine(_ kernel: String) -> [String: String] {
      ["OPENBLAS_CORETYPE": kernel, "TRAC_SWEEP_BLAS_KERNEL": kernel, "TRAC_SWEEP_BLAS_SOURCE": "probed"]
    }

    // The two kernels really differ: the same run trained alone on each.
    let aloneFast = temporaryDirectory("kernel-fast")
    let aloneOther = temporaryDirectory("kernel-other")
    try train(dataset, out: aloneFast, steps: 40, extra: [], environment: machine(fast))
    try train(dataset, out: aloneOther, steps: 40, extra: [], environment: machine(other))
    XCTAssertEqual(try blasRecord(aloneFast)["kernel"] as? String, fast)
    XCTAssertEqual(try blasRecord(aloneOther)["kernel"] as? String, other)
    XCTAssertNotEqual(
      try policy(aloneFast), try policy(aloneOther), "\(fast) and \(other) give the same bytes")

    // fastest: the stage on `other`, TraC on `fast`; run.json says so.
    let stage = temporaryDirectory("kernel-stage")
    try train(dataset, out: stage, steps: 20, extra: [], environment: machine(other))
    let mixed = temporaryDirectory("kernel-mixed")
    let resumed = try train(
      dataset, out: mixed, steps: 40,
      extra: ["--init-from-checkpoint", stage.appendingPathComponent("bc-stage.safetensors").path],
      environment: machine(fast))
    XCTAssertEqual(try trainedSteps(mixed), ["0-20 \(other)", "20-40 \(fast)"])
    XCTAssertTrue(resumed.stderr.contains("trained by another OpenBLAS kernel"), resumed.stderr)
    XCTAssertNotEqual(
      try policy(mixed), try policy(aloneFast), "steps of two kernels, not one machine's bytes")

    // reproducible: the same two machines compute with the one reproducible kernel: the same bytes.
    let reproducibleAlone = temporaryDirectory("kernel-reproducible")
    try train(
      dataset, out: reproducibleAlone, steps: 40, extra: ["--blas", "reproducible"],
      environment: machine(fast))
    let reproducibleStage = temporaryDirectory("kernel-reproducible-stage")
    try train(
      dataset, out: reproducibleStage, steps: 20, extra: ["--blas", "reproducible"],
      environment: machine(other))
    let reproducibleMixed = temporaryDirectory("kernel-reproducible-mixed")
    try train(
      dataset, out: reproducibleMixed, steps: 40,
      extra: [
        "--blas", "reproducible", "--init-from-checkpoint",
        reproducibleStage.appendingPathComponent("bc-stage.safetensors").path,
      ], environment: machine(fast))
    XCTAssertEqual(try policy(reproducibleMixed), try policy(reproducibleAlone))
    XCTAssertEqual(try trainedSteps(reproducibleMixed), ["0-40 \(BLASMode.reproducibleKernel)"])
    XCTAssertEqual(try blasRecord(reproducibleMixed)["mode"] as? String, "reproducible")
    // A reproducible run is another run (its id differs), and refuses a stage of the fastest mode.
    let refused = try CLI.run(
      CLI.binary,
      [
        "train", "--dataset", dataset, "--task", "OfflineBallCircle-v0", "--cost-threshold", "5", "--seed",
        "0",
        "--bc-steps", "20", "--steps", "40", "--batch-size", "16", "--eval-episodes", "0", "--blas",
        "reproducible",
        "--out", temporaryDirectory("kernel-refused").path, "--init-from-checkpoint",
        stage.appendingPathComponent("bc-stage.safetensors").path,
      ])
    XCTAssertEqual(refused.status, 65, refused.stderr)
    XCTAssertTrue(refused.stderr.contains("not this run's BC stage"), refused.stderr)
  }

  /// Two real workers forced to different kernels (`--blas-kernel`); each sweep's run is trained halfway
  /// on the first, which is SIGKILLed, and resumed on the second from its shipped checkpoint.
  func testARunResumedOnAWorkerWithAnotherKernel() throws {
    let (fast, other) = try twoKernels()
    let cluster = ClusterHarness("mixed-kernels")
    try cluster.startCoordinator()
    let dataset = try CLI.datasetFile()
    let steps = 1500
    var sweeps: [String: String] = [:]
    for mode in BLASMode.allCases {
      let grid: [String: Any] = [
        "name": "kernels-\(mode.rawValue)", "task": "OfflineBallCircle-v0", "dataset": dataset,
        "algorithm": "trac",
        "base": ["bc_steps": 20, "steps": steps, "batch_size": 32], "cost_thresholds": [5], "seeds": [0],
        "eval": ["episodes": 0, "seed": 0], "blas": mode.rawValue,
      ]
      let url = cluster.root.appendingPathComponent("\(mode.rawValue).json")
      try JSONSerialization.data(withJSONObject: grid).write(to: url)
      let submitted = try cluster.client(["submit", url.path])
      XCTAssertEqual(submitted.status, 0, submitted.stderr)
      sweeps[mode.rawValue] = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    let shipping = ["--no-evaluate", "--ship-checkpoints", "0.05", "--checkpoint-every", "20"]
    try cluster.startWorker(
      "first", trainer: CLI.binary, slots: 2, extra: shipping + ["--blas-kernel", other])
    let early = try cluster.waitFor("both runs to have a checkpoint", timeout: 60) {
      $0.checkpoints.runs == 2
    }
    cluster.signal(worker: "first", SIGKILL)
    XCTAssertEqual(early.sweeps.map(\.done), [0, 0], "a run ended on the first worker: nothing was resumed")
    try cluster.startWorker(
      "second", trainer: CLI.binary, slots: 2, extra: shipping + ["--blas-kernel", fast])
    _ = try cluster.waitFor("both runs to be done", timeout: 120) { $0.sweeps.allSatisfy { $0.done == 1 } }
    let workerLog = try String(
      contentsOf: cluster.root.appendingPathComponent("worker-second.log"), encoding: .utf8)
    XCTAssertTrue(workerLog.contains("blas=\(fast)"), "the start line names the kernel: \(workerLog)")

    func runFolder(_ sweep: String) throws -> URL {
      let rows = try XCTUnwrap(
        try JSONSerialization.jsonObject(
          with: Data(try cluster.client(["results", sweep, "--format", "json"]).stdout.utf8))
          as? [[String: Any]])
      let policy = try XCTUnwrap(rows.first?["policy"] as? String)
      return URL(fileURLWithPath: policy).deletingLastPathComponent()
    }
    // fastest: the steps of each kernel, in order.
    let fastest = try runFolder(try XCTUnwrap(sweeps["fastest"]))
    let kernels = try XCTUnwrap(try blasRecord(fastest)["trained_steps"] as? [[String: Any]])
    XCTAssertEqual(kernels.compactMap { $0["kernel"] as? String }, [other, fast], "\(kernels)")
    XCTAssertEqual(kernels.first?["from"] as? Int, 0)
    XCTAssertEqual(kernels.last?["to"] as? Int, steps)
    XCTAssertEqual(kernels.first?["to"] as? Int, kernels.last?["from"] as? Int)

    // reproducible: one kernel for every step, and the bytes of the run trained alone.
    let reproducible = try runFolder(try XCTUnwrap(sweeps["reproducible"]))
    XCTAssertEqual(try trainedSteps(reproducible), ["0-\(steps) \(BLASMode.reproducibleKernel)"])
    let alone = temporaryDirectory("kernels-alone")
    try train(dataset, out: alone, steps: steps, batch: 32, extra: ["--blas", "reproducible"])
    XCTAssertEqual(try policy(reproducible), try policy(alone), "resumed across kernels, the same bytes")
  }
}
