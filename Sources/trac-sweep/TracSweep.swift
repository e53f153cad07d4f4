import ArgumentParser

@main
public struct TracSweep: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "trac-sweep",
    abstract: "Hyperparameter sweeps of the TraC offline safe-RL trainer.",
    discussion: """
      A coordinator expands grid files into runs and hands them to workers over ZeroMQ; each \
      worker trains its runs in child processes (`train`, one BLAS thread each), evaluates the \
      policies in Bullet-Safety-Gym and sends the results back. Clients submit grids and read \
      progress, results and sensitivity reports. `train` and `evaluate` also work alone, without \
      a cluster.

      Example, on one machine:
        trac-sweep coordinator --bind tcp://127.0.0.1:5555 --state state &
        trac-sweep worker --connect tcp://127.0.0.1:5555 &
        export TRAC_SWEEP_COORDINATOR=tcp://127.0.0.1:5555
        trac-sweep submit sweeps/demo.json --wait        # prints the sweep id
        trac-sweep report SWEEP_ID --out report

      Grid files: docs/GRID.md. The algorithm: docs/ALGORITHM.md. Output files: docs/FORMATS.md.
      """,
    // Help lists the commands by group; `blas` (a diagnostic) is hidden and so in no group.
    subcommands: [BLASCommand.self],
    groupedSubcommands: [
      CommandGroup(
        name: "Cluster", subcommands: [CoordinatorCommand.self, WorkerCommand.self, KeysCommand.self]),
      CommandGroup(
        name: "Sweeps",
        subcommands: [
          SubmitCommand.self, StatusCommand.self, WatchCommand.self, CancelCommand.self, RetryCommand.self,
          ResultsCommand.self, ReportCommand.self, ReleaseCommand.self, PlanCommand.self,
        ]),
      CommandGroup(name: "Watching", subcommands: [DashboardCommand.self]),
      CommandGroup(name: "One run", subcommands: [TrainCommand.self, EvaluateCommand.self]),
      CommandGroup(name: "Speed", subcommands: [BenchCommand.self]),
    ])

  public init() {}
}
