import ArgumentParser
import Foundation
import TracCore
import TracTrainer

/// `blas show|probe`: this machine's OpenBLAS kernels (docs/PERFORMANCE.md).
struct BLASCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "blas",
    abstract: "This machine's OpenBLAS kernels: which ones pass the self-check, their speed, and the choice.",
    shouldDisplay: false,
    subcommands: [BLASShowCommand.self, BLASProbeCommand.self],
    defaultSubcommand: BLASShowCommand.self)
}

struct BLASShowCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show",
    abstract: "Print the kernel decision (probing each candidate kernel once per machine and library).")

  @Flag(help: "Probe again instead of reading the cached decision.") var refresh = false
  @Flag(help: "Print the decision as JSON.") var json = false

  func run() throws {
    let decision = BLASDecision.current(refresh: refresh)
    if json {
      print(String(decoding: try JSONCodec.prettyEncoder.encode(decision), as: UTF8.self))
      return
    }
    print("CPU      \(decision.cpu.modelName) (\(decision.cpu.vendor), \(decision.cpu.isa))")
    print("library  \(decision.library), \(decision.libraryPath)")
    print("kernel        self-check   GFLOP/s (forward, weight grad, input grad; all)")
    for probe in decision.probes {
      let check = probe.selfCheck.map { String(format: "%.3g", $0.maxError) } ?? "-"
      let speed =
        probe.speed.map {
          String(
            format: "%6.1f %6.1f %6.1f; %6.1f", $0.forward, $0.weightGradient, $0.inputGradient, $0.overall)
        } ?? ""
      let name = probe.requested.padding(toLength: 13, withPad: " ", startingAt: 0)
      print("\(name) \(check.padding(toLength: 12, withPad: " ", startingAt: 0)) \(probe.rejected ?? speed)")
    }
    print("fastest  \(decision.fastest ?? "none")")
    if let note = decision.fallbackNote { print("note     \(note)") }
  }
}

/// Run by `BLASDecision` in a child with `OPENBLAS_CORETYPE` set: prints one `BLASProbe` as JSON.
struct BLASProbeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "probe", abstract: "Check and time the loaded kernel (run with OPENBLAS_CORETYPE set).",
    shouldDisplay: false)

  func run() throws {
    BLASThreads.set(1)
    let requested = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? BLASLibrary.loadedKernel
    let probe = BLASProbe.runHere(requested: requested)
    print(String(decoding: try JSONCodec.canonicalEncoder.encode(probe), as: UTF8.self))
  }
}
