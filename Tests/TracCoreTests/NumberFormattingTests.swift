import TracCore
import XCTest

final class NumberFormattingTests: XCTestCase {
  func testSumsPrintAsTheShortestDecimalTheyStandFor() {
    let mean = [0.5, 0.92, 1.42, 2.84].reduce(0, +) / 4 + 0.0000000000000002
    XCTAssertEqual(formatDecimal(1.4200000000000006), "1.42")
    XCTAssertEqual(formatDecimal(0.1 + 0.2), "0.3")
    XCTAssertEqual(formatDecimal(mean), "1.42")
    XCTAssertEqual(formatDecimal(20), "20")
    XCTAssertEqual(formatDecimal(-0.0), "0")
    XCTAssertEqual(formatDecimal(0.3461234567), "0.3461234567")
    XCTAssertEqual(formatDecimal(1.4200000000000006 - 0.5), "0.92")
    XCTAssertEqual(formatDecimal(0.346123456789123), "0.346123456789123", "real digits stay")
    XCTAssertEqual(formatDecimal(123456.7 + 0.0000001), "123456.7000001")
    XCTAssertEqual(formatDecimal(1e-5), "1e-05")
    XCTAssertEqual(formatDecimal(.nan), "nan")
    XCTAssertEqual(formatDecimal(-.infinity), "-inf")
    // Decimals come back as written (up to 15 significant digits, unless within 16 ulps of a shorter one).
    for text in ["0.05", "123.456", "0.99999999999", "1e-07", "3", "0.123456789012345"] {
      XCTAssertEqual(Double(formatDecimal(Double(text)!)), Double(text)!, text)
    }
  }

  func testRoundedDigitsAndDurations() {
    XCTAssertEqual(formatDecimal(12.345678, significantDigits: 3), "12.3")
    XCTAssertEqual(formatSeconds(12.345678912), "12.3 s")
    XCTAssertEqual(formatSeconds(125.7), "126 s")
    XCTAssertEqual(formatSeconds(1.5), "1.5 s")
    XCTAssertEqual(formatSeconds(0.25), "250 ms")
    XCTAssertEqual(formatSeconds(0.0123456), "12.3 ms")
  }
}
