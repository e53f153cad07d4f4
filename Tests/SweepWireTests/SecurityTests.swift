import Foundation
import Logging
import SweepWire
import XCTest

/// CURVE keys, their files, and a CURVE ROUTER with the ZAP handler over real libzmq on 127.0.0.1.
final class SecurityTests: XCTestCase {
  func directory(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trac-security-\(name)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
  }

  func testGeneratedKeysRoundTripThroughTheirFilesAndAreNeverOverwritten() throws {
    try XCTSkipUnless(CurveKeyPair.isAvailable, "libzmq without CURVE")
    let keys = directory("files")
    let pair = try CurveKeyPair.generate()
    XCTAssertNotEqual(pair.publicKey, pair.secretKey)
    XCTAssertNotEqual(try CurveKeyPair.generate(), pair, "each pair is fresh")
    let (secret, publicFile) = try CurveKeyFile.write(pair, name: "node1", directory: keys)
    XCTAssertEqual(secret.lastPathComponent, "node1.key")
    XCTAssertEqual(publicFile.lastPathComponent, "node1.pub")
    let mode = try XCTUnwrap(
      try FileManager.default.attributesOfItem(atPath: secret.path)[.posixPermissions] as? Int)
    XCTAssertEqual(mode, 0o600, "the secret key is readable by its owner only")
    XCTAssertEqual(try CurveKeyFile.readSecret(secret), pair)
    XCTAssertEqual(try CurveKeyFile.readPublic(publicFile), pair.publicKey)
    XCTAssertFalse(try String(contentsOf: publicFile, encoding: .utf8).contains(pair.secretKey.z85))

    let original = try Data(contentsOf: secret)
    XCTAssertThrowsError(try CurveKeyFile.write(try CurveKeyPair.generate(), name: "node1", directory: keys))
    {
      XCTAssertEqual($0 as? CurveKeyError, .exists(path: secret.path))
    }
    XCTAssertEqual(try Data(contentsOf: secret), original, "the old key is untouched")
    XCTAssertThrowsError(try CurveKeyFile.write(pair, name: "../evil", directory: keys))
    XCTAssertEqual(try CurveKeyFile.readAuthorized(keys), [pair.publicKey: "node1"])
  }

  func testBadKeyFilesAreErrorsNamingTheFile() throws {
    try XCTSkipUnless(CurveKeyPair.isAvailable, "libzmq without CURVE")
    let keys = directory("bad")
    let pair = try CurveKeyPair.generate()
    let (secret, publicFile) = try CurveKeyFile.write(pair, name: "good", directory: keys)
    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> URL {
      let url = keys.appendingPathComponent(name)
      try Data(text.utf8).write(to: url)
      try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
      return url
    }
    let cases: [(URL, String)] = [
      (keys.appendingPathComponent("missing.key"), "no such file"),
      (try write("short.key", "secret-key = abc\n"), "40 Z85"),
      (try write("junk.key", "hello world\n"), "line 1"),
      (publicFile, "public key file"),
      (
        try write(
          "mismatch.key",
          "public-key = \(try CurveKeyPair.generate().publicKey)\nsecret-key = \(pair.secretKey)\n"),
        "not the secret key's"
      ),
      (try write("open.key", "secret-key = \(pair.secretKey)\n", mode: 0o644), "chmod 600"),
    ]
    for (url, words) in cases {
      XCTAssertThrowsError(try CurveKeyFile.readSecret(url), url.lastPathComponent) { error in
        XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        XCTAssertTrue("\(error)".contains(words), "\(error)")
      }
    }
    XCTAssertThrowsError(
      try CurveKeyFile.readPublic(secret.deletingPathExtension().appendingPathExtension("nope")))
    let broken = try write("broken.pub", "public-key = too-short\n")
    XCTAssertThrowsError(try CurveKeyFile.readAuthorized(keys)) {
      XCTAssertTrue("\($0)".contains(broken.path), "\($0)")
    }
  }

