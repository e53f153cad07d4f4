import CBLAS
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What this machine's CPU is, from /proc/cpuinfo: enough to know which OpenBLAS kernels it can run.
public struct CPUDescription: Codable, Equatable, Sendable {
  /// `GenuineIntel`, `AuthenticAMD`, ...
  public var vendor: String
  public var modelName: String
  public var family: Int?
  public var model: Int?
  /// The `flags` line, sorted.
  public var flags: [String]
  /// The `cpu MHz` line of the first processor (the nominal clock on most virtual machines).
  public var megahertz: Double?

  enum CodingKeys: String, CodingKey {
    case vendor
    case modelName = "model_name"
    case family, model, flags, megahertz
  }

  public func has(_ flag: String) -> Bool { flags.contains(flag) }

  /// The first processor's block of /proc/cpuinfo.
  public init(cpuinfo text: String) {
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.trimmingCharacters(in: .whitespaces).isEmpty, !fields.isEmpty { break }
      guard let colon = line.firstIndex(of: ":") else { continue }
      let key = line[..<colon].trimmingCharacters(in: .whitespaces)
      if fields[key] == nil {
        fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      }
    }
    vendor = fields["vendor_id"] ?? "unknown"
    modelName = fields["model name"] ?? "unknown"
    family = fields["cpu family"].flatMap { Int($0) }
    model = fields["model"].flatMap { Int($0) }
    flags = Set((fields["flags"] ?? "").split(separator: " ").map(String.init)).sorted()
    megahertz = fields["cpu MHz"].flatMap { Double($0) }
  }

  public static var current: CPUDescription {
    let data = FileHandle(forReadingAtPath: "/proc/cpuinfo")?.readDataToEndOfFile() ?? Data()
    return CPUDescription(cpuinfo: String(decoding: data, as: UTF8.self))
  }

  /// The widest vector instruction set this CPU has, as the kernels use it.
  public var isa: String {
    if has("avx512f") && has("avx512bw") && has("avx512vl") {
      return has("avx512_bf16") ? "AVX-512 (BF16)" : "AVX-512"
    }
    if has("avx2") && has("fma") { return "AVX2+FMA" }
    if has("avx") { return "AVX" }
    return "SSE3"
  }

  /// Single-precision flops per cycle and core at this ISA, assuming two vector FMA (or add + multiply)
  /// units, as in every Intel core since Haswell and AMD's since Zen 2: lanes x 2 (FMA) x 2 (units).
  public var fmaFlopsPerCycle: Int {
    switch isa {
    case "AVX-512", "AVX-512 (BF16)": return 16 * 2 * 2
    case "AVX2+FMA": return 8 * 2 * 2
    case "AVX": return 8 * 2  // one 8-wide add and one 8-wide multiply per cycle
    default: return 4 * 2
    }
  }

  /// FMA peak of one core in GFLOP/s: `fmaFlopsPerCycle` x the `cpu MHz` of /proc/cpuinfo (nil when
  /// the clock is not known). Turbo clocks can exceed it; a busy machine will not reach it.
  public var fmaPeakGFLOPS: Double? { megahertz.map { Double(fmaFlopsPerCycle) * $0 / 1000 } }

  /// The OpenBLAS 0.3.21 (DYNAMIC_ARCH, x86-64) kernels this CPU can run, best first. The library's own
  /// detection is not asked: it falls back to Prescott (SSE3) on CPUs newer than it knows.
  public var candidateKernels: [String] {
    var kernels: [String] = []
    let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(has)
    if avx512 && has("avx2") && has("fma") {
      if has("avx512_bf16") { kernels.append("Cooperlake") }
      kernels.append("SkylakeX")
    }
    if has("avx2") && has("fma") {
      if vendor == "AuthenticAMD" || vendor == "HygonGenuine" { kernels.append("Zen") }
      kernels.append("Haswell")
    }
    if has("avx") { kernels.append("Sandybridge") }
    kernels.append("Prescott")
    return kernels
  }

  /// The instruction set a kernel uses.
  public static func isa(ofKernel kernel: String) -> String {
    switch kernel.lowercased() {
    case "cooperlake": return "AVX-512 (BF16)"
    case "skylakex", "sapphirerapids": return "AVX-512"
    case "haswell", "zen", "zen2", "zen3": return "AVX2+FMA"
    case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return "AVX"
    default: return "SSE3"
    }
  }

  /// The /proc/cpuinfo flags a kernel's instructions need (`pni` is SSE3); empty for names not known here.
  public static func flags(ofKernel kernel: String) -> [String] {
    switch isa(ofKernel: kernel) {
    case "AVX-512 (BF16)": return ["avx512f", "avx512bw", "avx512vl", "avx512_bf16"]
    case "AVX-512": return ["avx512f", "avx512bw", "avx512vl"]
    case "AVX2+FMA": return ["avx2", "fma"]
    case "AVX": return ["avx"]
    default: return ["pni"]
    }
  }

  /// The flags `kernel` needs that this CPU lacks.
  public func missingFlags(forKernel kernel: String) -> [String] {
    Self.flags(ofKernel: kernel).filter { !has($0) }
  }

  static let isaRank = ["SSE3": 0, "AVX": 1, "AVX2+FMA": 2, "AVX-512": 3, "AVX-512 (BF16)": 4]
}

