/// What computed a run, as run.json records it (`blas`).
public struct BLASRuntime: Codable, Equatable, Sendable {
  public var library: String
  public var version: String
  public var kernel: String
  public var isa: String
  public var precision = "fp32"
  public var threads: Int
  public var mode: BLASMode
  /// How the kernel was chosen: `probed` (this machine's fastest), `option` (--blas-kernel),
  /// `environment` (OPENBLAS_CORETYPE set by the operator), `reproducible` (the mode's fixed kernel).
  public var source: String
  /// Which kernel trained which steps (`from` exclusive, `to` inclusive), this process's steps last.
  /// More than one entry: the run was resumed from, or started from a BC stage of, another kernel.
  public var trainedSteps: [KernelSteps] = []

  public init(
    library: String, version: String, kernel: String, isa: String, precision: String = "fp32", threads: Int,
    mode: BLASMode, source: String, trainedSteps: [KernelSteps] = []
  ) {
    self.library = library
    self.version = version
    self.kernel = kernel
    self.isa = isa
    self.precision = precision
    self.threads = threads
    self.mode = mode
    self.source = source
    self.trainedSteps = trainedSteps
  }

  enum CodingKeys: String, CodingKey {
    case library, version, kernel, isa, precision, threads, mode, source
    case trainedSteps = "trained_steps"
  }
}

/// Steps `from` (exclusive) to `to` (inclusive) of a run trained by `kernel`.
public struct KernelSteps: Codable, Equatable, Sendable {
  public var from: Int
  public var to: Int
  public var kernel: String

  public init(from: Int, to: Int, kernel: String) {
    self.from = from
    self.to = to
    self.kernel = kernel
  }
}
