import Foundation
import SweepWorker
import XCTest

final class StderrTailTests: XCTestCase {
  func testKeepsTheLastLinesWithoutTrailingNewlines() {
    let data = Data("one\ntwo\nthree\nfour\n\n".utf8)
    XCTAssertEqual(StderrTail.tail(of: data, startsMidFile: false, maxLines: 2), "three\nfour")
    XCTAssertEqual(StderrTail.tail(of: data, startsMidFile: false, maxLines: 40), "one\ntwo\nthree\nfour")
  }

  func testDropsTheLineCutByTheByteLimit() {
    let data = Data("ne cut in half\nwhole line\nlast line".utf8)
    XCTAssertEqual(StderrTail.tail(of: data, startsMidFile: true), "whole line\nlast line")
    XCTAssertEqual(
      StderrTail.tail(of: Data("only part of a line".utf8), startsMidFile: true), "only part of a line")
  }

  func testReadsAtMostMaxBytesFromTheEndOfAFile() throws {
    let file = try makeScratchDirectory(self).appendingPathComponent("stderr.log")
    let line = String(repeating: "x", count: 99)
    try Data(String(repeating: line + "\n", count: 1000).utf8).write(to: file)
    let tail = StderrTail.read(from: file, maxBytes: 1000, maxLines: 40)
    XCTAssertEqual(tail.split(separator: "\n").count, 9)  // 10 lines of 100 bytes, the first one cut
    XCTAssertTrue(tail.split(separator: "\n").allSatisfy { $0 == line })
  }

  func testMissingFileGivesAnEmptyTail() {
    XCTAssertEqual(StderrTail.read(from: URL(fileURLWithPath: "/nonexistent/stderr.log")), "")
  }
}
