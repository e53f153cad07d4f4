// swift-tools-version:6.0
import Foundation
import PackageDescription

// The trainer's elementwise passes are written for 8-lane AVX2/FMA registers. Every x86-64 CPU since
// 2013 (Intel Haswell, AMD Zen) has them; TRAC_PORTABLE_BUILD=1 builds for baseline x86-64 instead.
let portable = ProcessInfo.processInfo.environment["TRAC_PORTABLE_BUILD"] != nil
let vectorFlags: [SwiftSetting] =
  portable ? [] : [.unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux]))]

let package = Package(
  name: "trac-sweep",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "trac-sweep", targets: ["trac-sweep"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    // Already resolved through Hummingbird; named here because the dashboard's feed is a Service.
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
  ],
  targets: [
    // C libraries: headers and links only.
    .systemLibrary(
      name: "CBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CHDF5", pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"])]),
    // OpenSSL's libcrypto: SHA-256 (TracCore/FileDigest.swift).
    .systemLibrary(
      name: "CLibCrypto", pkgConfig: "libcrypto",
      providers: [.apt(["libssl-dev"])]),
    // libzmq's .pc adds flags SwiftPM rejects, so it is linked by name in the module map.
    .systemLibrary(
      name: "CZMQ",
      providers: [.apt(["libzmq3-dev"])]),

    // Process control wrappers (prctl is variadic).
    .target(name: "CProcess"),

    .target(name: "TracCore", dependencies: ["CLibCrypto"]),
    .target(
      name: "TracTrainer",
      dependencies: [
        "TracCore", "CBLAS", "CHDF5",
      ],
      swiftSettings: vectorFlags),
    .target(
      name: "SweepWire",
      dependencies: ["CZMQ", "TracCore", .product(name: "Logging", package: "swift-log")]),
    .target(
      name: "SweepCoordinator",
      dependencies: [
        "SweepWire", "TracCore", .product(name: "Logging", package: "swift-log"),
        .product(name: "GRDB", package: "GRDB.swift"),
      ]),
    .target(
      name: "SweepWorker",
      dependencies: ["SweepWire", "TracCore", "CProcess", .product(name: "Logging", package: "swift-log")]),
    .target(name: "SweepReport", dependencies: ["TracCore"]),
    // The read-only web dashboard (`trac-sweep dashboard`): a client of the coordinator over HTTP.
    .target(
      name: "SweepDashboard",
      dependencies: [
        "SweepWire", "SweepReport", "TracCore", .product(name: "Logging", package: "swift-log"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]),
    // The coordinator benchmark (`trac-sweep bench-coordinator`): simulated workers, real coordinator.
    .target(
      name: "SweepBenchmarks",
      dependencies: [
        "SweepCoordinator", "SweepWire", "TracCore", .product(name: "Logging", package: "swift-log"),
      ]),
    // The test kit: fake trainer, manual clock, harnesses. Linked by tests only, never by the product.
    .target(
      name: "TracSweepTesting",
      dependencies: [
        "SweepBenchmarks", "SweepCoordinator", "SweepWorker", "SweepWire", "TracCore",
        .product(name: "Logging", package: "swift-log"),
      ]),
    .executableTarget(
      name: "trac-sweep",
      dependencies: [
        "TracCore", "TracTrainer", "SweepWire", "SweepCoordinator", "SweepWorker", "SweepReport",
        "SweepBenchmarks", .product(name: "Logging", package: "swift-log"),
        "SweepDashboard",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    .testTarget(name: "TracCoreTests", dependencies: ["TracCore"]),
    .testTarget(name: "TracTrainerTests", dependencies: ["TracTrainer", "TracCore", "CHDF5"]),
    .testTarget(
      name: "SweepWireTests",
      dependencies: [
        "SweepWire", "TracCore", "TracSweepTesting", .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(
      name: "SweepCoordinatorTests",
      dependencies: ["SweepCoordinator", "SweepBenchmarks", "TracSweepTesting", "TracCore"]),
    .testTarget(
      name: "SweepWorkerTests", dependencies: ["SweepWorker", "SweepWire", "TracSweepTesting", "TracCore"]),
    .testTarget(name: "SweepReportTests", dependencies: ["SweepReport", "TracCore"]),
    .testTarget(
      name: "DashboardTests",
      dependencies: [
        "SweepDashboard", "SweepWire", "SweepCoordinator", "SweepWorker", "TracCore", "TracSweepTesting",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]),
    .testTarget(
      name: "EndToEndTests",
      dependencies: ["TracTrainer", "TracCore", "SweepWire", "SweepReport", "TracSweepTesting", "trac-sweep"]),
  ]
)
