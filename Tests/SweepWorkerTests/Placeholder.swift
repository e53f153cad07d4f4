import XCTest

final class SweepWorkerTestsPlaceholder: XCTestCase {
  func testModuleBuilds() {}
}
