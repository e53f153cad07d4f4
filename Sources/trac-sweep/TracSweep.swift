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

        cluster:   coordinator, worker, keys
        sweeps:    submit, status, watch, cancel, retry, results, report, release
        watching:  dashboard (web pages and Prometheus metrics)
        one run:   train, evaluate
        speed:     bench trainer, bench coordinator

      Example, on one machine:
        trac-sweep coordinator --bind tcp://127.0.0.1:5555 --state state &
        trac-sweep worker --connect tcp://127.0.0.1:5555 &
        export TRAC_SWEEP_COORDINATOR=tcp://127.0.0.1:5555
        trac-sweep submit sweeps/demo.json --wait        # prints the sweep id
        trac-sweep report SWEEP_ID --out report

      Grid files: docs/GRID.md. The algorithm: docs/ALGORITHM.md. Output files: docs/FORMATS.md.
      """,
    subcommands: [
      CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, StatusCommand.self, WatchCommand.self,
      CancelCommand.self,
      RetryCommand.self,
      ResultsCommand.self, ReportCommand.self, ReleaseCommand.self, TrainCommand.self, EvaluateCommand.self,
      BenchCommand.self, PlanCommand.self, KeysCommand.self, DashboardCommand.self, BLASCommand.self,
    ])

  public init() {}
}
