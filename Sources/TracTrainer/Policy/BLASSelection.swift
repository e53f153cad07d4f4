import Foundation
import TracCore

#if canImport(Glibc)
  import Glibc
#endif

/// One kernel tried in a child process (`trac-sweep blas probe` with `OPENBLAS_CORETYPE` set).
public struct BLASProbe: Codable, Equatable, Sendable {
  public var requested: String
  /// What OpenBLAS loaded: another name than `requested` means the library has no such kernel.
  public var loaded: String?
  public var selfCheck: BLASSelfCheck.Result?
  /// GFLOP/s at the trainer's shapes, one thread.
  public var speed: BLASSpeed.Result?
  /// Why the kernel cannot be used; nil when it can.
  public var rejected: String?

  public var usable: Bool { rejected == nil }

  public init(
    requested: String, loaded: String? = nil, selfCheck: BLASSelfCheck.Result? = nil,
    speed: BLASSpeed.Result? = nil,
    rejected: String? = nil
  ) {
    self.requested = requested
    self.loaded = loaded
    self.selfCheck = selfCheck
    self.speed = speed
    self.rejected = rejected
  }

  enum CodingKeys: String, CodingKey {
    case requested, loaded
    case selfCheck = "self_check"
    case speed, rejected
  }

  /// The probe of the kernel this process loaded, as `trac-sweep blas probe` prints it.
  public static func runHere(requested: String) -> BLASProbe {
    let loaded = BLASLibrary.loadedKernel
    var probe = BLASProbe(requested: requested, loaded: loaded)
    guard BLASLibrary.same(loaded, requested) else {
      probe.rejected =
        "\(BLASLibrary.name) \(BLASLibrary.version) has no kernel \(requested) (it loaded \(loaded))"
      return probe
    }
    let check = BLASSelfCheck.run()
    probe.selfCheck = check
    guard check.passed else {
      probe.rejected = BLASSetup.selfCheckMessage(kernel: loaded, check)
      return probe
    }
    probe.speed = BLASSpeed.measure()
    return probe
  }
}

/// This machine's kernels, probed once and kept in the user's cache directory
/// (`$XDG_CACHE_HOME/trac-sweep/blas-KEY.json`, else `~/.cache/...`), KEY a hash of the CPU's model
/// and flags and of the library's path, size and version: a new CPU or library is probed again.
public struct BLASDecision: Codable, Equatable, Sendable {
  public static let format = "trac-blas-decision/1"

  public var format = BLASDecision.format
  public var cpu: CPUDescription
  public var library: String
  public var libraryPath: String
  public var probes: [BLASProbe]
  /// The fastest kernel that passed its self-check; nil when none did.
  public var fastest: String?

  enum CodingKeys: String, CodingKey {
    case format, cpu, library
    case libraryPath = "library_path"
    case probes, fastest
  }

  public init(
    cpu: CPUDescription, library: String, libraryPath: String, probes: [BLASProbe], fastest: String?
  ) {
    self.cpu = cpu
    self.library = library
    self.libraryPath = libraryPath
    self.probes = probes
    self.fastest = fastest
  }

  public func probe(of kernel: String) -> BLASProbe? {
    probes.first { BLASLibrary.same($0.requested, kernel) }
  }

  /// The best rate of a usable kernel (GFLOP/s, the three products together).
  public var bestRate: Double? { probes.compactMap { $0.usable ? $0.speed?.overall : nil }.max() }

  /// A kernel within 5% of the best rate counts as fastest; of those, the first in the CPU's order of
  /// preference (`CPUDescription.candidateKernels`) is chosen, so noise on a busy machine does not
  /// flip the choice between equivalent kernels.
  static func choose(_ probes: [BLASProbe]) -> String? {
    let usable = probes.filter { $0.usable && $0.speed != nil }
    guard let best = usable.map({ $0.speed!.overall }).max() else { return nil }
    return usable.first { $0.speed!.overall >= 0.95 * best }?.requested
  }

