import Foundation

/// The file `trac-sweep train --spec FILE` reads (docs/FORMATS.md): a run's `RunSpec` as its
/// canonical JSON, the very bytes its run id is the hash of. A worker hands the trainer its run this
/// way, so the trainer trains exactly the run the coordinator published: no number is printed and
/// parsed back on the way.
public enum RunSpecFile {
  /// The file's bytes: the spec's canonical JSON.
  public static func encode(_ spec: RunSpec) -> Data { spec.canonicalJSON }

  /// Writes the file (atomically: a reader sees the whole spec or none).
  public static func write(_ spec: RunSpec, to url: URL) throws(FileSystemError) {
    try AtomicFile.write(encode(spec), to: url)
  }

  /// The spec in `url`; a file that is not one is an input error naming what is wrong with it.
  public static func read(_ url: URL) throws(TracError) -> RunSpec {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      throw .invalidInput("cannot read the spec file \(url.path): \(error.localizedDescription)")
    }
    return try decode(data, file: url.path)
  }

  /// The spec in `data`, checked: every key of a spec and no other, of this trainer's format, and
  /// the canonical JSON of what it decodes to (sorted keys, no whitespace, optional keys left out at
  /// their defaults; a final newline is allowed), so its run id is the hash of the file.
  public static func decode(_ data: Data, file: String) throws(TracError) -> RunSpec {
    func fail(_ message: String) -> TracError { .invalidInput("the spec file \(file) \(message)") }
    var bytes = data
    while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
      bytes.removeLast()
    }
    guard (try? JSONSerialization.jsonObject(with: bytes)) is [String: Any] else {
      throw fail("is not a JSON object")
    }
    let spec: RunSpec
    do { spec = try JSONCodec.decoder.decode(RunSpec.self, from: bytes) } catch let error as DecodingError {
      throw fail("is not a run spec: \(describe(error))")
    } catch {
      throw fail("is not a run spec: \(error)")
    }
    guard spec.trainerFormatVersion == RunSpec.trainerFormatVersion else {
      throw fail(
        "is of trainer format version \(spec.trainerFormatVersion); this trainer computes version "
          + "\(RunSpec.trainerFormatVersion) (a run id names the result of one format)")
    }
    let canonical = spec.canonicalJSON
    guard canonical == bytes else {
      let unknown = keyPaths(bytes).subtracting(keyPaths(canonical)).sorted()
      if !unknown.isEmpty {
        throw fail(
          "has keys a spec does not have, or has at their defaults (where the canonical JSON leaves them "
            + "out): \(unknown.joined(separator: ", "))")
      }
      throw fail(
        "is not the canonical JSON of its spec (sorted keys, no whitespace, numbers as the trainer prints "
          + "them): its bytes hash to run id \(RunSpec.id(ofCanonicalJSON: bytes)), its spec is run \(spec.runID)"
      )
    }
    return spec
  }

  /// `a`, `a.b`: the keys of a JSON object and of the objects in it.
  private static func keyPaths(_ data: Data) -> Set<String> {
    func paths(_ object: [String: Any], _ prefix: String) -> Set<String> {
      var result = Set<String>()
      for (key, value) in object {
        result.insert(prefix + key)
        if let inner = value as? [String: Any] { result.formUnion(paths(inner, prefix + key + ".")) }
      }
      return result
    }
    return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).map { paths($0, "") } ?? []
  }

  private static func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context, _ last: (any CodingKey)? = nil) -> String {
      let keys = context.codingPath + (last.map { [$0] } ?? [])
      return keys.isEmpty ? "the top level" : keys.map(\.stringValue).joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, let context): return "it has no \(path(context, key))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
      return "\(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
  }
}
