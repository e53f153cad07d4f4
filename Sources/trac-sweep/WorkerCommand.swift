import ArgumentParser
import Foundation
import Logging
import SweepWire
import SweepWorker
import TracCore
import TracTrainer

struct WorkerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "worker",
    abstract: "Run training runs for a coordinator: one per slot, each in a child `trac-sweep train`.",
    discussion: """
      Connects to the coordinator, takes up to --slots runs at once, fetches their datasets into \
      WORKDIR/datasets, and keeps every finished result in WORKDIR/spool until the coordinator has \
      recorded it. SIGTERM or SIGINT stops it gracefully: no new work, running runs get --grace \
      seconds to finish, the rest are handed back; a second signal stops at once.

      For a coordinator started with --curve-secret, give this worker's key file (--curve-secret) \
      and the coordinator's public key (--server-key); the worker's .pub file must be in the \
      coordinator's --authorized-keys directory.

      Example:
        trac-sweep worker --connect tcp://head-node:5555 --slots 8
        trac-sweep worker --connect tcp://head-node:5555 \\
          --curve-secret ~/keys/node1.key --server-key ~/keys/coordinator.pub
      """)

  @Option(help: "The coordinator's address, e.g. tcp://head-node:5555.") var connect: String
  @Option(help: "Runs at once (default: one per processor core).") var slots: Int?
  @Option(name: .customLong("work-dir"), help: "Worker id, dataset cache, run directories, result spool.")
  var workDir: String = "~/.trac-sweep/worker"
  @Option(help: "Seconds running runs may take to finish after SIGTERM/SIGINT before they are handed back.")
  var grace: Double = 10
  @Option(
    help: "The trainer program, run as `PROGRAM train ...` (default: $TRAC_SWEEP_TRAINER, else this program)."
  )
  var trainer: String?
  @Flag(
    name: .customLong("no-evaluate"),
    help: ArgumentHelp(
      "Do not evaluate policies in the simulator: the worker announces that it evaluates nothing and is given "
        + "only runs without evaluation episodes (default: it evaluates the task families whose evaluator it finds)."
    ))
  var noEvaluate = false
  @OptionGroup var curve: CurveClientOptions
  @Option(
    name: .customLong("ship-checkpoints"),
    help: ArgumentHelp(
      "Seconds between sends of a running run's newest checkpoint to the coordinator (0: no checkpoints).",
      discussion:
        "A run lost with its worker (SIGKILL, node failure) resumes on another worker from the last one sent;"
        + " a run handed back (SIGTERM, graceful stop) sends its newest first."))
  var shipCheckpoints: Double = 300
  @Option(
    name: .customLong("checkpoint-every"),
    help: "Steps between the trainer's checkpoints (default: the trainer's, 1000).")
  var checkpointEvery: Int?
  @Option(
    name: .customLong("blas-kernel"),
    help: ArgumentHelp(
      "The OpenBLAS kernel of this worker's trainers, e.g. Haswell (default: this machine's fastest that passes the self-check).",
      discussion:
        "Probed in a child before the worker starts; a kernel that fails is refused. Runs of a reproducible"
        + " sweep use the reproducible kernel (Haswell) whatever this says; OPENBLAS_CORETYPE in the"
        + " environment is respected and wins."))
  var blasKernel: String?

  func validate() throws {
    guard shipCheckpoints.isFinite, shipCheckpoints >= 0 else {
      throw ValidationError(
        "--ship-checkpoints must be a number of seconds, at least 0, got \(shipCheckpoints)")
    }
    if let checkpointEvery, checkpointEvery < 1 {
      throw ValidationError("--checkpoint-every must be at least 1, got \(checkpointEvery)")
    }
    do { _ = try CoordinatorAddress.validated(connect, source: "--connect") } catch {
      throw ValidationError("\(error)")
    }
    if let slots, slots < 1 { throw ValidationError("--slots must be at least 1, got \(slots)") }
    guard grace.isFinite, grace >= 0 else {
      throw ValidationError("--grace must be a number of seconds, at least 0, got \(grace)")
    }
    guard !workDir.isEmpty else { throw ValidationError("--work-dir must not be empty") }
    let program = trainerURL.path
    guard FileManager.default.isExecutableFile(atPath: program) else {
      throw ValidationError(
        "the trainer \(program) is not an executable file (set it with --trainer or TRAC_SWEEP_TRAINER)")
    }
  }

  private var trainerURL: URL {
    trainer.map { URL(fileURLWithPath: expandingTilde($0)) } ?? WorkerAgent.Configuration.defaultTrainer()
  }

  func run() throws {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    let curve: CurveClientKeys?
    do { curve = try self.curve.keys() } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      throw ExitCode.failure
    }
    var configuration = WorkerAgent.Configuration(
      settings: .init(
        host: ProcessInfo.processInfo.hostName, slots: slots ?? ProcessInfo.processInfo.activeProcessorCount,
        trainerVersion: TrainerVersion.string, grace: .milliseconds(Int((grace * 1000).rounded())),
        endpoint: connect),
      workDirectory: URL(fileURLWithPath: expandingTilde(workDir), isDirectory: true), trainer: trainerURL,
      evaluate: !noEvaluate)
    configuration.curve = curve
    configuration.checkpointShipInterval =
      shipCheckpoints > 0 ? .milliseconds(Int((shipCheckpoints * 1000).rounded())) : nil
    configuration.checkpointEvery = checkpointEvery
    let blas = chooseBLASKernel()
    configuration.trainerEnvironment.merge(blas.environment) { $1 }
    configuration.blas = String(blas.description.prefix(200))
    let agent: WorkerAgent
    do { agent = try WorkerAgent(configuration: configuration) } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      throw ExitCode.failure
    }
    do { try ProcessLifecycle().run(agent) } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }
}