/// The OpenBLAS library this process loaded and the kernel it runs.
public enum BLASLibrary {
  /// `openblas_get_corename()`: the kernel set OpenBLAS chose at load time (`OPENBLAS_CORETYPE`, else
  /// its own detection), e.g. `Haswell`.
  public static var loadedKernel: String { String(cString: openblas_get_corename()) }
  /// `openblas_get_config()`, e.g. `OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64`.
  public static var config: String { String(cString: openblas_get_config()) }
  public static var name: String { config.split(separator: " ").first.map(String.init) ?? "OpenBLAS" }
  public static var version: String {
    let words = config.split(separator: " ")
    return words.count > 1 ? String(words[1]) : "unknown"
  }

  /// The shared library's file (symlinks resolved), e.g. `/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so`.
  public static var path: String {
    // The first mapped file whose name says openblas (dladdr needs _GNU_SOURCE, which Glibc's module lacks).
    // Read to the end: /proc files report size 0 and come one page per read.
    let data = FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile() ?? Data()
    let maps = String(decoding: data, as: UTF8.self)
    for line in maps.split(separator: "\n") {
      guard let slash = line.firstIndex(of: "/") else { continue }
      let file = String(line[slash...])
      if file.lowercased().contains("openblas") {
        return URL(fileURLWithPath: file).resolvingSymlinksInPath().path
      }
    }
    return "unknown"
  }

  /// Two spellings of one kernel name (`OPENBLAS_CORETYPE` is case-insensitive).
  public static func same(_ a: String, _ b: String) -> Bool { a.lowercased() == b.lowercased() }
}

/// The numerical self-check of a kernel on the trainer's own products (docs/PERFORMANCE.md).
///
/// The products are those of `PolicyNetwork` that go through sgemm: the hidden layer's forward pass
/// (`rows x 256 = (rows x 256)(256 x 256)^T`), its weight gradient (`256 x 256 = (rows x 256)^T (rows x
/// 256)`, once overwriting and once accumulating) and its input gradient (`rows x 256 = (rows x 256)(256
/// x 256)`), and the first layer's weight gradient (`256 x 34 = (rows x 256)^T (rows x 34)`), with 397
/// rows: odd and larger than OpenBLAS's K blocking (384 or less) so that edge and block paths are
/// taken. Inputs are random in [-1, 1]; every 7th row of each product and its last 9 are checked. Each entry is compared with a double-precision reference: its error, divided by
/// `K * eps * sum_k |a_ik| |b_kj|` (eps = 2^-23, K the inner dimension), must be at most 1. Any order
/// of float32 sums, with or without FMA, stays within this bound (the classic bound is K u with u =
/// eps / 2); a kernel that computes something else is off by orders of magnitude.
public enum BLASSelfCheck {
  public struct Result: Codable, Equatable, Sendable {
    /// The largest error in units of `K * eps * sum |a||b|`; at most 1 to pass.
    public var maxError: Double
    public var passed: Bool
    /// The product that had the largest error.
    public var worstProduct: String

    enum CodingKeys: String, CodingKey {
      case maxError = "max_error"
      case passed
      case worstProduct = "worst_product"
    }
  }

  public static let bound = 1.0

