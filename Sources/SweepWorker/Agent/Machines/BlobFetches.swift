import Foundation
import SweepWire
import TracCore

/// What the worker knows of each content-addressed file it needs (datasets, checkpoints, BC stages):
/// held in the cache, partly there, or being fetched one chunk at a time (docs/PROTOCOL.md, `fetch`).
public struct BlobFetches: Sendable {
  public enum State: Equatable, Sendable {
    /// Complete and verified in the cache.
    case held
    /// The bytes an earlier fetch left, where a new one resumes.
    case partial(bytes: Int)
    case fetching(Fetching)
  }

  /// A fetch under way: one chunk request in flight.
  public struct Fetching: Equatable, Sendable {
    public let blob: BlobRef
    /// Bytes in the cache: the offset of the next request.
    public var received: Int
    public var requestedAt: WorkerInstant
    /// When to ask again if no chunk has come: a chunk the coordinator dropped (flow control) or a
    /// `busy` answer must not leave the fetch waiting for ever.
    public var askAgainAt: WorkerInstant
  }

  /// What to do with a `chunk`.
  public enum ChunkVerdict: Equatable, Sendable {
    /// Not being fetched (any more): ignored.
    case notFetched
    /// An answer to a request sent before a reconnection: the current one is still in flight.
    case stale(have: Int)
    /// The fetch cannot go on.
    case failed(reason: String)
    case write(BlobRef, Data)
  }

  /// What a written chunk leads to.
  public enum Progress: Equatable, Sendable {
    case notFetched
    case next(Fetch)
    case complete(BlobRef)
  }

  /// A chunk not received this long after it was asked for is asked for again.
  public static let chunkRetryInterval: Duration = .seconds(30)
  /// After a `busy` answer to a fetch, the chunk is asked for again this much later.
  public static let busyRetryDelay: Duration = .milliseconds(500)

  public private(set) var blobs: [SHA256Digest: State] = [:]
  let chunkSize: Int

  public init(chunkSize: Int = BlobCache.chunkSize) { self.chunkSize = chunkSize }

  public func isHeld(_ sha256: SHA256Digest) -> Bool { blobs[sha256] == .held }

  public func isFetching(_ sha256: SHA256Digest) -> Bool {
    if case .fetching = blobs[sha256] { true } else { false }
  }

  /// The fetches under way, with the offset of the chunk asked for.
  public var offsets: [SHA256Digest: Int] {
    blobs.compactMapValues { if case .fetching(let fetch) = $0 { fetch.received } else { nil } }
  }

  /// What the cache holds now (an assignment came): a fetch under way stays as it is.
  public mutating func note(_ sha256: SHA256Digest, _ held: CachedBlob) {
    guard !isFetching(sha256) else { return }
    switch held {
    case .complete: blobs[sha256] = .held
    case .partial(let bytes): blobs[sha256] = bytes > 0 ? .partial(bytes: bytes) : nil
    }
  }

  /// Starts fetching from what the cache holds: the first request, nil when it is held or being fetched.
  public mutating func start(_ blob: BlobRef, now: WorkerInstant) -> Fetch? {
    let received: Int
    switch blobs[blob.sha256] {
    case .held, .fetching: return nil
    case .partial(let bytes): received = bytes
    case nil: received = 0
    }
    let fetch = Fetching(blob: blob, received: received, requestedAt: now, askAgainAt: now)
    blobs[blob.sha256] = .fetching(fetch)
    return request(fetch, now: now)
  }

  /// Asks for the next piece: from what the cache holds, at most one chunk.
  private mutating func request(_ fetch: Fetching, now: WorkerInstant) -> Fetch {
    var fetch = fetch
    fetch.requestedAt = now
    fetch.askAgainAt = now + Self.chunkRetryInterval
    blobs[fetch.blob.sha256] = .fetching(fetch)
    let length = max(min(chunkSize, fetch.blob.size - fetch.received), 1)
    return Fetch(sha256: fetch.blob.sha256, offset: fetch.received, length: length)
  }

  private var fetching: [Fetching] {
    blobs.keys.sorted().compactMap { if case .fetching(let fetch) = blobs[$0] { fetch } else { nil } }
  }

  /// The requests due again: unanswered past their time, or answered `busy`.
  public mutating func due(now: WorkerInstant) -> [Fetch] {
    fetching.filter { now >= $0.askAgainAt }.map { request($0, now: now) }
  }

  /// After `welcome`: the requests sent before that connection's `hello` may have been lost with the old one.
  public mutating func resend(sentBefore helloSentAt: WorkerInstant, now: WorkerInstant) -> [Fetch] {
    fetching.filter { $0.requestedAt <= helloSentAt }.map { request($0, now: now) }
  }

  /// The coordinator is busy: the chunk is asked for again shortly (docs/PROTOCOL.md, "Flow control").
  public mutating func busy(_ sha256: SHA256Digest, now: WorkerInstant) {
    guard case .fetching(var fetch) = blobs[sha256] else { return }
    fetch.askAgainAt = now + Self.busyRetryDelay
    blobs[sha256] = .fetching(fetch)
  }

  public func chunkReceived(_ chunk: Chunk, attachments: [Data]) -> ChunkVerdict {
    guard case .fetching(let fetch) = blobs[chunk.sha256] else { return .notFetched }
    guard attachments.count == 1, let bytes = attachments.first else {
      return .failed(reason: "a chunk came with \(attachments.count) attachments instead of 1")
    }
    guard chunk.offset == fetch.received else { return .stale(have: fetch.received) }
    guard !bytes.isEmpty || chunk.offset >= chunk.total else {
      return .failed(reason: "the coordinator sent no bytes at offset \(chunk.offset) of \(chunk.total)")
    }
    return .write(fetch.blob, bytes)
  }

  /// A chunk is in the cache; `received` is what the cache now holds.
  public mutating func written(
    _ sha256: SHA256Digest, received: Int, complete: Bool, now: WorkerInstant
  ) -> Progress {
    guard case .fetching(var fetch) = blobs[sha256] else { return .notFetched }
    guard complete else {
      fetch.received = received
      return .next(request(fetch, now: now))
    }
    blobs[sha256] = .held
    return .complete(fetch.blob)
  }

  /// The fetch cannot go on: what it was fetching, nil when nothing was.
  public mutating func failed(_ sha256: SHA256Digest) -> BlobRef? {
    guard case .fetching(let fetch) = blobs[sha256] else { return nil }
    blobs[sha256] = nil
    return fetch.blob
  }

  /// Nobody waits for it any more: a later fetch resumes where this one stopped.
  public mutating func abandon(_ sha256: SHA256Digest) {
    guard case .fetching(let fetch) = blobs[sha256] else { return }
    blobs[sha256] = fetch.received > 0 ? .partial(bytes: fetch.received) : nil
  }

  public mutating func abandonAll() {
    for sha256 in blobs.keys.sorted() { abandon(sha256) }
  }

  /// The file left the cache (a checkpoint is moved into the attempt's directory, used once).
  public mutating func consumed(_ sha256: SHA256Digest) {
    if blobs[sha256] == .held { blobs[sha256] = nil }
  }
}
