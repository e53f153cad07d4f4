import XCTest

final class SweepCoordinatorTestsPlaceholder: XCTestCase {
  func testModuleBuilds() {}
}
