import Foundation

/// The header of a safetensors file (https://huggingface.co/docs/safetensors, docs/FORMATS.md): an
/// 8-byte little-endian length, then that many bytes of JSON (tensor name -> `dtype`, `shape`,
/// `data_offsets`, and `__metadata__` mapping strings to strings), padded with spaces to a multiple of
/// 8, then the tensors' bytes. The project's one reader and writer of it: the trainer's policy and
/// checkpoint files, the wire's checkpoint header and the coordinator's result check use it.
public struct SafetensorsHeader: Sendable {
  /// One tensor's entry as the header states it; a field that is missing or not of its JSON type is nil.
  public struct Entry: Equatable, Sendable {
    public var dtype: String?
    public var shape: [Int]?
    public var dataOffsets: [Int]?

    public init(dtype: String?, shape: [Int]?, dataOffsets: [Int]?) {
      self.dtype = dtype
      self.shape = shape
      self.dataOffsets = dataOffsets
    }
  }

  /// Why bytes have no readable header.
  public enum Problem: Error, Equatable, Sendable {
    /// Fewer than the 8 bytes of the length.
    case tooShort(fileSize: Int)
    /// The stated length runs past the file, or past the reader's limit.
    case tooLong(length: UInt64, fileSize: Int)
    /// The header is not a JSON object.
    case notJSONObject
  }

  /// The tensors' entries that are JSON objects, by name.
  public var tensors: [String: Entry]
  /// The names of the entries that are not JSON objects.
  public var malformedEntries: [String]
  /// `__metadata__`; nil when the header has none, or one that does not map strings to strings.
  public var metadata: [String: String]?
  /// Whether there is a `__metadata__` that does not map strings to strings.
  public var malformedMetadata: Bool
  /// The offset of the tensors' bytes in the file: 8 plus the header's length.
  public var dataStart: Int

  /// Reads the header of a file's bytes; a header longer than `maximumLength` is `tooLong`.
  public init(parsing data: Data, maximumLength: Int = .max) throws(Problem) {
    guard data.count >= 8 else { throw .tooShort(fileSize: data.count) }
    var length: UInt64 = 0
    for index in 0..<8 { length |= UInt64(data[data.startIndex + index]) << (8 * UInt64(index)) }
    guard length <= UInt64(data.count - 8), length <= UInt64(maximumLength) else {
      throw .tooLong(length: length, fileSize: data.count)
    }
    let start = data.startIndex + 8
    guard
      let object = try? JSONSerialization.jsonObject(with: data.subdata(in: start..<(start + Int(length))))
        as? [String: Any]
    else { throw .notJSONObject }
    dataStart = 8 + Int(length)
    tensors = [:]
    malformedEntries = []
    metadata = nil
    malformedMetadata = false
    for (name, value) in object {
      if name == "__metadata__" {
        metadata = value as? [String: String]
        malformedMetadata = metadata == nil
        continue
      }
      guard let entry = value as? [String: Any] else {
        malformedEntries.append(name)
        continue
      }
      tensors[name] = Entry(
        dtype: entry["dtype"] as? String, shape: entry["shape"] as? [Int],
        dataOffsets: entry["data_offsets"] as? [Int])
    }
    malformedEntries.sort()
  }

  /// The header's bytes (its length, then the JSON with sorted keys and no whitespace, padded with
  /// spaces) for tensors laid out one after the other in the given order; `metadata` nil: no
  /// `__metadata__`. The tensors' bytes follow it.
  public static func encode(
    tensors: [(name: String, dtype: String, shape: [Int], byteCount: Int)], metadata: [String: String]?
  ) -> Data {
    var header: [String: Any] = [:]
    if let metadata { header["__metadata__"] = metadata }
    var offset = 0
    for tensor in tensors {
      header[tensor.name] = [
        "dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [offset, offset + tensor.byteCount],
      ]
      offset += tensor.byteCount
    }
    var json = try! JSONSerialization.data(
      withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data(capacity: 8 + json.count)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    return data
  }
}
