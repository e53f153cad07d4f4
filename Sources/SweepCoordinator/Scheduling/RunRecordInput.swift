import TracCore

/// One run of a submitted sweep: what determines its result (`spec`, whose hash is `runID`) and what the
/// worker needs besides (`datasetPath`), with where it sits in the sweep (`pointID`).
public struct RunRecordInput: Equatable, Sendable {
  public let runID: RunID
  public let spec: RunSpec
  /// The grid point, e.g. `alpha=0.05`: one run can be a different point of two sweeps.
  public let pointID: String
  /// The dataset as the grid names it; nil for the task's DSRL file, found where the run is executed.
  public let datasetPath: String?

  public init(spec: RunSpec, pointID: String, datasetPath: String?) {
    self.runID = RunID(of: spec)
    self.spec = spec
    self.pointID = pointID
    self.datasetPath = datasetPath
  }

  /// One run of a grid, with the content hash of its dataset.
  public init(_ run: GridRun, datasetSHA256: String) {
    self.init(
      spec: run.spec(datasetSHA256: datasetSHA256), pointID: run.pointID, datasetPath: run.datasetPath)
  }
}
