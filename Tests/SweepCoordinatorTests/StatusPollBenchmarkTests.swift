import SweepBenchmarks
import XCTest

/// `trac-sweep bench status-poll` at small sizes: it writes the states, polls a real coordinator, and
/// prints its table and ratio. No timing is asserted here (speed goals live in the benchmark's ratio).
final class StatusPollBenchmarkTests: XCTestCase {
  func testTheBenchmarkPrintsATableAndItsRatio() throws {
    let lines = try StatusPollBenchmark.run(sizes: [100, 300], polls: 5)
    print(lines.joined(separator: "\n"))
    XCTAssertEqual(lines.count, 5, "title, header, 2 sizes, ratio: \(lines)")
    XCTAssertTrue(lines[1].contains("status µs") && lines[1].contains("metrics µs"), lines[1])
    for (line, attempts) in zip(lines[2...3], [100, 300]) {
      let cells = line.split(separator: " ")
      XCTAssertEqual(cells.count, 5, line)
      XCTAssertEqual(Int(cells[0]), attempts, "as many attempts as asked: \(line)")
      XCTAssertGreaterThan(Int(cells[1]) ?? 0, attempts / 2, "runs: \(line)")
      for cell in cells[2...] { XCTAssertGreaterThan(Double(cell) ?? 0, 0, "a time: \(line)") }
    }
    XCTAssertTrue(lines[4].hasPrefix("ratio 300/100 attempts: status "), lines[4])
  }
}
