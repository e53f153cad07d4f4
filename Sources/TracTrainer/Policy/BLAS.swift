import CBLAS

/// The only place that calls OpenBLAS. Matrices are row-major, as in PyTorch's `nn.Linear`.
enum BLAS {
  /// `C[m, n] = alpha * op(A) op(B) + beta * C`, row-major; `op` transposes when asked.
  @inline(__always)
  static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }
}

/// OpenBLAS's thread count for this process. Training runs with one thread and scales by processes.
public enum BLASThreads {
  public static var count: Int { Int(openblas_get_num_threads()) }
  public static func set(_ count: Int) { openblas_set_num_threads(Int32(count)) }
}
