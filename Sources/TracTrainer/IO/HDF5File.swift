import CHDF5
import Foundation
import TracCore

/// A failed HDF5 call: which call, on which file and key.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
  public let file: String
  public let key: String?
  public let call: String
  public let detail: String

  public var description: String {
    let place = key.map { "\(file): \(String($0))" } ?? file
    return "\(place): \(detail) (\(call) failed)"
  }
}

/// The HDF5 calls this project makes, behind one small type: nothing above it sees an `hid_t`.
public final class HDF5File {
  public let path: String
  private let handle: hid_t

  private static let silenced: Void = { trac_h5_silence_errors() }()

  /// Opens a file read-only, or creates (truncates) it for writing.
  public init(path: String, create: Bool = false) throws(HDF5Error) {
    _ = Self.silenced
    self.path = path
    if create {
      handle = H5Fcreate(path, trac_h5f_acc_trunc(), trac_h5p_default(), trac_h5p_default())
      guard handle >= 0 else {
        throw HDF5Error(file: path, key: nil, call: "H5Fcreate", detail: "cannot create file")
      }
      return
    }
    guard FileManager.default.fileExists(atPath: path) else {
      throw HDF5Error(file: path, key: nil, call: "open", detail: "no such file")
    }
    guard H5Fis_hdf5(path) > 0 else {
      throw HDF5Error(
        file: path, key: nil, call: "H5Fis_hdf5",
        detail: "not an HDF5 file (empty, truncated or another format)")
    }
    handle = H5Fopen(path, trac_h5f_acc_rdonly(), trac_h5p_default())
    guard handle >= 0 else {
      throw HDF5Error(file: path, key: nil, call: "H5Fopen", detail: "cannot open (truncated or damaged?)")
    }
  }

  deinit { H5Fclose(handle) }

  func contains(_ key: String) -> Bool { H5Lexists(handle, key, trac_h5p_default()) > 0 }

  /// The dimensions of a dataset.
  func dimensions(of key: String) throws(HDF5Error) -> [Int] {
    let dataset = try open(key)
    defer { H5Dclose(dataset) }
    return try dimensions(dataset: dataset, key: key)
  }

  /// Reads a numeric dataset as float32 (HDF5 converts float64 and integers).
  func readFloats(_ key: String) throws(HDF5Error) -> (values: [Float], dimensions: [Int]) {
    let dataset = try open(key)
    defer { H5Dclose(dataset) }
    let dims = try dimensions(dataset: dataset, key: key)
    let type = H5Dget_type(dataset)
    defer { H5Tclose(type) }
    let typeClass = H5Tget_class(type)
    guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else {
      throw HDF5Error(file: path, key: key, call: "H5Tget_class", detail: "is not a numeric dataset")
    }
    var values = [Float](repeating: 0, count: dims.reduce(1, *))
    let status = values.withUnsafeMutableBytes {
      H5Dread(
        dataset, trac_h5t_native_float(), trac_h5s_all(), trac_h5s_all(), trac_h5p_default(), $0.baseAddress)
    }
    guard status >= 0 else {
      throw HDF5Error(
        file: path, key: key, call: "H5Dread", detail: "cannot read the data (truncated or damaged?)")
    }
    return (values, dims)
  }

  /// Reads a flag dataset: h5py's bool (an enum over int8), integers, or floats; nonzero is true.
  func readFlags(_ key: String) throws(HDF5Error) -> (values: [Bool], dimensions: [Int]) {
    let dataset = try open(key)
    defer { H5Dclose(dataset) }
    let dims = try dimensions(dataset: dataset, key: key)
    let type = H5Dget_type(dataset)
    defer { H5Tclose(type) }
    let count = dims.reduce(1, *)
    switch H5Tget_class(type) {
    case H5T_ENUM:
      // HDF5 converts enums only to enums: read the stored integers raw and check the base width.
      let base = H5Tget_super(type)
      defer { H5Tclose(base) }
      guard H5Tget_size(base) == 1 else {
        throw HDF5Error(
          file: path, key: key, call: "H5Tget_size", detail: "is an enum wider than one byte, not a bool")
      }
      let native = H5Tget_native_type(type, H5T_DIR_ASCEND)
      defer { H5Tclose(native) }
      var bytes = [UInt8](repeating: 0, count: count)
      let status = bytes.withUnsafeMutableBytes {
        H5Dread(dataset, native, trac_h5s_all(), trac_h5s_all(), trac_h5p_default(), $0.baseAddress)
      }
      guard status >= 0 else {
        throw HDF5Error(file: path, key: key, call: "H5Dread", detail: "cannot read the data")
      }
      return (bytes.map { $0 != 0 }, dims)
    case H5T_INTEGER, H5T_FLOAT:
      let (values, _) = try readFloats(key)
      return (values.map { $0 != 0 }, dims)
    default:
      throw HDF5Error(
        file: path, key: key, call: "H5Tget_class", detail: "is neither bool, integer nor float")
    }
  }