  public static func run(rows: Int = 397) -> Result {
    let hidden = 256
    let narrow = 34
    var generator: UInt64 = 0x9E37_79B9_7F4A_7C15
    func matrix(_ count: Int) -> [Float] {
      (0..<count).map { _ in
        generator = generator &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: generator >> 11) % 2_000_001 - 1_000_000) / 1_000_000
      }
    }
    let activations = matrix(rows * hidden)
    let gradients = matrix(rows * hidden)
    let weights = matrix(hidden * hidden)
    let inputs = matrix(rows * narrow)
    let previous = matrix(hidden * hidden)
    var worst = Result(maxError: 0, passed: true, worstProduct: "")

    /// C (m x n) = op(A) op(B) (+ C0), checked entry by entry. `a(i, k)` and `b(k, j)` read op(A), op(B).
    func check(
      _ name: String, m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, a: [Float], lda: Int,
      b: [Float], ldb: Int, initial: [Float]?
    ) {
      var c = initial ?? [Float](repeating: 0, count: m * n)
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          c.withUnsafeMutableBufferPointer { c in
            BLAS.gemm(
              transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.baseAddress!, lda: lda,
              b: b.baseAddress!, ldb: ldb, beta: initial == nil ? 0 : 1, c: c.baseAddress!, ldc: n)
          }
        }
      }
      let eps = Double(Float.ulpOfOne)
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          // Every 7th row and the last 9 (the kernels' edge cases), every column.
          for i in 0..<m where i % 7 == 0 || i >= m - 9 {
            for j in 0..<n {
              var exact = 0.0
              var magnitude = 0.0
              for index in 0..<k {
                let x = Double(transposeA ? a[index * lda + i] : a[i * lda + index])
                let y = Double(transposeB ? b[j * ldb + index] : b[index * ldb + j])
                exact += x * y
                magnitude += abs(x * y)
              }
              if let initial {
                exact += Double(initial[i * n + j])
                magnitude += abs(Double(initial[i * n + j]))
              }
              let error = abs(Double(c[i * n + j]) - exact) / (Double(k + 1) * eps * max(magnitude, 1e-30))
              if !(error <= worst.maxError) {
                worst.maxError = error.isNaN ? .infinity : error
                worst.worstProduct = name
              }
            }
          }
        }
      }
    }
    check(
      "forward (rows x 256 x 256)", m: rows, n: hidden, k: hidden, transposeA: false, transposeB: true,
      a: activations, lda: hidden, b: weights, ldb: hidden, initial: nil)
    check(
      "weight gradient (256 x 256 x rows)", m: hidden, n: hidden, k: rows, transposeA: true,
      transposeB: false,
      a: gradients, lda: hidden, b: activations, ldb: hidden, initial: nil)
    check(
      "weight gradient, accumulated (256 x 256 x rows)", m: hidden, n: hidden, k: rows, transposeA: true,
      transposeB: false, a: gradients, lda: hidden, b: activations, ldb: hidden, initial: previous)
    check(
      "input gradient (rows x 256 x 256)", m: rows, n: hidden, k: hidden, transposeA: false,
      transposeB: false,
      a: gradients, lda: hidden, b: weights, ldb: hidden, initial: nil)
    check(
      "first-layer weight gradient (256 x 34 x rows)", m: hidden, n: narrow, k: rows, transposeA: true,
      transposeB: false, a: gradients, lda: hidden, b: inputs, ldb: narrow, initial: nil)
    worst.passed = worst.maxError <= bound
    return worst
  }
}

/// The sgemm rate of the loaded kernel at the trainer's shapes: one thread, a batch of `rows` rows.
public enum BLASSpeed {
  public struct Result: Codable, Equatable, Sendable {
    public var forward: Double
    public var weightGradient: Double
    public var inputGradient: Double
    /// The three together: their flops over their best times.
    public var overall: Double

    enum CodingKeys: String, CodingKey {
      case forward
      case weightGradient = "weight_gradient"
      case inputGradient = "input_gradient"
      case overall
    }
  }

  /// Best of `repetitions` of each product, in GFLOP/s. 4,800 rows: a BallCircle batch of 24 segments.
  public static func measure(rows: Int = 4800, repetitions: Int = 3) -> Result {
    let hidden = 256
    let a = [Float](repeating: 0.5, count: rows * hidden)
    let w = [Float](repeating: 0.25, count: hidden * hidden)
    var c = [Float](repeating: 0, count: rows * hidden)
    var g = [Float](repeating: 0, count: hidden * hidden)
    let flops = 2 * Double(rows) * Double(hidden) * Double(hidden)
    var best = [Double](repeating: .infinity, count: 3)
    for _ in 0..<repetitions {
      a.withUnsafeBufferPointer { a in
        w.withUnsafeBufferPointer { w in
          c.withUnsafeMutableBufferPointer { c in
            g.withUnsafeMutableBufferPointer { g in
              let (a, w, c, g) = (a.baseAddress!, w.baseAddress!, c.baseAddress!, g.baseAddress!)
              var start = ContinuousClock.now
              BLAS.gemm(
                transposeA: false, transposeB: true, m: rows, n: hidden, k: hidden, a: a, lda: hidden, b: w,
                ldb: hidden, c: c, ldc: hidden)
              best[0] = min(best[0], (ContinuousClock.now - start).seconds)
              start = ContinuousClock.now
              BLAS.gemm(
                transposeA: true, transposeB: false, m: hidden, n: hidden, k: rows, a: a, lda: hidden,
                b: UnsafePointer(c), ldb: hidden, c: g, ldc: hidden)
              best[1] = min(best[1], (ContinuousClock.now - start).seconds)
              start = ContinuousClock.now
              BLAS.gemm(
                transposeA: false, transposeB: false, m: rows, n: hidden, k: hidden, a: a, lda: hidden, b: w,
                ldb: hidden, c: c, ldc: hidden)
              best[2] = min(best[2], (ContinuousClock.now - start).seconds)
            }
          }
        }
      }
    }
    return Result(
      forward: flops / best[0] / 1e9, weightGradient: flops / best[1] / 1e9,
      inputGradient: flops / best[2] / 1e9,
      overall: 3 * flops / best.reduce(0, +) / 1e9)
  }
}
