import TracCore

/// How numbers read in the report's Markdown and HTML: three decimals, `-` for unknown.
enum ReportText {
  static func number(_ value: Double?) -> String {
    guard let value else { return "-" }
    let text = String(format: "%.3f", value)
    return text == "-0.000" ? "0.000" : text
  }

  static func meanStd(_ value: MeanStd) -> String {
    value.mean == nil ? "-" : "\(number(value.mean)) ± \(number(value.std))"
  }

  static func share(_ value: Double?) -> String {
    guard let value else { return "-" }
    return String(format: "%.0f%%", value * 100)
  }

  static func threshold(_ value: Double) -> String { formatNumber(value) }

  /// The sweep in one line: design, tasks, algorithms, thresholds, seeds.
  static func scope(_ report: SensitivityReport) -> String {
    let sweep = report.sweep
    return
      "design \(sweep.design); tasks \(sweep.tasks.joined(separator: ", ")); algorithms "
      + "\(sweep.algorithms.joined(separator: ", ")); cost thresholds "
      + "\(sweep.costThresholds.map(threshold).joined(separator: ", ")); seeds "
      + "\(sweep.seeds.map(String.init).joined(separator: ", "))"
  }

  /// `9 of 10 runs recorded (1 running)`.
  static func completeness(_ report: SensitivityReport) -> String {
    let completeness = report.completeness
    var text = "\(completeness.recorded) of \(completeness.expected) runs recorded"
    if !completeness.notRecordedByState.isEmpty {
      let states = completeness.notRecordedByState.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
      text += " (not recorded: \(states.joined(separator: ", ")))"
    }
    if !completeness.audits.isEmpty {
      let audits = completeness.audits.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
      text += "; audited (trained again by another worker): \(audits.joined(separator: ", "))"
    }
    return text
  }

  /// For a one-at-a-time curve: whether the range of the means is above the seed-to-seed noise.
  static func verdict(_ metric: SensitivityReport.CurveMetric) -> String {
    guard let range = metric.range else { return "-" }
    guard let noise = metric.seedStd, noise > 0 else { return "no seed noise measured" }
    let ratio = range / noise
    return ratio >= 2
      ? String(format: "effect %.1fx the seed std", ratio)
      : String(format: "within noise (%.1fx the seed std)", ratio)
  }

  static func settings(of report: SensitivityReport, task: String) -> [SensitivityReport.Setting] {
    report.settings.filter { $0.task == task }
  }

  /// A curve's values, the base point's marked: `0.1, 0.2 (base), 0.5`.
  static func curveValues(_ curve: SensitivityReport.Curve, base: [String: HyperparameterValue]) -> String {
    curve.values.map { $0 == base[curve.hyperparameter] ? "\($0) (base)" : $0.description }
      .joined(separator: ", ")
  }

  /// What the page says of a task's learning curves when they are not all in its figure; nil when the
  /// figure shows every TraC run.
  static func learningCurvesNote(_ curves: SensitivityReport.LearningCurves, hasFigure: Bool) -> String? {
    if curves.runs == 0 { return nil }
    let why = curves.problem.map { " (\($0))" } ?? ""
    if curves.runsRead == 0 {
      return
        "Learning curves not shown: the TraC runs' train.jsonl files are not readable here\(why). They are "
        + "beside each run's policy.safetensors in the coordinator's artifacts/runs/<run id>/: make the report "
        + "on the coordinator's machine, or pass --artifacts with a copy of that folder."
    }
    if !hasFigure {
      return
        "Learning curves: train.jsonl read for \(curves.runsRead) of \(curves.runs) TraC runs; no figure was made."
    }
    if curves.runsRead < curves.runs {
      return
        "Learning curves from \(curves.runsRead) of \(curves.runs) TraC runs: the others' train.jsonl is not readable\(why)."
    }
    return nil
  }

  /// A mean over fewer seeds than this is marked (†): its std says little about the seed noise.
  static let fewSeeds = 3

  static func fewSeeds(_ seeds: Int) -> Bool { seeds > 0 && seeds < fewSeeds }

  static let fewSeedsNote =
    "† the mean rests on fewer than \(fewSeeds) seeds: its ± std says little about the seed-to-seed noise."

  /// `30000`, `0.2`, `uniform`, with the varied values when the grid varies it.
  static func setupValue(_ hyperparameter: SensitivityReport.SetupHyperparameter) -> String {
    guard let varied = hyperparameter.varied else { return hyperparameter.base.description }
    return "\(hyperparameter.base) (varied: \(varied.map(\.description).joined(separator: ", ")))"
  }

