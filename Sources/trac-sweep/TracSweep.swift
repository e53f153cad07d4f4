import ArgumentParser

@main
struct TracSweep: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "trac-sweep",
    abstract: "Hyperparameter sweeps of the TraC offline safe-RL trainer.",
    discussion: """
      Today: `train` runs one TraC (or BC baseline) run on a DSRL dataset; `bench` measures the \
      trainer's speed against this machine's sgemm peak. The coordinator and workers come next.
      """,
    subcommands: [
      CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, StatusCommand.self, WatchCommand.self,
      CancelCommand.self,
      RetryCommand.self,
      ResultsCommand.self, ReportCommand.self, ReleaseCommand.self, TrainCommand.self, EvaluateCommand.self,
      BenchCommand.self, BenchCoordinatorCommand.self, BenchSimulateWorkersCommand.self, KeysCommand.self,
    ])
}