  /// A note when the chosen kernel uses less of the CPU than the CPU has (its better kernels failed).
  public var fallbackNote: String? {
    guard let fastest else {
      return "no OpenBLAS kernel passed its self-check on this CPU (\(cpu.modelName)): "
        + probes.compactMap(\.rejected).joined(separator: "; ")
    }
    let rank = CPUDescription.isaRank
    let have = cpu.isa
    let using = CPUDescription.isa(ofKernel: fastest)
    guard (rank[using] ?? 0) < (rank[have] ?? 0) else { return nil }
    let failed = probes.filter { !$0.usable }.map { "\($0.requested): \($0.rejected!)" }
    return "the OpenBLAS kernel \(fastest) (\(using)) is a fallback: this CPU has \(have)"
      + (failed.isEmpty ? "" : ", but " + failed.joined(separator: "; "))
  }

  static func cacheKey(cpu: CPUDescription, libraryPath: String) -> String {
    let size = (try? FileManager.default.attributesOfItem(atPath: libraryPath)[.size] as? Int) ?? 0
    let text = [
      format, cpu.vendor, cpu.modelName, "\(cpu.family ?? -1)", "\(cpu.model ?? -1)",
      cpu.flags.joined(separator: " "),
      libraryPath, "\(size)", BLASLibrary.name, BLASLibrary.version,
    ].joined(separator: "\n")
    return shortSHA256Hex(Data(text.utf8))
  }

