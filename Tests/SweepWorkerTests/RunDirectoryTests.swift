import Foundation
import SweepWorker
import TracCore
import TracSweepTesting
import XCTest

final class RunDirectoryTests: XCTestCase {
  private func key(_ runID: String, _ attempt: Int) -> AttemptID {
    AttemptID(RunID(stringLiteral: runID), attempt)
  }

  private func writeArtifacts(_ attempt: AttemptDirectory) throws {
    for name in AttemptDirectory.artifactNames {
      try Data("\(name) of \(attempt.key)".utf8).write(
        to: attempt.outputDirectory.appendingPathComponent(name))
    }
  }

  func testLayoutIsRunsRunIDAttemptN() throws {
    let work = try makeScratchDirectory(self)
    let attempt = try RunDirectory(workDirectory: work).prepare(key("00aa11bb22cc33dd", 3))
    XCTAssertEqual(attempt.url.path, work.appendingPathComponent("runs/00aa11bb22cc33dd/attempt-3").path)
    XCTAssertTrue(FileManager.default.fileExists(atPath: attempt.url.path))
  }

  func testANewAttemptRemovesTheOlderAttemptsArtifacts() throws {
    let runs = try RunDirectory(workDirectory: try makeScratchDirectory(self))
    let first = try runs.prepare(key("00aa11bb22cc33dd", 1))
    try writeArtifacts(first)
    let otherRun = try runs.prepare(key("ffee000000000001", 1))
    try writeArtifacts(otherRun)

    let second = try runs.prepare(key("00aa11bb22cc33dd", 2))
    XCTAssertFalse(FileManager.default.fileExists(atPath: first.url.path))
    XCTAssertEqual(runs.attempts(ofRun: "00aa11bb22cc33dd"), [2])
    XCTAssertEqual(second.existingArtifacts(), [])
    XCTAssertEqual(
      otherRun.existingArtifacts().count, AttemptDirectory.artifactNames.count,
      "another run's attempt was touched")
  }

  func testPreparingAnAttemptAgainStartsEmpty() throws {
    let runs = try RunDirectory(workDirectory: try makeScratchDirectory(self))
    let attempt = try runs.prepare(key("00aa11bb22cc33dd", 1))
    try writeArtifacts(attempt)
    XCTAssertEqual(try runs.prepare(key("00aa11bb22cc33dd", 1)).existingArtifacts(), [])
  }

  func testRemoveDeletesTheRunDirectoryWithItsLastAttempt() throws {
    let runs = try RunDirectory(workDirectory: try makeScratchDirectory(self))
    let attempt = try runs.prepare(key("00aa11bb22cc33dd", 1))
    try writeArtifacts(attempt)
    try runs.remove(attempt.key)
    XCTAssertFalse(FileManager.default.fileExists(atPath: try runs.runURL("00aa11bb22cc33dd").path))
  }

  func testRemoveAllKeepsOnlyTheGivenAttempts() throws {
    let runs = try RunDirectory(workDirectory: try makeScratchDirectory(self))
    let kept = try runs.prepare(key("00aa11bb22cc33dd", 2))
    _ = try runs.prepare(key("ffee000000000001", 1))
    try FileManager.default.createDirectory(
      at: try runs.runURL("00aa11bb22cc33dd").appendingPathComponent("attempt-1"),
      withIntermediateDirectories: true)
    let removed = try runs.removeAll(except: [kept.key])
    XCTAssertEqual(removed, ["00aa11bb22cc33dd/attempt-1", "ffee000000000001"])
    XCTAssertEqual(runs.attempts(ofRun: "00aa11bb22cc33dd"), [2])
    XCTAssertEqual(runs.attempts(ofRun: "ffee000000000001"), [])
  }

  func testRunIDsThatAreNotSafeDirectoryNamesAreRefused() {
    for runID in [
      "", "../etc", "a/b", ".hidden", "run id", String(repeating: "a", count: 129), "00AA11BB22CC33DD",
    ] {
      XCTAssertThrowsError(try RunID(runID)) { error in
        XCTAssertEqual((error as? InvalidIdentifier)?.kind, "run id")
      }
    }
    XCTAssertThrowsError(try AttemptID(run: "00aa11bb22cc33dd", number: 0)) { error in
      XCTAssertEqual((error as? InvalidIdentifier)?.kind, "attempt number")
    }
  }

  func testARunFolderThatIsASymbolicLinkOutOfTheWorkDirectoryIsRefused() throws {
    let work = try makeScratchDirectory(self)
    let outside = try makeScratchDirectory(self)
    let runs = try RunDirectory(workDirectory: work)
    try FileManager.default.createSymbolicLink(
      at: runs.root.appendingPathComponent("00aa11bb22cc33dd"), withDestinationURL: outside)
    XCTAssertThrowsError(try runs.prepare(key("00aa11bb22cc33dd", 1))) { error in
      XCTAssertTrue(error is PathOutsideRoot, "\(error)")
    }
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: outside.path), [], "nothing written outside")
  }
}
