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

  /// The file's bytes, tensors in the given order.
  public static func encode(tensors: [(String, Tensor)], metadata: [String: String]) -> Data {
    var header: [String: Any] = ["__metadata__": metadata]
    var offset = 0
    for (name, tensor) in tensors {
      let size = tensor.values.count * 4
      header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + size]]
      offset += size
    }
    var json = try! JSONSerialization.data(
      withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data(capacity: 8 + json.count + offset)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for (_, tensor) in tensors {
      tensor.values.withUnsafeBufferPointer { values in
        for value in values {
          withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
      }
    }
    return data
  }

  /// Reads every F32 tensor and the metadata; anything malformed is a `FormatError`.
  public static func decode(_ data: Data, file: String) throws(FormatError) -> (
    tensors: [String: Tensor], metadata: [String: String]
  ) {
    func fail(_ message: String) -> FormatError { FormatError(file: file, message: message) }
    guard data.count >= 8 else { throw fail("too short for a safetensors file (\(data.count) bytes)") }
    let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) {
      $0 | UInt64($1.element) << (8 * UInt64($1.offset))
    }
    guard headerLength <= UInt64(data.count - 8) else {
      throw fail("header length \(headerLength) exceeds the file (\(data.count) bytes)")
    }
    let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
    guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
      throw fail("the header is not a JSON object")
    }
    let body = data.subdata(in: (8 + Int(headerLength))..<data.count)
    var metadata: [String: String] = [:]
    var tensors: [String: Tensor] = [:]
    for (name, entry) in header {
      if name == "__metadata__" {
        guard let values = entry as? [String: String] else {
          throw fail("__metadata__ must map strings to strings")
        }
        metadata = values
        continue
      }
      guard let entry = entry as? [String: Any], let dtype = entry["dtype"] as? String,
        let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int],
        offsets.count == 2
      else { throw fail("tensor '\(name)' has a malformed header entry") }
      guard dtype == "F32" else { throw fail("tensor '\(name)' has dtype \(dtype), expected F32") }
      let count = shape.reduce(1, *)
      guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] - offsets[0] == count * 4,
        offsets[1] <= body.count
      else {
        throw fail(
          "tensor '\(name)' has data_offsets \(offsets) that do not fit shape \(shape) in \(body.count) bytes"
        )
      }
      var values = [Float](repeating: 0, count: count)
      values.withUnsafeMutableBytes { target in
        body.withUnsafeBytes { source in
          target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offsets[0]..<offsets[1]]))
        }
      }
      tensors[name] = Tensor(
        shape: shape, values: values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) })
    }
    return (tensors, metadata)
  }
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