  static func cacheDirectory(environment: [String: String]) -> URL {
    if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
      return URL(fileURLWithPath: xdg).appendingPathComponent("trac-sweep")
    }
    return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/trac-sweep")
  }

  /// The cached decision for this CPU and library, or a new one: each candidate probed in a child
  /// process of `program` (a crash or SIGILL rejects the kernel). A few seconds, once per machine.
  public static func current(
    program: URL = BLASSetup.thisProgram, environment: [String: String] = ProcessInfo.processInfo.environment,
    refresh: Bool = false
  ) -> BLASDecision {
    let cpu = CPUDescription.current
    let libraryPath = BLASLibrary.path
    let file = cacheDirectory(environment: environment).appendingPathComponent(
      "blas-\(cacheKey(cpu: cpu, libraryPath: libraryPath)).json")
    if !refresh, let data = try? Data(contentsOf: file),
      let cached = try? JSONCodec.decoder.decode(BLASDecision.self, from: data), cached.format == format
    {
      return cached
    }
    let probes = cpu.candidateKernels.map { probe($0, program: program, environment: environment) }
    let decision = BLASDecision(
      cpu: cpu, library: "\(BLASLibrary.name) \(BLASLibrary.version)", libraryPath: libraryPath,
      probes: probes,
      fastest: choose(probes))
    if let data = try? JSONCodec.prettyEncoder.encode(decision) {
      try? FileManager.default.createDirectory(
        at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
      try? data.write(to: file, options: .atomic)
    }
    return decision
  }

  /// Runs `program blas probe` with `OPENBLAS_CORETYPE=kernel` and one thread.
  public static func probe(_ kernel: String, program: URL, environment: [String: String]) -> BLASProbe {
    let process = Process()
    process.executableURL = program
    process.arguments = ["blas", "probe"]
    var childEnvironment = environment
    childEnvironment["OPENBLAS_CORETYPE"] = kernel
    childEnvironment[BLASSetup.markerVariable] = kernel
    childEnvironment["OPENBLAS_NUM_THREADS"] = "1"
    process.environment = childEnvironment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch {
      return BLASProbe(requested: kernel, rejected: "the probe could not start (\(error))")
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationReason == .uncaughtSignal {
      let name =
        process.terminationStatus == SIGILL
        ? "SIGILL: an instruction this CPU lacks" : "signal \(process.terminationStatus)"
      return BLASProbe(requested: kernel, rejected: "the probe died of \(name)")
    }
    guard process.terminationStatus == 0,
      let probe = try? JSONCodec.decoder.decode(BLASProbe.self, from: data)
    else {
      return BLASProbe(
        requested: kernel, rejected: "the probe failed (exit status \(process.terminationStatus))")
    }
    return probe
  }
}

extension BLASRuntime {
  public static func current(mode: BLASMode, source: String) -> BLASRuntime {
    let kernel = BLASLibrary.loadedKernel
    return BLASRuntime(
      library: BLASLibrary.name, version: BLASLibrary.version, kernel: kernel,
      isa: CPUDescription.isa(ofKernel: kernel), threads: BLASThreads.count, mode: mode, source: source)
  }
}

extension KernelSteps {
  /// `history` followed by `next`, merged with the last entry when the kernel is the same.
  public static func appending(_ next: KernelSteps, to history: [KernelSteps]) -> [KernelSteps] {
    guard next.to > next.from else { return history }
    var result = history
    if let last = result.last, BLASLibrary.same(last.kernel, next.kernel), last.to == next.from {
      result[result.count - 1].to = next.to
    } else {
      result.append(next)
    }
    return result
  }
}

/// Chooses and applies the kernel of a process that trains, before its first BLAS call.
///
/// OpenBLAS picks its kernel once, when the library loads, from `OPENBLAS_CORETYPE`: a process whose
/// kernel is not the one wanted executes itself again with the variable set (once: the marker
/// variable says trac-sweep set it). Re-initialising the loaded library in place
/// (`gotoblas_dynamic_quit`/`init`) is not done: it frees buffers other threads may hold.
public enum BLASSetup {
  /// Set beside `OPENBLAS_CORETYPE` when trac-sweep set it (same value): an `OPENBLAS_CORETYPE`
  /// without it, or with another value, is the operator's and is respected.
  public static let markerVariable = "TRAC_SWEEP_BLAS_KERNEL"

  public struct Refusal: Error, CustomStringConvertible, Sendable {
    public var description: String
  }

  public static var thisProgram: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

  static func selfCheckMessage(kernel: String, _ check: BLASSelfCheck.Result) -> String {
    "the OpenBLAS kernel \(kernel) fails the self-check: error \(String(format: "%.3g", check.maxError)) x"
      + " K eps sum|a||b| in the \(check.worstProduct) product (bound \(BLASSelfCheck.bound))"
  }

  /// An operator's `OPENBLAS_CORETYPE`: set, and not by trac-sweep.
  public static func operatorKernel(_ environment: [String: String]) -> String? {
    guard let value = environment["OPENBLAS_CORETYPE"], !value.isEmpty else { return nil }
    return environment[markerVariable] == value ? nil : value
  }

  /// Makes this process compute with the kernel `mode` and `kernelOption` ask for. Returns the kernel
  /// and how it was chosen, or executes this program again with `OPENBLAS_CORETYPE` set (and does not
  /// return), or throws a refusal that names the kernel and what is wrong with it.
  ///
  /// - An operator's `OPENBLAS_CORETYPE` wins (a different `--blas-kernel` is refused, and so is a
  ///   `reproducible` run when it is not the reproducible kernel); it is checked in-process.
  /// - `reproducible`: `BLASMode.reproducibleKernel`, checked in-process; refused on a CPU without it.
  /// - `--blas-kernel NAME`: that kernel, checked in-process.
  /// - else the kernel a parent (the worker) chose and probed, or this machine's fastest (probed once).
  public static func prepare(
    mode: BLASMode, kernelOption: String?,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    notice: (String) -> Void
  ) throws(Refusal) -> BLASRuntime {
    let loaded = BLASLibrary.loadedKernel
    let wanted: String
    let source: String
    var check = true
    if let operatorChoice = operatorKernel(environment) {
      if let kernelOption, !BLASLibrary.same(kernelOption, operatorChoice) {
        throw Refusal(
          description:
            "--blas-kernel \(kernelOption) contradicts OPENBLAS_CORETYPE=\(operatorChoice) in the environment"
            + " (an operator's setting, respected): leave one out")
      }
      if mode == .reproducible, !BLASLibrary.same(operatorChoice, BLASMode.reproducibleKernel) {
        throw Refusal(
          description:
            "a reproducible run computes with the OpenBLAS kernel \(BLASMode.reproducibleKernel), but"
            + " OPENBLAS_CORETYPE=\(operatorChoice) is set on this machine (an operator's setting, respected)"
        )
      }
      guard BLASLibrary.same(loaded, operatorChoice) else {
        throw Refusal(
          description:
            "OPENBLAS_CORETYPE=\(operatorChoice): \(BLASLibrary.name) \(BLASLibrary.version) has no such kernel"
            + " (it loaded \(loaded))")
      }
      wanted = operatorChoice
      source = "environment"
    } else if mode == .reproducible {
      if let kernelOption, !BLASLibrary.same(kernelOption, BLASMode.reproducibleKernel) {
        throw Refusal(
          description:
            "--blas-kernel \(kernelOption) contradicts --blas reproducible, which computes with the OpenBLAS"
            + " kernel \(BLASMode.reproducibleKernel) on every machine: leave one out")
      }
      let cpu = CPUDescription.current
      let missing = BLASMode.reproducibleKernelFlags.filter { !cpu.has($0) }
      guard missing.isEmpty else {
        throw Refusal(
          description:
            "a reproducible run computes with the OpenBLAS kernel \(BLASMode.reproducibleKernel), which needs"
            + " \(BLASMode.reproducibleKernelFlags.joined(separator: " and ")); this CPU (\(cpu.modelName)) lacks"
            + " \(missing.joined(separator: ", "))")
      }
      wanted = BLASMode.reproducibleKernel
      source = "reproducible"
    } else if let kernelOption {
      wanted = kernelOption
      source = "option"
    } else if let parent = environment[markerVariable], environment["OPENBLAS_CORETYPE"] == parent {
      // Chosen and probed by the process that started this one (the worker, or this program before exec).
      wanted = parent
      source = environment["TRAC_SWEEP_BLAS_SOURCE"] ?? "probed"
      check = source != "probed"
    } else {
      let decision = BLASDecision.current(environment: environment)
      if let note = decision.fallbackNote { notice(note) }
      guard let fastest = decision.fastest else { throw Refusal(description: decision.fallbackNote!) }
      wanted = fastest
      source = "probed"
      check = false
    }
    if check {
      // A kernel whose instructions this CPU lacks would die of SIGILL at its first product.
      let cpu = CPUDescription.current
      let missing = cpu.missingFlags(forKernel: wanted)
      guard missing.isEmpty else {
        throw Refusal(
          description:
            "the OpenBLAS kernel \(wanted) (\(CPUDescription.isa(ofKernel: wanted))) needs CPU features this CPU"
            + " (\(cpu.modelName)) lacks: \(missing.joined(separator: ", "))")
      }
    }
    if !BLASLibrary.same(loaded, wanted) {
      guard !BLASLibrary.same(environment["OPENBLAS_CORETYPE"] ?? "", wanted) else {
        throw Refusal(
          description:
            "\(BLASLibrary.name) \(BLASLibrary.version) has no kernel \(wanted) (it loaded \(loaded))")
      }
      try reexecute(kernel: wanted, source: source)
    }
    if check {
      let result = BLASSelfCheck.run()
      guard result.passed else { throw Refusal(description: selfCheckMessage(kernel: loaded, result)) }
    }
    return BLASRuntime.current(mode: mode, source: source)
  }

  /// The environment a parent (the worker) gives its trainers so that they start with `kernel`.
  public static func childEnvironment(kernel: String, source: String) -> [String: String] {
    ["OPENBLAS_CORETYPE": kernel, markerVariable: kernel, "TRAC_SWEEP_BLAS_SOURCE": source]
  }

  private static func reexecute(kernel: String, source: String) throws(Refusal) -> Never {
    for (name, value) in childEnvironment(kernel: kernel, source: source) { setenv(name, value, 1) }
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    throw Refusal(
      description: "cannot execute this program again with OPENBLAS_CORETYPE=\(kernel): errno \(errno)")
  }
}
