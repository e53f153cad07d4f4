/// Which OpenBLAS kernel a run's trainer computes with (docs/PERFORMANCE.md). A grid key (`blas`) and
/// `train --blas`.
///
/// The bytes of a trained policy depend on the kernel: OpenBLAS's SSE3, AVX and AVX2 kernels sum the
/// products of a matrix multiplication in different orders. `fastest` lets each machine use its own
/// fastest kernel that passes the self-check (a run resumed on, or started from a BC stage of, another
/// kind of machine is then not the same bytes, and run.json says which kernel trained which steps);
/// `reproducible` computes with one kernel on every machine, so the bytes are the same everywhere.
public enum BLASMode: String, Codable, Sendable, CaseIterable {
  /// Each machine its fastest correct kernel (the default).
  case fastest
  /// `BLASMode.reproducibleKernel` on every machine; refused on a CPU that cannot run it.
  case reproducible

  /// The kernel of the `reproducible` mode: OpenBLAS's Haswell kernel (AVX2 and FMA), which every
  /// x86-64 server CPU since 2013 (Intel Haswell, AMD Zen and later) runs. On OpenBLAS 0.3.21 its
  /// `Zen` kernel computes the same bytes (measured, docs/PERFORMANCE.md), but only `Haswell` is promised.
  public static let reproducibleKernel = "Haswell"
  /// The CPU flags (/proc/cpuinfo) the reproducible kernel needs.
  public static let reproducibleKernelFlags = ["avx2", "fma"]
}