  func testClientKeysNeedBothFiles() throws {
    try XCTSkipUnless(CurveKeyPair.isAvailable, "libzmq without CURVE")
    let keys = directory("client")
    let (secret, _) = try CurveKeyFile.write(try CurveKeyPair.generate(), name: "me", directory: keys)
    let (_, server) = try CurveKeyFile.write(try CurveKeyPair.generate(), name: "server", directory: keys)
    let none = ["XDG_CONFIG_HOME": keys.path]
    XCTAssertNil(try CurveClientKeys.resolve(secret: nil, serverKey: nil, environment: none))
    XCTAssertThrowsError(try CurveClientKeys.resolve(secret: secret.path, serverKey: nil, environment: none))
    {
      XCTAssertTrue("\($0)".contains("--server-key"), "\($0)")
    }
    let fromEnvironment = try CurveClientKeys.resolve(
      secret: nil, serverKey: nil,
      environment: none.merging(
        ["TRAC_SWEEP_CURVE_SECRET": secret.path, "TRAC_SWEEP_SERVER_KEY": server.path]) { $1 })
    XCTAssertEqual(fromEnvironment?.serverKey, try CurveKeyFile.readPublic(server))
  }

  func testPeerTextIsMadeSafeForOneLogLine() {
    let forged = "bad\n2026-01-01 info trac-sweep.coordinator: all good\u{1b}[31m\u{0}"
    let line = loggable(forged)
    XCTAssertFalse(line.contains("\n"))
    XCTAssertFalse(line.unicodeScalars.contains { $0.properties.generalCategory == .control }, line)
    XCTAssertTrue(line.hasPrefix("bad\\n2026"), line)
    XCTAssertLessThanOrEqual(loggable(String(repeating: "x", count: 100_000)).count, 303)
    XCTAssertEqual(loggable("worker-1 on node é"), "worker-1 on node é")
  }

  /// A CURVE ROUTER answers an authorized DEALER only: a DEALER with an unknown key, or without
  /// CURVE at all, never gets a message through, and the refused key is logged.
  func testOnlyAuthorizedKeysGetThroughAndRefusalsAreLogged() throws {
    try XCTSkipUnless(CurveKeyPair.isAvailable, "libzmq without CURVE")
    let context = ZMQContext()
    let server = try CurveKeyPair.generate()
    let friend = try CurveKeyPair.generate()
    let stranger = try CurveKeyPair.generate()
    let log = LogCapture()
    let router = try ZMQSocket(context: context, kind: .router)
    try router.makeCurveServer(server, zapDomain: "test")
    let zap = try ZAPAuthenticator(
      context: context, authorized: [friend.publicKey: "friend"], domain: "test",
      logger: Logger(label: "zap") { _ in log }, server: router)
    defer { zap.stop() }
    try router.bind("tcp://127.0.0.1:*")

    func dealer(_ pair: CurveKeyPair?) throws -> ZMQSocket {
      let socket = try ZMQSocket(context: context, kind: .dealer)
      if let pair { try socket.makeCurveClient(pair, server: server.publicKey) }
      try socket.connect(router.lastEndpoint)
      try socket.send([Data("ping".utf8)])
      return socket
    }
    let refused = try dealer(stranger)
    let plaintext = try dealer(nil)
    let accepted = try dealer(friend)

    let received = try XCTUnwrap(
      try router.receiveWithUserID(timeout: .seconds(10)), "the authorized peer gets through")
    let frames = received.frames
    XCTAssertEqual(frames.last, Data("ping".utf8))
    XCTAssertEqual(received.userID, friend.publicKey.z85, "every message names its connection's key")
    try router.send([frames[0], Data("pong".utf8)])
    XCTAssertEqual(try accepted.receive(timeout: .seconds(10)), [Data("pong".utf8)])
    // The stranger's handshake is refused by ZAP, logged with its key; wait for that line.
    let deadline = Date().addingTimeInterval(10)
    // (A plaintext peer is logged too when libzmq reports the mechanism mismatch, which depends on
    // which side notices first: not asserted.)
    while !log.text.contains(stranger.publicKey.z85) && Date() < deadline {
      Thread.sleep(forTimeInterval: 0.02)
    }
    XCTAssertTrue(log.text.contains("key not authorized"), log.text)
    XCTAssertTrue(log.text.contains(stranger.publicKey.z85), log.text)
    XCTAssertTrue(log.text.contains("127.0.0.1"), log.text)
    XCTAssertFalse(log.text.contains(friend.publicKey.z85), log.text)
    XCTAssertNil(
      try router.receive(timeout: .milliseconds(300)), "nothing from the refused or plaintext peer")
    withExtendedLifetime((refused, plaintext)) {}
  }
}

/// Collects log lines in memory.
final class LogCapture: LogHandler, @unchecked Sendable {
  private let lock = NSLock()
  private var lines: [String] = []
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .trace

  var text: String {
    lock.lock()
    defer { lock.unlock() }
    return lines.joined(separator: "\n")
  }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let fields = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
    lock.lock()
    lines.append("\(event.level) \(event.message) \(fields)")
    lock.unlock()
  }
}