  /// The training setup as (what, value) lines, for the page and report.md. A value the report's input
  /// does not hold says so and what the report has instead.
  static func setupLines(_ report: SensitivityReport) -> [(key: String, value: String)] {
    let setup = report.setup
    var lines: [(key: String, value: String)] = []
    let missing =
      setup.runFilesRead == 0
      ? "not in the report's input (no run.json was read: see Run files)"
      : "not recorded in the runs' run.json"
    for task in setup.tasks {
      var parts: [String] = []
      parts.append(
        task.datasetName
          ?? "the task's DSRL file from $DSRL_DATASET_DIR where each run trained")
      if let path = task.datasetPath, path != task.datasetName { parts.append("grid path \(path)") }
      parts.append(
        task.datasetSHA256.isEmpty
          ? "sha256 \(missing)" : "sha256 \(task.datasetSHA256.joined(separator: ", "))")
      parts.append(
        task.episodes.isEmpty
          ? "episodes \(missing)"
          : "\(task.episodes.map(String.init).joined(separator: ", ")) episodes"
            + (task.transitions.isEmpty
              ? "" : " (\(task.transitions.map(String.init).joined(separator: ", ")) transitions)"))
      lines.append(("Dataset of \(task.task)", parts.joined(separator: "; ")))
    }
    lines.append(("Algorithms", setup.algorithms.joined(separator: ", ")))
    func value(_ name: String) -> SensitivityReport.SetupHyperparameter? {
      setup.hyperparameters.first { $0.name == name }
    }
    if let steps = value("steps"), let bcSteps = value("bc_steps") {
      lines.append(
        (
          "Steps",
          "\(setupValue(steps)) updates in all; TraC's first \(setupValue(bcSteps)) (bc_steps) are BC"
        ))
    }
    if let warmup = setup.hyperparameters.first(where: { $0.name.hasPrefix("warmup") }) {
      lines.append(
        ("Warm-up", "\(setupValue(warmup)) TraC updates (\(warmup.name)): the TraC learning rate ramps up"))
    } else {
      lines.append(
        ("Warm-up", "not a hyperparameter of this build: the trainer's fixed TraC learning-rate warm-up"))
    }
    if let batch = value("batch_size") { lines.append(("Batch size", setupValue(batch))) }
    if let lr = value("lr") { lines.append(("Learning rate", setupValue(lr))) }
    lines.append(
      (
        "Evaluation",
        "\(setup.evalEpisodes.map(String.init).joined(separator: ", ")) episodes per run, evaluation seed "
          + setup.evalSeeds.map(String.init).joined(separator: ", ")
      ))
    lines.append(("Cost thresholds", report.sweep.costThresholds.map(threshold).joined(separator: ", ")))
    lines.append(("Seeds", report.sweep.seeds.map(String.init).joined(separator: ", ")))
    lines.append(
      (
        "Trainer format",
        setup.trainerFormats.map(String.init).joined(separator: ", ") + " (\(setup.trainerFormatSource))"
          + (setup.trainerVersions.isEmpty
            ? "" : "; trainer \(setup.trainerVersions.joined(separator: ", "))")
      ))
    lines.append(
      (
        "Run files",
        "run.json read for \(setup.runFilesRead) of \(setup.recordedRuns) recorded runs"
          + (setup.runFilesProblem.map { " (\($0))" } ?? "")
      ))
    if let sharing = setup.stageSharing {
      let share = 100 * Double(sharing.bcStepsNotRepeated) / Double(max(sharing.stepsAlone, 1))
      lines.append(
        (
          "Shared BC stages",
          "\(sharing.runs) runs started their TraC phase from \(sharing.stages) shared BC stages: "
            + "\(sharing.bcStepsNotRepeated) BC steps not trained again, "
            + String(format: "%.1f", share) + " % of the steps these runs would have trained alone"
        ))
    }
    return lines
  }

  /// Every run of a task's settings, recorded or not, in the settings' order, then by cost threshold
  /// and seed as the grid lists them.
  struct RunLine {
    var runID: String?
    var setting: String
    var costThreshold: Double
    var seed: UInt64
    var reward: Double?
    var cost: Double?
    var state: String
    var artifacts: String?
  }

  static func runLines(_ report: SensitivityReport, task: String) -> [RunLine] {
    var lines: [RunLine] = []
    for setting in settings(of: report, task: task) {
      var mine: [RunLine] = report.runs.filter { $0.task == task && $0.label == setting.label }.map {
        RunLine(
          runID: $0.runID, setting: $0.label, costThreshold: $0.costThreshold, seed: $0.seed,
          reward: $0.normalizedReward, cost: $0.normalizedCost, state: "done", artifacts: $0.artifacts)
      }
      mine += report.completeness.missing.filter { $0.task == task && $0.setting == setting.label }.map {
        RunLine(
          runID: $0.runID, setting: $0.setting, costThreshold: $0.costThreshold, seed: $0.seed, reward: nil,
          cost: nil, state: $0.state, artifacts: nil)
      }
      let thresholds = report.sweep.costThresholds
      let seeds = report.sweep.seeds
      lines += mine.sorted {
        (thresholds.firstIndex(of: $0.costThreshold) ?? 0, seeds.firstIndex(of: $0.seed) ?? 0)
          < (thresholds.firstIndex(of: $1.costThreshold) ?? 0, seeds.firstIndex(of: $1.seed) ?? 0)
      }
    }
    return lines
  }
}
