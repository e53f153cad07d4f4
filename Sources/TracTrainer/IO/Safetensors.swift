import Foundation
import TracCore

/// safetensors files of float32 tensors (https://huggingface.co/docs/safetensors): an 8-byte
/// little-endian header length, a JSON header (tensor name -> dtype, shape, data_offsets, plus
/// `__metadata__` of strings), padded with spaces to 8 bytes, then the raw little-endian data.
public enum Safetensors {
  public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
      self.shape = shape
      self.values = values
    }
  }

  public struct FormatError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let message: String
    public var description: String { "\(file): \(message)" }
  }

  /// The dtypes this project reads and writes: float32 weights, and for checkpoints float64
  /// (exact sums), int32 (indices) and uint8 (bytes).
  public enum DType: String, Sendable {
    case f32 = "F32"
    case f64 = "F64"
    case i32 = "I32"
    case u8 = "U8"

    public var size: Int {
      switch self {
      case .f32, .i32: return 4
      case .f64: return 8
      case .u8: return 1
      }
    }
  }

  /// A tensor of any supported dtype as its little-endian bytes.
  public struct RawTensor: Equatable, Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: Data

    public init(dtype: DType, shape: [Int], bytes: Data) {
      precondition(bytes.count == shape.reduce(1, *) * dtype.size, "bytes do not fit shape and dtype")
      self.dtype = dtype
      self.shape = shape
      self.bytes = bytes
    }

    public init(_ values: [Float], shape: [Int]? = nil) {
      self.init(dtype: .f32, shape: shape ?? [values.count], bytes: littleEndianBytes(values))
    }
    public init(_ values: [Double]) {
      self.init(dtype: .f64, shape: [values.count], bytes: littleEndianBytes(values))
    }
    public init(_ values: [Int32]) {
      self.init(dtype: .i32, shape: [values.count], bytes: littleEndianBytes(values))
    }
    public init(bytes: Data) { self.init(dtype: .u8, shape: [bytes.count], bytes: bytes) }

    public var floats: [Float]? { dtype == .f32 ? fromLittleEndianBytes(bytes) : nil }
    public var doubles: [Double]? { dtype == .f64 ? fromLittleEndianBytes(bytes) : nil }
    public var int32s: [Int32]? { dtype == .i32 ? fromLittleEndianBytes(bytes) : nil }
  }

  /// The file's bytes, tensors in the given order.
  public static func encode(tensors: [(String, Tensor)], metadata: [String: String]) -> Data {
    encode(raw: tensors.map { ($0.0, RawTensor($0.1.values, shape: $0.1.shape)) }, metadata: metadata)
  }

  /// The file's bytes, tensors of any supported dtype in the given order.
  public static func encode(raw tensors: [(String, RawTensor)], metadata: [String: String]) -> Data {
    var data = SafetensorsHeader.encode(
      tensors: tensors.map { ($0.0, $0.1.dtype.rawValue, $0.1.shape, $0.1.bytes.count) }, metadata: metadata)
    for (_, tensor) in tensors { data.append(tensor.bytes) }
    return data
  }

  /// Reads every F32 tensor and the metadata; anything malformed is a `FormatError`.
  public static func decode(_ data: Data, file: String) throws(FormatError) -> (
    tensors: [String: Tensor], metadata: [String: String]
  ) {
    let (raw, metadata) = try decode(raw: data, file: file, dtypes: ["F32"])
    return (raw.mapValues { Tensor(shape: $0.shape, values: $0.floats!) }, metadata)
  }

  /// Reads every tensor (of the `dtypes` allowed) and the metadata; anything malformed is a
  /// `FormatError`. The data of every tensor must lie within the file.
  public static func decode(raw data: Data, file: String, dtypes: Set<String> = ["F32", "F64", "I32", "U8"])
    throws(FormatError) -> (tensors: [String: RawTensor], metadata: [String: String])
  {
    let (tensors, metadata, _) = try decodeFile(raw: data, file: file, dtypes: dtypes)
    return (tensors, metadata)
  }

  /// `decode(raw:)`, and the body: every tensor's bytes, in file order.
  static func decodeFile(raw data: Data, file: String, dtypes: Set<String> = ["F32", "F64", "I32", "U8"])
    throws(FormatError) -> (tensors: [String: RawTensor], metadata: [String: String], body: Data)
  {
    func fail(_ message: String) -> FormatError { FormatError(file: file, message: message) }
    let header: SafetensorsHeader
    do throws(SafetensorsHeader.Problem) { header = try SafetensorsHeader(parsing: data) } catch {
      switch error {
      case .tooShort(let size): throw fail("too short for a safetensors file (\(size) bytes)")
      case .tooLong(let length, let size):
        throw fail("header length \(length) exceeds the file (\(size) bytes)")
      case .notJSONObject: throw fail("the header is not a JSON object")
      }
    }
    if header.malformedMetadata { throw fail("__metadata__ must map strings to strings") }
    if let name = header.malformedEntries.first {
      throw fail("tensor '\(name)' has a malformed header entry")
    }
    let body = data.subdata(in: (data.startIndex + header.dataStart)..<data.endIndex)
    var tensors: [String: RawTensor] = [:]
    for (name, entry) in header.tensors {
      guard let dtypeName = entry.dtype, let shape = entry.shape, let offsets = entry.dataOffsets,
        offsets.count == 2
      else { throw fail("tensor '\(name)' has a malformed header entry") }
      guard dtypes.contains(dtypeName), let dtype = DType(rawValue: dtypeName) else {
        throw fail(
          "tensor '\(name)' has dtype \(dtypeName), expected \(dtypes.sorted().joined(separator: " or "))")
      }
      guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(name)' has a negative dimension") }
      let count = shape.reduce(1, *)
      guard offsets[0] >= 0, offsets[1] - offsets[0] == count * dtype.size, offsets[1] <= body.count
      else {
        throw fail(
          "tensor '\(name)' has data_offsets \(offsets) that do not fit shape \(shape) in \(body.count) bytes"
        )
      }
      tensors[name] = RawTensor(
        dtype: dtype, shape: shape, bytes: body.subdata(in: offsets[0]..<offsets[1]))
    }
    return (tensors, header.metadata ?? [:], body)
  }
}

