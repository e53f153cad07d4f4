import ArgumentParser
import Dispatch
import Foundation
import Logging
import SweepCoordinator
import SweepWire
import TracCore

struct CoordinatorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "coordinator",
    abstract: "Run the coordinator: owns every sweep, assigns runs to workers, records each result once.",
    discussion: """
      State is one SQLite database (WAL) plus artifacts (datasets by hash, each run's policy, log \
      and run.json) in --state. Restart it with the same --state and it carries on: workers \
      reconnect and their running runs are re-adopted. SIGTERM or SIGINT stops it gracefully.

      With --curve-secret and --authorized-keys every connection is encrypted and authenticated \
      (ZeroMQ CURVE): only workers and clients whose public key is a *.pub file in the directory \
      may connect, refused keys are logged, plaintext peers cannot connect. SIGHUP reads the \
      directory again. Make keys with `trac-sweep keys generate`.

      Example:
        trac-sweep coordinator --bind tcp://*:5555 --state ~/trac-sweep-state
        trac-sweep coordinator --bind tcp://*:5555 --state ~/trac-sweep-state \\
          --curve-secret ~/keys/coordinator.key --authorized-keys ~/keys/authorized
      """)

  @Option(help: "ZeroMQ endpoint to bind.") var bind: String = "tcp://*:5555"
  @Option(help: "State directory (database and artifacts).") var state: String
  @Option(name: .customLong("heartbeat-interval"), help: "Seconds between worker heartbeats.")
  var heartbeatInterval: Double = 1
  @Option(help: "Missed heartbeats before a worker's leases lapse.") var liveness: Int = 3
  @Option(name: .customLong("max-attempts"), help: "Trainer failures allowed per run.") var maxAttempts: Int =
    3
  @Option(name: .customLong("quarantine-after"), help: "Consecutive failures that quarantine a worker.")
  var quarantineAfter: Int = 3
  @Option(
    name: .customLong("curve-secret"),
    help: "The coordinator's CURVE key file (NAME.key from `trac-sweep keys generate`): turns on encryption.")
  var curveSecret: String?
  @Option(
    name: .customLong("authorized-keys"),
    help: "Directory of the *.pub keys of the workers and clients allowed to connect (with --curve-secret).")
  var authorizedKeys: String?
  @Option(
    name: .customLong("max-message-bytes"),
    help: "Largest message accepted; a larger one closes the sender's connection.")
  var maxMessageBytes: Int64 = CoordinatorService.Configuration.defaultMaxMessageSize
  @Option(
    name: .customLong("datasets"),
    help: ArgumentHelp(
      "A directory whose dataset files grids may name by path (repeat for several).",
      discussion: """
        A grid's dataset is read from the coordinator's disk only inside these directories (default: \
        the DSRL dataset directory, $DSRL_DATASET_DIR or ~/.dsrl/datasets); any other dataset reaches \
        the coordinator by upload, which `trac-sweep submit` does for files on the client's machine.
        """))
  var datasets: [String] = []
  @Flag(
    name: .customLong("share-bc-stages"), inversion: .prefixedNo,
    help: ArgumentHelp(
      "Train each distinct BC stage once and start its runs' TraC phase from it.",
      discussion: """
        A TraC run's BC phase reads only some of its inputs (dataset, task, threshold, seed, x, y, \
        segments, seg_ratio, batch size, lr, bc_steps): runs that differ only in alpha, eta, beta, \
        gamma, the reference or the total steps train the same BC phase. With sharing (the default) \
        the coordinator trains it once, as a unit of its own, and each such run starts from its \
        checkpoint; the policies are the same bytes (docs/CHECKPOINTS.md). Applies to runs submitted \
        from now on.
        """))
  var shareBCStages = true
  @Option(
    name: .customLong("audit"),
    help: ArgumentHelp(
      "The share of recorded results trained again by another worker and compared, 0 to 1.",
      discussion: """
        Training is deterministic, so a result can be verified by training it again: a drawn result \
        (drawn with a secret kept in --state) is trained again by a worker that had no part in it and \
        computes with the same kernel; a disagreement is settled by a third worker, and the side it \
        contradicts is quarantined, its results marked suspect and trained again. Audits take slots \
        no pending run can use. 0 turns them off, 1 audits every result (docs/SECURITY.md).
        """))
  var audit: Double = 0.02

  func validate() throws {
    guard (curveSecret == nil) == (authorizedKeys == nil) else {
      throw ValidationError("--curve-secret and --authorized-keys go together: give both or neither")
    }
    guard maxMessageBytes >= 8 << 20 else {
      throw ValidationError(
        "--max-message-bytes must be at least 8388608 (8 MiB, above a 4 MiB dataset chunk), got \(maxMessageBytes)"
      )
    }
    for directory in datasets {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
        isDirectory.boolValue
      else { throw ValidationError("--datasets \(directory): no such directory") }
    }
    guard heartbeatInterval.isFinite, heartbeatInterval > 0 else {
      throw ValidationError("--heartbeat-interval must be a positive number of seconds")
    }
    do { _ = try schedulerConfiguration(auditSalt: "") } catch { throw ValidationError("\(error)") }
  }

  func schedulerConfiguration(auditSalt: String) throws -> SchedulerConfiguration {
    try SchedulerConfiguration(
      heartbeatInterval: .milliseconds(Int((heartbeatInterval * 1000).rounded())), liveness: liveness,
      maxAttempts: maxAttempts, quarantineAfter: quarantineAfter, shareBCStages: shareBCStages,
      auditShare: audit, auditSalt: auditSalt)
  }

  func run() throws {
    // Before any large allocation: memory held for a peer that does not read goes back to the system
    // when libzmq drops its messages.
    MessageMemory.returnLargeBlocksToTheSystem()
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    let service: CoordinatorService
    do {
      var curve: CoordinatorService.Configuration.Curve?
      if let curveSecret, let authorizedKeys {
        guard CurveKeyPair.isAvailable else { throw CurveKeyError.unavailable }
        curve = .init(
          pair: try CurveKeyFile.readSecret(URL(fileURLWithPath: curveSecret)),
          authorizedKeys: URL(fileURLWithPath: authorizedKeys, isDirectory: true))
      }
      service = try CoordinatorService(
        configuration: .init(
          bind: bind, stateDirectory: URL(fileURLWithPath: state),
          scheduler: try schedulerConfiguration(
            auditSalt: AuditSalt.load(stateDirectory: URL(fileURLWithPath: state))),
          maxMessageSize: maxMessageBytes, curve: curve,
          datasetDirectories: datasets.isEmpty
            ? [DSRLDatasetDirectory.directory] : datasets.map { URL(fileURLWithPath: $0) }))
    } catch {
      FileHandle.standardError.write(Data("error: cannot start the coordinator: \(error)\n".utf8))
      throw ExitCode.failure
    }
    // SIGTERM/SIGINT stop the loop after the message in hand; SIGHUP rereads the authorized keys
    // (with CURVE) and never kills the coordinator.
    let reloads = service.authenticator != nil
    let lifecycle = ProcessLifecycle(onHangup: { [service] in
      if reloads { service.reloadAuthorizedKeys() }
    })
    try lifecycle.run(service)
  }
}
