import Foundation

/// The bytes of sent messages that libzmq still holds, per peer: counted when a message is queued,
/// released when libzmq is done with it (written to the kernel's socket, or dropped with the peer's
/// connection). A peer that does not read its replies holds them here, so the coordinator can refuse
/// to queue more for it (docs/PROTOCOL.md, "Flow control") instead of growing without bound.
///
/// Thread-safe: libzmq releases bytes on its I/O thread.
public final class OutboundLedger: @unchecked Sendable {
  private let lock = NSLock()
  private var byPeer: [Data: Int] = [:]
  private var held = 0
  private var peak = 0

  public init() {}

  /// Bytes queued for `peer` and not yet handed to the kernel.
  public func outstanding(_ peer: Data) -> Int {
    lock.lock()
    defer { lock.unlock() }
    return byPeer[peer] ?? 0
  }

  /// Bytes queued for every peer together.
  public var total: Int {
    lock.lock()
    defer { lock.unlock() }
    return held
  }

  /// The most ever held at once (since start).
  public var highWater: Int {
    lock.lock()
    defer { lock.unlock() }
    return peak
  }

  func add(_ bytes: Int, for peer: Data) {
    lock.lock()
    byPeer[peer, default: 0] += bytes
    held += bytes
    peak = max(peak, held)
    lock.unlock()
  }

  func release(_ bytes: Int, for peer: Data) {
    lock.lock()
    if let current = byPeer[peer] {
      let left = current - bytes
      byPeer[peer] = left > 0 ? left : nil
    }
    held -= bytes
    lock.unlock()
  }
}

/// One frame's claim on the ledger, handed to libzmq with the frame's buffer and given back when
/// libzmq frees it.
final class LedgerTicket {
  let ledger: OutboundLedger
  let peer: Data
  let bytes: Int

  init(ledger: OutboundLedger, peer: Data, bytes: Int) {
    self.ledger = ledger
    self.peer = peer
    self.bytes = bytes
    ledger.add(bytes, for: peer)
  }

  deinit { ledger.release(bytes, for: peer) }
}