/// The little-endian bytes of numbers (one copy on little-endian machines).
func littleEndianBytes<T: FixedWidthIntegerOrFloat>(_ values: [T]) -> Data {
  #if _endian(little)
    return values.withUnsafeBytes { Data($0) }
  #else
    var data = Data(capacity: values.count * MemoryLayout<T>.size)
    for value in values {
      withUnsafeBytes(of: value.littleEndianRepresentation) { data.append(contentsOf: $0) }
    }
    return data
  #endif
}

/// Numbers from their little-endian bytes.
func fromLittleEndianBytes<T: FixedWidthIntegerOrFloat>(_ bytes: Data) -> [T] {
  var values = [T](repeating: .zeroValue, count: bytes.count / MemoryLayout<T>.size)
  values.withUnsafeMutableBytes { target in _ = bytes.copyBytes(to: target) }
  #if !_endian(little)
    values = values.map { $0.littleEndianRepresentation }
  #endif
  return values
}

/// The element types of safetensors tensors here.
protocol FixedWidthIntegerOrFloat {
  static var zeroValue: Self { get }
  /// The value with its bytes in little-endian order (a no-op on little-endian machines).
  var littleEndianRepresentation: Self { get }
}
extension Float: FixedWidthIntegerOrFloat {
  static var zeroValue: Float { 0 }
  var littleEndianRepresentation: Float { Float(bitPattern: bitPattern.littleEndian) }
}
extension Double: FixedWidthIntegerOrFloat {
  static var zeroValue: Double { 0 }
  var littleEndianRepresentation: Double { Double(bitPattern: bitPattern.littleEndian) }
}
extension Int32: FixedWidthIntegerOrFloat {
  static var zeroValue: Int32 { 0 }
  var littleEndianRepresentation: Int32 { littleEndian }
}

/// The policy file (docs/FORMATS.md).
public enum PolicyFile {
  public static let format = "trac-policy/1"

  public static func write(
    _ parameters: ParameterBuffer, task: TaskInfo, runID: String, extraMetadata: [String: String] = [:],
    to url: URL
  ) throws {
    let shape = parameters.shape
    var metadata = extraMetadata
    metadata["format"] = format
    metadata["hidden_activation"] = "relu"
    metadata["output_activation"] = "tanh"
    metadata["task"] = task.dsrlID
    metadata["obs_dim"] = String(shape.observationDim)
    metadata["act_dim"] = String(shape.actionDim)
    metadata["run_id"] = runID
    let tensors = shape.tensors.map {
      ($0.name, Safetensors.Tensor(shape: $0.shape, values: parameters.values(of: $0)))
    }
    try Safetensors.encode(tensors: tensors, metadata: metadata).write(to: url, options: .atomic)
  }

  /// Reads a policy file and checks it against docs/FORMATS.md.
  public static func read(_ url: URL) throws -> (parameters: ParameterBuffer, metadata: [String: String]) {
    let file = url.path
    let (tensors, metadata) = try Safetensors.decode(try Data(contentsOf: url), file: file)
    guard metadata["format"] == format else {
      throw Safetensors.FormatError(
        file: file, message: "metadata format is \(metadata["format"] ?? "missing"), expected \(format)")
    }
    guard let weight0 = tensors["layers.0.weight"], weight0.shape.count == 2,
      let weight2 = tensors["layers.2.weight"], weight2.shape.count == 2
    else {
      throw Safetensors.FormatError(
        file: file, message: "layers.0.weight or layers.2.weight is missing or not 2-D")
    }
    let shape = PolicyShape(observationDim: weight0.shape[1], actionDim: weight2.shape[0])
    let parameters = ParameterBuffer(shape: shape)
    for tensor in shape.tensors {
      guard let stored = tensors[tensor.name] else {
        throw Safetensors.FormatError(file: file, message: "tensor \(tensor.name) is missing")
      }
      guard stored.shape == tensor.shape else {
        throw Safetensors.FormatError(
          file: file, message: "tensor \(tensor.name) has shape \(stored.shape), expected \(tensor.shape)")
      }
      guard stored.values.allSatisfy(\.isFinite) else {
        throw Safetensors.FormatError(file: file, message: "tensor \(tensor.name) holds non-finite values")
      }
      parameters.setValues(stored.values, of: tensor)
    }
    return (parameters, metadata)
  }
}
