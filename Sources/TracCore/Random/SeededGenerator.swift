import Foundation

/// A seeded xoshiro256** generator: fast, reproducible across platforms and Swift versions.
///
/// Every random choice in a run (segment sampling, initialisation, shuffling, dropout) draws from
/// its own stream, derived from the run's seed and a stream name, so changing one consumer never
/// shifts the numbers another one sees.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64, stream: String = "") {
    // FNV-1a of the stream name, mixed into the seed; SplitMix64 expands it into the state.
    var streamHash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in stream.utf8 {
      streamHash = (streamHash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    var splitMix = seed ^ streamHash
    func next() -> UInt64 {
      splitMix &+= 0x9e37_79b9_7f4a_7c15
      var z = splitMix
      z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
      z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
      return z ^ (z >> 31)
    }
    state = (next(), next(), next(), next())
  }

  /// The generator's whole state, four words: what a checkpoint saves to continue the stream exactly.
  public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

  /// A generator that continues from `stateWords` (as read back from a checkpoint). Nil unless there
  /// are exactly four words and not all are zero (xoshiro's one invalid state).
  public init?(stateWords words: [UInt64]) {
    guard words.count == 4, words.contains(where: { $0 != 0 }) else { return nil }
    state = (words[0], words[1], words[2], words[3])
  }

  @inline(__always)
  public mutating func next() -> UInt64 {
    let result = rotateLeft(state.1 &* 5, 7) &* 9
    let shifted = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= shifted
    state.3 = rotateLeft(state.3, 45)
    return result
  }

  @inline(__always)
  private func rotateLeft(_ value: UInt64, _ count: UInt64) -> UInt64 {
    (value << count) | (value >> (64 - count))
  }

  /// A uniform integer in `0..<bound` (Lemire's method with rejection, so it is unbiased).
  public mutating func uniformInt(below bound: Int) -> Int {
    precondition(bound > 0, "bound must be positive")
    let range = UInt64(bound)
    var product = next().multipliedFullWidth(by: range)
    if product.low < range {
      let threshold = (0 &- range) % range
      while product.low < threshold {
        product = next().multipliedFullWidth(by: range)
      }
    }
    return Int(product.high)
  }

  /// A uniform double in [0, 1) with 53 random bits.
  public mutating func uniformDouble() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A standard normal sample (Box-Muller; one of the pair is discarded for simplicity).
  public mutating func gaussian() -> Double {
    var u1 = uniformDouble()
    while u1 <= 0 { u1 = uniformDouble() }
    let u2 = uniformDouble()
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
  }

  /// Fills `buffer` with a uniformly random permutation of `0..<buffer.count` (Fisher-Yates).
  public mutating func permutation(into buffer: inout [Int32]) {
    for index in buffer.indices { buffer[index] = Int32(index) }
    var index = buffer.count - 1
    while index > 0 {
      let other = uniformInt(below: index + 1)
      buffer.swapAt(index, other)
      index -= 1
    }
  }
}
