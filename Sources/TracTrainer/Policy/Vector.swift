/// Eight float32 lanes (one AVX register): the unit of the network's elementwise passes.
///
/// The passes select lanes with integer masks (all ones or all zeros per lane) and bitwise `&`:
/// Swift's `SIMDMask` comparisons compile to per-lane scalar code, these to single instructions.
typealias Lanes = SIMD8<Float>
typealias LaneMask = SIMD8<Int32>

extension UnsafeMutablePointer where Pointee == Float {
  @inline(__always)
  func lanes(at index: Int) -> Lanes {
    UnsafeRawPointer(self + index).loadUnaligned(as: Lanes.self)
  }

  @inline(__always)
  func store(_ value: Lanes, at index: Int) {
    UnsafeMutableRawPointer(self + index).storeBytes(of: value, as: Lanes.self)
  }
}

extension SIMD8 where Scalar == Float {
  /// Keeps the lanes where `mask` is all ones, zeroes the others.
  @inline(__always)
  func masked(_ mask: LaneMask) -> Lanes {
    unsafeBitCast(unsafeBitCast(self, to: LaneMask.self) & mask, to: Lanes.self)
  }

  /// All ones where the lane is positive (sign bit clear and not zero), for ReLU and its gradient.
  @inline(__always)
  var positiveMask: LaneMask {
    let bits = unsafeBitCast(self, to: LaneMask.self)
    // bits > 0 exactly when the float is > 0 (NaN aside); 0 - bits is then negative.
    return ((0 &- bits) &>> 31) & ~(bits &>> 31)
  }
}

/// Keep masks of dropout with p = 1/4: a unit is dropped when both of its two random bits are 0,
/// so one 64-bit draw serves 32 units.
enum DropoutBits {
  /// Bit 2j of the result says whether unit j (of 32) is kept.
  @inline(__always)
  static func keepBits(_ draw: UInt64) -> UInt64 { (draw | (draw >> 1)) & 0x5555_5555_5555_5555 }

  /// Shifts that move bit 2j of a 16-bit chunk to the sign bit of lane j.
  private static let laneShifts = LaneMask(31, 29, 27, 25, 23, 21, 19, 17)

  /// The keep mask of the 8 units `8 * block ..< 8 * block + 8` (block 0...3) of one draw.
  @inline(__always)
  static func mask(_ keep: UInt64, block: Int) -> LaneMask {
    let chunk = LaneMask(repeating: Int32(truncatingIfNeeded: (keep >> UInt64(16 * block)) & 0xFFFF))
    return (chunk &<< laneShifts) &>> 31
  }
}
