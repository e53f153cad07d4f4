import Foundation
import TracCore
import TracTrainer
import XCTest

/// Which OpenBLAS kernels a CPU can run, from its /proc/cpuinfo, and the self-check (docs/PERFORMANCE.md).
final class BLASKernelTests: XCTestCase {
  static func cpuinfo(vendor: String, family: Int, model: Int, flags: String) -> String {
    """
    processor\t: 0
    vendor_id\t: \(vendor)
    cpu family\t: \(family)
    model\t\t: \(model)
    model name\t: test CPU
    cpu MHz\t\t: 2000.000
    flags\t\t: \(flags)

    processor\t: 1
    vendor_id\t: other
    """
  }

  func testARecentIntelCPUWithBF16TriesTheAVX512KernelsFirst() {
    // Family 6 model 207 (Emerald Rapids): OpenBLAS 0.3.21 does not know it and falls back to Prescott.
    let cpu = CPUDescription(
      cpuinfo: Self.cpuinfo(
        vendor: "GenuineIntel", family: 6, model: 207,
        flags:
          "fpu sse sse2 pni ssse3 fma avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 amx_tile"
      ))
    XCTAssertEqual(cpu.model, 207)
    XCTAssertEqual(cpu.candidateKernels, ["Cooperlake", "SkylakeX", "Haswell", "Sandybridge", "Prescott"])
    XCTAssertEqual(cpu.isa, "AVX-512 (BF16)")
    XCTAssertEqual(cpu.fmaFlopsPerCycle, 64)
    XCTAssertEqual(cpu.fmaPeakGFLOPS, 128)
  }

  func testAnAMDZenCPUTriesZenThenTheIntelKernelsItRuns() {
    let cpu = CPUDescription(
      cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", family: 25, model: 1, flags: "sse pni fma avx avx2"))
    XCTAssertEqual(cpu.candidateKernels, ["Zen", "Haswell", "Sandybridge", "Prescott"])
    XCTAssertEqual(cpu.missingFlags(forKernel: "SkylakeX"), ["avx512f", "avx512bw", "avx512vl"])
    XCTAssertEqual(cpu.missingFlags(forKernel: "Haswell"), [])
  }

  func testTheLoadedKernelPassesTheSelfCheck() {
    let result = BLASSelfCheck.run()
    XCTAssertTrue(result.passed, "\(result)")
    XCTAssertLessThan(result.maxError, 0.1, "a correct kernel is far inside the bound: \(result)")
  }

  func testStepsOfOneKernelMergeAndAnotherKernelStartsANewEntry() {
    var history = KernelSteps.appending(KernelSteps(from: 0, to: 100, kernel: "Haswell"), to: [])
    history = KernelSteps.appending(KernelSteps(from: 100, to: 200, kernel: "haswell"), to: history)
    XCTAssertEqual(history, [KernelSteps(from: 0, to: 200, kernel: "Haswell")])
    history = KernelSteps.appending(KernelSteps(from: 200, to: 300, kernel: "Sandybridge"), to: history)
    history = KernelSteps.appending(KernelSteps(from: 300, to: 300, kernel: "Zen"), to: history)
    XCTAssertEqual(history.map(\.kernel), ["Haswell", "Sandybridge"])
  }

  func testAFallbackKernelIsNamedAsOne() {
    let cpu = CPUDescription(
      cpuinfo: Self.cpuinfo(vendor: "GenuineIntel", family: 6, model: 207, flags: "pni fma avx avx2"))
    var decision = BLASDecision(
      cpu: cpu, library: "OpenBLAS 0.3.21", libraryPath: "/lib",
      probes: [
        BLASProbe(requested: "Haswell", loaded: "Haswell", rejected: "fails the self-check"),
        BLASProbe(requested: "Prescott", loaded: "Prescott"),
      ], fastest: "Prescott")
    XCTAssertTrue(decision.fallbackNote?.contains("is a fallback: this CPU has AVX2+FMA") == true)
    decision.fastest = "Haswell"
    XCTAssertNil(decision.fallbackNote)
  }
}
