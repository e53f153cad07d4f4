import XCTest

final class SweepWireTestsPlaceholder: XCTestCase {
  func testModuleBuilds() {}
}
