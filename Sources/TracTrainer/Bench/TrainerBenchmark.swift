import Foundation
import TracCore

/// `trac-sweep bench`: BC and TraC step times against the sgemm peak measured in the same run.
public enum TrainerBenchmark {
  struct Case {
    let name: String
    let observationDim: Int
    let actionDim: Int
    let segmentLength: Int
  }

  static let cases = [
    Case(name: "BallCircle", observationDim: 8, actionDim: 2, segmentLength: 200),
    Case(name: "AntCircle", observationDim: 34, actionDim: 8, segmentLength: 500),
  ]

  /// The best sgemm rate (GFLOP/s) over square and step-shaped products, with the current threads.
  public static func sgemmPeak(repetitions: Int = 4) -> Double {
    let shapes = [(2048, 2048, 2048), (19_200, 256, 256), (256, 256, 19_200)]
    var best = 0.0
    for (m, n, k) in shapes {
      let a = [Float](repeating: 0.5, count: m * k)
      let b = [Float](repeating: 0.25, count: k * n)
      var c = [Float](repeating: 0, count: m * n)
      let flops = 2 * Double(m) * Double(n) * Double(k)
      for _ in 0..<repetitions {
        let start = ContinuousClock.now
        a.withUnsafeBufferPointer { a in
          b.withUnsafeBufferPointer { b in
            c.withUnsafeMutableBufferPointer { c in
              BLAS.gemm(
                transposeA: false, transposeB: false, m: m, n: n, k: k, a: a.baseAddress!, lda: k,
                b: b.baseAddress!, ldb: n, c: c.baseAddress!, ldc: n)
            }
          }
        }
        best = max(best, flops / (ContinuousClock.now - start).seconds / 1e9)
      }
    }
    return best
  }

  /// A random dataset of 120 full-length episodes with the given widths; about half of them safe
  /// at threshold 20.
  static func syntheticDataset(_ benchCase: Case) -> OfflineDataset {
    var generator = SeededGenerator(seed: 7, stream: "bench")
    let episodes = 120
    let count = episodes * benchCase.segmentLength
    let observations = (0..<(count * benchCase.observationDim)).map { _ in Float(generator.gaussian()) }
    let actions = (0..<(count * benchCase.actionDim)).map { _ in Float(generator.uniformDouble() * 2 - 1) }
    let rewards = (0..<count).map { _ in Float(generator.uniformDouble()) }
    var costs = [Float](repeating: 0, count: count)
    for episode in 0..<episodes {
      let rate = generator.uniformDouble() * 40 / Double(benchCase.segmentLength)
      for t in 0..<benchCase.segmentLength where generator.uniformDouble() < rate {
        costs[episode * benchCase.segmentLength + t] = 1
      }
    }
    let done = (0..<count).map { ($0 + 1) % benchCase.segmentLength == 0 }
    return try! OfflineDataset(
      observationDim: benchCase.observationDim, actionDim: benchCase.actionDim, observations: observations,
      actions: actions, rewards: rewards, costs: costs, done: done)
  }

  static func pad(_ text: String, _ width: Int) -> String {
    text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
  }

  /// What the step rates are compared with, besides the sgemm peak of the kernel in use.
  public struct Reference {
    /// The best single-thread sgemm rate at the trainer's shapes of any kernel this CPU runs correctly
    /// (`BLASDecision`), and that kernel.
    public var bestKernel: String?
    public var bestKernelRate: Double?
    /// One core's FMA peak (`CPUDescription.fmaPeakGFLOPS`).
    public var fmaPeakPerCore: Double?

    public init(bestKernel: String?, bestKernelRate: Double?, fmaPeakPerCore: Double?) {
      self.bestKernel = bestKernel
      self.bestKernelRate = bestKernelRate
      self.fmaPeakPerCore = fmaPeakPerCore
    }
  }

  /// The header lines: the library and kernel, the CPU and its FMA peak, the best kernel.
  public static func header(runtime: BLASRuntime, decision: BLASDecision) -> [String] {
    let cpu = decision.cpu
    var lines = [
      "BLAS: \(runtime.library) \(runtime.version), kernel \(runtime.kernel) (\(runtime.isa), \(runtime.source)),"
        + " \(BLASLibrary.path)"
    ]
    let clock = cpu.megahertz.map { String(format: "%.0f MHz", $0) } ?? "clock unknown"
    let peak = cpu.fmaPeakGFLOPS.map { String(format: "%.1f GFLOP/s", $0) } ?? "unknown"
    lines.append(
      "CPU: \(cpu.modelName), \(cpu.isa), \(clock): FMA peak \(peak) per core"
        + " (\(cpu.fmaFlopsPerCycle) fp32 flops/cycle x the clock of /proc/cpuinfo)")
    if let best = decision.fastest, let rate = decision.bestRate {
      lines.append(
        String(
          format: "best kernel on this CPU: %@, %.1f GFLOP/s at the trainer's shapes, one thread", best, rate)
          + " (trac-sweep blas show)")
    }
    if let note = decision.fallbackNote { lines.append("WARNING: \(note)") }
    return lines
  }

  public static func run(timedSteps: Int, threadCounts: [Int], reference: Reference? = nil) -> [String] {
    var lines: [String] = []
    let warmup = 3
    for threads in threadCounts {
      BLASThreads.set(threads)
      lines.append("BLAS threads \(threads)")
      lines.append(
        "  shape        phase   ms/step   GFLOP/s   sgemm peak   of peak   of best kernel   of FMA peak")
      for benchCase in cases {
        let dataset = syntheticDataset(benchCase)
        var hyperparameters = Hyperparameters()
        hyperparameters.bcSteps = warmup + timedSteps
        hyperparameters.steps = 2 * (warmup + timedSteps)
        let task = TaskInfo.bulletGym.first { $0.dsrlID == "Offline\(benchCase.name)-v0" }!
        let trainer = try! Trainer(
          dataset: dataset, task: task, algorithm: .trac, hyperparameters: hyperparameters, costThreshold: 20,
          seed: 0)
        let flops = trainer.shape.trainingStepFLOPs(rows: hyperparameters.batchSize * benchCase.segmentLength)
        for phase in [TrainingPhase.bc, .trac] {
          for _ in 0..<warmup { trainer.step() }
          // The peak just before, and the median step: both robust to a busy neighbour.
          let peak = sgemmPeak()
          var times: [Double] = []
          for _ in 0..<timedSteps {
            let start = ContinuousClock.now
            trainer.step()
            times.append((ContinuousClock.now - start).seconds)
          }
          let seconds = times.sorted()[times.count / 2]
          let rate = flops / seconds / 1e9
          // Against the best kernel's and the FMA peak of as many cores as threads.
          func share(_ limit: Double?) -> String {
            guard let limit, limit > 0 else { return "     -" }
            return String(format: "%5.1f%%", 100 * rate / (limit * Double(threads)))
          }
          lines.append(
            String(
              format: "  %@ %@ %8.1f  %8.1f   %10.1f   %5.1f%%", pad(benchCase.name, 12),
              pad(phase.rawValue, 6),
              seconds * 1e3, rate, peak, 100 * rate / peak)
              + "           \(share(reference?.bestKernelRate))        \(share(reference?.fmaPeakPerCore))")
        }
      }
    }
    return lines
  }
}