extension WorkerCommand {
  /// The kernel of the worker's trainers, as their environment and the start line's words. An operator's
  /// OPENBLAS_CORETYPE is inherited by the trainers (this process loaded it: it is checked here);
  /// otherwise the worker sets it, and its marker, for them. Exits on a kernel that fails its check.
  func chooseBLASKernel() -> (environment: [String: String], description: String) {
    func refuse(_ message: String) -> Never {
      FileHandle.standardError.write(Data("error: \(message)\n".utf8))
      Foundation.exit(1)
    }
    let environment = ProcessInfo.processInfo.environment
    if let operatorChoice = BLASSetup.operatorKernel(environment) {
      do {
        let runtime = try BLASSetup.prepare(mode: .fastest, kernelOption: blasKernel) { _ in }
        return (
          [:], "\(runtime.kernel) (\(runtime.isa); OPENBLAS_CORETYPE=\(operatorChoice) in the environment)"
        )
      } catch { refuse(error.description) }
    }
    if let blasKernel {
      let probe = BLASDecision.probe(blasKernel, program: BLASSetup.thisProgram, environment: environment)
      if let rejected = probe.rejected { refuse("--blas-kernel \(blasKernel): \(rejected)") }
      let isa = CPUDescription.isa(ofKernel: blasKernel)
      return (
        BLASSetup.childEnvironment(kernel: blasKernel, source: "option"),
        "\(blasKernel) (\(isa); --blas-kernel)"
      )
    }
    let decision = BLASDecision.current(environment: environment)
    guard let fastest = decision.fastest else {
      refuse(decision.fallbackNote ?? "no OpenBLAS kernel passed its self-check")
    }
    var description =
      "\(fastest) (\(CPUDescription.isa(ofKernel: fastest)); the fastest of \(decision.probes.filter(\.usable).map(\.requested).joined(separator: ", ")))"
    if let note = decision.fallbackNote {
      FileHandle.standardError.write(Data("warning: \(note)\n".utf8))
      description += "; FALLBACK: \(note)"
    }
    return (BLASSetup.childEnvironment(kernel: fastest, source: "probed"), description)
  }
}

/// `~` and `~/...` as the user's home directory.
private func expandingTilde(_ path: String) -> String {
  guard path == "~" || path.hasPrefix("~/") else { return path }
  return FileManager.default.homeDirectoryForCurrentUser.path + path.dropFirst()
}
