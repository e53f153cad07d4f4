import TracCore

/// Functional ANOVA of a full-factorial grid (docs/REPORT.md): with the uniform measure over the grid's
/// cells, the share of the variance of the cell means explained by each hyperparameter's main effect and
/// by each pair's interaction. Exact on a full grid; not computed when a cell has no result.
enum FunctionalANOVA {
  /// A grid of cell values indexed by each factor's level.
  struct Cells {
    var levels: [Int]
    var values: [[Int]: Double]
  }

  static func decompose(
    vary: [HyperparameterVariation], settings: [ReportBuilder.SettingRuns],
    summaries: [SensitivityReport.Setting]
  ) -> SensitivityReport.ANOVA {
    let levels = vary.map(\.values.count)
    var reward = Cells(levels: levels, values: [:])
    var cost = Cells(levels: levels, values: [:])
    var missing: [String] = []
    for (setting, summary) in zip(settings, summaries) {
      let index = vary.map { variation in
        variation.values.firstIndex(of: variation.name.value(in: setting.point.hyperparameters)) ?? 0
      }
      if let mean = summary.reward.mean, let costMean = summary.cost.mean {
        reward.values[index] = mean
        cost.values[index] = costMean
      } else {
        missing.append(summary.label)
      }
    }
    let cellCount = levels.reduce(1, *)
    let complete = reward.values.count == cellCount
    let names = vary.map(\.name.rawValue)
    var heatmaps: [SensitivityReport.Heatmap] = []
    for first in vary.indices {
      for second in vary.indices where second > first {
        heatmaps.append(
          .init(
            hyperparameters: [names[first], names[second]],
            values: [vary[first].values, vary[second].values],
            reward: marginal(reward, first, second), cost: marginal(cost, first, second)))
      }
    }
    return SensitivityReport.ANOVA(
      complete: complete, missingCells: missing,
      reward: complete ? decomposition(reward, names: names) : .init(variance: nil, main: [:], pairs: []),
      cost: complete ? decomposition(cost, names: names) : .init(variance: nil, main: [:], pairs: []),
      heatmaps: heatmaps)
  }

  /// The mean of the cells with factor `first` at i and `second` at j, the others averaged out.
  static func marginal(_ cells: Cells, _ first: Int, _ second: Int) -> [[Double?]] {
    var sums = Array(
      repeating: Array(repeating: 0.0, count: cells.levels[second]), count: cells.levels[first])
    var counts = Array(
      repeating: Array(repeating: 0, count: cells.levels[second]), count: cells.levels[first])
    for (index, value) in cells.values {
      sums[index[first]][index[second]] += value
      counts[index[first]][index[second]] += 1
    }
    return zip(sums, counts).map { row, count in
      zip(row, count).map { sum, n in n > 0 ? sum / Double(n) : nil }
    }
  }

  /// Main effects and pairwise interactions of a complete grid.
  static func decomposition(_ cells: Cells, names: [String]) -> SensitivityReport.Decomposition {
    let values = Array(cells.values.values)
    let grand = values.reduce(0, +) / Double(values.count)
    let variance = values.reduce(0) { $0 + ($1 - grand) * ($1 - grand) } / Double(values.count)
    let factors = cells.levels.indices
    // f_k(v) = mean over cells with factor k at v, minus the grand mean.
    let mainEffects: [[Double]] = factors.map { factor in
      (0..<cells.levels[factor]).map { level in
        let slice = cells.values.filter { $0.key[factor] == level }.map(\.value)
        return slice.reduce(0, +) / Double(slice.count) - grand
      }
    }
    func share(_ effectVariance: Double) -> Double { variance > 0 ? effectVariance / variance : 0 }
    var main: [String: Double] = [:]
    for factor in factors {
      let effects = mainEffects[factor]
      main[names[factor]] = share(effects.reduce(0) { $0 + $1 * $1 } / Double(effects.count))
    }
    var pairs: [SensitivityReport.PairShare] = []
    for first in factors {
      for second in factors where second > first {
        let means = marginal(cells, first, second)
        var sum = 0.0
        for i in 0..<cells.levels[first] {
          for j in 0..<cells.levels[second] {
            let interaction = means[i][j]! - mainEffects[first][i] - mainEffects[second][j] - grand
            sum += interaction * interaction
          }
        }
        pairs.append(
          .init(
            hyperparameters: [names[first], names[second]],
            share: share(sum / Double(cells.levels[first] * cells.levels[second]))))
      }
    }
    return .init(variance: variance, main: main, pairs: pairs)
  }
}