  /// Writes a float32 dataset, gzip-compressed in chunks (DSRL's layout). Used by tests and tools.
  public func write(_ key: String, floats: [Float], dimensions: [Int]) throws {
    try floats.withUnsafeBytes {
      try write(
        key, dimensions: dimensions, fileType: trac_h5t_ieee_f32le(), memoryType: trac_h5t_native_float(),
        data: $0.baseAddress!)
    }
  }

  /// Writes a float64 dataset (DSRL files sometimes store observations so).
  public func write(_ key: String, doubles: [Double], dimensions: [Int]) throws {
    try doubles.withUnsafeBytes {
      try write(
        key, dimensions: dimensions, fileType: trac_h5t_native_double(), memoryType: trac_h5t_native_double(),
        data: $0.baseAddress!)
    }
  }

  /// Writes flags as plain uint8 (the other way DSRL files store terminals and timeouts).
  public func write(_ key: String, bytes: [UInt8], dimensions: [Int]) throws {
    try bytes.withUnsafeBytes {
      try write(
        key, dimensions: dimensions, fileType: trac_h5t_std_u8le(), memoryType: trac_h5t_native_uint8(),
        data: $0.baseAddress!)
    }
  }

  /// Writes a bool dataset as h5py does: an enum {FALSE = 0, TRUE = 1} over int8.
  public func write(_ key: String, flags: [Bool], dimensions: [Int]) throws {
    let enumType = H5Tenum_create(trac_h5t_native_int8())
    defer { H5Tclose(enumType) }
    var falseValue: Int8 = 0
    var trueValue: Int8 = 1
    H5Tenum_insert(enumType, "FALSE", &falseValue)
    H5Tenum_insert(enumType, "TRUE", &trueValue)
    let bytes = flags.map { Int8($0 ? 1 : 0) }
    try bytes.withUnsafeBytes {
      try write(key, dimensions: dimensions, fileType: enumType, memoryType: enumType, data: $0.baseAddress!)
    }
  }

  private func write(
    _ key: String, dimensions: [Int], fileType: hid_t, memoryType: hid_t, data: UnsafeRawPointer
  ) throws(HDF5Error) {
    var dims = dimensions.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(dims.count), &dims, nil)
    defer { H5Sclose(space) }
    let properties = H5Pcreate(trac_h5p_dataset_create())
    defer { H5Pclose(properties) }
    if dims.allSatisfy({ $0 > 0 }) {
      var chunk = dims
      chunk[0] = min(chunk[0], 4096)
      H5Pset_chunk(properties, Int32(chunk.count), &chunk)
      H5Pset_deflate(properties, 4)
    }
    let dataset = H5Dcreate2(handle, key, fileType, space, trac_h5p_default(), properties, trac_h5p_default())
    guard dataset >= 0 else {
      throw HDF5Error(file: path, key: key, call: "H5Dcreate2", detail: "cannot create")
    }
    defer { H5Dclose(dataset) }
    guard H5Dwrite(dataset, memoryType, trac_h5s_all(), trac_h5s_all(), trac_h5p_default(), data) >= 0 else {
      throw HDF5Error(file: path, key: key, call: "H5Dwrite", detail: "cannot write")
    }
  }

  private func open(_ key: String) throws(HDF5Error) -> hid_t {
    guard contains(key) else { throw HDF5Error(file: path, key: key, call: "H5Lexists", detail: "missing") }
    let dataset = H5Dopen2(handle, key, trac_h5p_default())
    guard dataset >= 0 else {
      throw HDF5Error(file: path, key: key, call: "H5Dopen2", detail: "cannot open the dataset")
    }
    return dataset
  }

  private func dimensions(dataset: hid_t, key: String) throws(HDF5Error) -> [Int] {
    let space = H5Dget_space(dataset)
    defer { H5Sclose(space) }
    let rank = H5Sget_simple_extent_ndims(space)
    guard rank >= 0 else {
      throw HDF5Error(file: path, key: key, call: "H5Sget_simple_extent_ndims", detail: "has no shape")
    }
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    H5Sget_simple_extent_dims(space, &dims, nil)
    return dims.map { Int($0) }
  }
}
