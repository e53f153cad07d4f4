import Foundation
import TracCore

extension ReportBuilder {
  /// The training setup: the grid's, with what the runs' run.json files recorded (dataset hash and
  /// size, trainer format, evaluation). Every hyperparameter TracCore has is listed, in its order.
  func setup(_ settings: [SettingRuns], folders: [[RunFolder?]]) -> SensitivityReport.Setup {
    var records: [(task: String, record: RunFileRecord)] = []
    var problem: String?
    var recorded = 0
    for (setting, settingFolders) in zip(settings, folders) {
      for folder in settingFolders {
        recorded += 1
        if let record = folder?.record {
          records.append((setting.task, record))
        } else if problem == nil {
          problem = folder?.recordProblem ?? "the report was made without reading the runs' folders"
        }
      }
    }
    func distinct<T: Hashable>(_ values: [T?]) -> [T] {
      var seen = Set<T>()
      return values.compactMap { $0 }.filter { seen.insert($0).inserted }
    }
    let tasks = grid.tasks.map { target -> SensitivityReport.TaskSetup in
      let mine = records.filter { $0.task == target.task.dsrlID }.map(\.record)
      // A worker trains on its cached copy, named by the hash the setup shows anyway: not a name.
      let hashNames = Set(mine.compactMap(\.datasetSHA256).map { "\($0).hdf5" })
      let recordedName = distinct(mine.map(\.datasetPath)).map { URL(fileURLWithPath: $0).lastPathComponent }
        .filter { !hashNames.contains($0) }
      return .init(
        task: target.task.dsrlID, datasetPath: target.datasetPath,
        datasetName: recordedName.isEmpty
          ? target.datasetPath.map { URL(fileURLWithPath: $0).lastPathComponent }
          : recordedName.joined(separator: ", "),
        datasetSHA256: distinct(mine.map(\.datasetSHA256)), episodes: distinct(mine.map(\.episodes)),
        transitions: distinct(mine.map(\.transitions)))
    }
    let all = records.map(\.record)
    let formats = distinct(all.map(\.trainerFormatVersion))
    let episodes = distinct(all.map(\.evalEpisodes))
    let seeds = distinct(all.map(\.evalSeed))
    return SensitivityReport.Setup(
      tasks: tasks, algorithms: grid.algorithms.map(\.rawValue),
      hyperparameters: HyperparameterName.allCases.map { name in
        .init(
          name: name.rawValue, base: name.value(in: grid.base),
          varied: grid.vary.first { $0.name == name }?.values, tracOnly: name.isTracOnly)
      },
      evalEpisodes: episodes.isEmpty ? [grid.evalEpisodes] : episodes,
      evalSeeds: seeds.isEmpty ? [grid.evalSeed] : seeds,
      trainerFormats: formats.isEmpty ? [RunSpec.trainerFormatVersion] : formats,
      trainerFormatSource: formats.isEmpty ? "this build (no run.json was read)" : "the runs' run.json",
      trainerVersions: distinct(all.map(\.trainerVersion)),
      recordedRuns: recorded, runFilesRead: all.count, runFilesProblem: all.count < recorded ? problem : nil,
      stageSharing: Self.stageSharing(settings.flatMap { $0.observed.compactMap { $0?.fields } }))
  }

  /// The runs (by their result fields) that started from a shared BC stage: `steps_trained` is
  /// `steps - bc_steps`, with a `bc_stage`. Nil when none did.
  static func stageSharing(_ runs: [[String: String]]) -> SensitivityReport.StageSharing? {
    var byStage: [String: (runs: Int, bcSteps: Int)] = [:]
    var stepsAlone = 0
    for fields in runs {
      guard let stage = fields["bc_stage"], !stage.isEmpty,
        let steps = fields["steps"].flatMap({ Int($0) }),
        let bcSteps = fields["bc_steps"].flatMap({ Int($0) }),
        let trained = fields["steps_trained"].flatMap({ Int($0) }), bcSteps > 0, trained == steps - bcSteps
      else { continue }
      byStage[stage, default: (0, bcSteps)].runs += 1
      stepsAlone += steps
    }
    guard !byStage.isEmpty else { return nil }
    return .init(
      stages: byStage.count, runs: byStage.values.map(\.runs).reduce(0, +),
      bcStepsNotRepeated: byStage.values.map { ($0.runs - 1) * $0.bcSteps }.reduce(0, +),
      stepsAlone: stepsAlone)
  }

  /// The most points a learning curve keeps: longer logs are thinned to evenly spaced steps.
  static let maximumCurvePoints = 400

  /// Per TraC setting of `task`, the mean ± std over its runs of the TraC loss and accuracy at each
  /// logged step (over the runs that logged that step).
  func learningCurves(task: String, settings: [SettingRuns], folders: [[RunFolder?]])
    -> SensitivityReport.LearningCurves
  {
    var result = SensitivityReport.LearningCurves(
      task: task, runs: 0, runsRead: 0, problem: nil, settings: [])
    for (setting, settingFolders) in zip(settings, folders)
    where setting.task == task && setting.algorithm == .trac {
      var logs: [[TrainingLogPoint]] = []
      for folder in settingFolders {
        result.runs += 1
        if let points = folder?.trac, !points.isEmpty {
          logs.append(points)
        } else if result.problem == nil {
          result.problem =
            folder?.tracProblem
            ?? (folder?.trac != nil
              ? "\(folder?.directory ?? "a run's folder")/train.jsonl has no TraC step"
              : "the report was made without reading the runs' folders")
        }
      }
      result.runsRead += logs.count
      guard !logs.isEmpty else { continue }
      var losses: [Int: [Double]] = [:]
      var accuracies: [Int: [Double]] = [:]
      for log in logs {
        for point in log {
          losses[point.step, default: []].append(point.loss)
          if let accuracy = point.accuracy { accuracies[point.step, default: []].append(accuracy) }
        }
      }
      var steps = losses.keys.sorted()
      if steps.count > Self.maximumCurvePoints {
        let count = Self.maximumCurvePoints
        steps = (0..<count).map { steps[$0 * (steps.count - 1) / (count - 1)] }
      }
      func series(_ values: [Int: [Double]]) -> SensitivityReport.CurveSeries {
        let stats = steps.map { MeanStd(values[$0] ?? []) }
        return .init(means: stats.map(\.mean), stds: stats.map(\.std))
      }
      result.settings.append(
        .init(
          label: setting.label, runs: logs.count, steps: steps, loss: series(losses),
          accuracy: series(accuracies)))
    }
    return result
  }
}
