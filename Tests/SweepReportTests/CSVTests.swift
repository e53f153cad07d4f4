import SweepReport
import XCTest

final class CSVTests: XCTestCase {
  func testQuotedFieldsRoundTrip() throws {
    let fields = ["plain", "a,b", "say \"hi\"", "two\nlines", ""]
    let text = CSV.line(["h1", "h2", "h3", "h4", "h5"]) + "\n" + CSV.line(fields) + "\n"
    let table = try CSV.parse(text, source: "t.csv")
    XCTAssertEqual(table.columns, ["h1", "h2", "h3", "h4", "h5"])
    XCTAssertEqual(table.rows, [fields])
  }

  func testCRLFAndBlankLines() throws {
    let table = try CSV.parse("a,b\r\n1,2\r\n\r\n3,4", source: "t.csv")
    XCTAssertEqual(table.rows, [["1", "2"], ["3", "4"]])
  }

  func testAnUnclosedQuoteNamesItsLine() {
    XCTAssertThrowsError(try CSV.parse("a,b\n1,2\n3,\"oops\n", source: "t.csv")) { error in
      XCTAssertEqual("\(error)", "t.csv, line 3: a quoted field is never closed")
    }
  }

  func testAnEmptyFileHasNoHeader() {
    XCTAssertThrowsError(try CSV.parse("", source: "t.csv")) { error in
      XCTAssertEqual("\(error)", "t.csv is empty: it has no header line")
    }
  }
}
