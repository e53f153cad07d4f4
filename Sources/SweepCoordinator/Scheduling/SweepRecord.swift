import TracCore

/// A sweep as the scheduler keeps it and the store saves it (one row of `sweeps`; its runs are
/// `SweepMember`s, rows of `sweep_runs`).
public struct SweepRecord: Equatable, Sendable {
  public let id: SweepID
  public let name: String
  public let gridJSON: String
  /// Sweeps are numbered in the order they were submitted.
  public let submitOrder: Int
  public var cancelled: Bool
  /// Its runs in the grid's order.
  public var members: [SweepMember]

  public init(
    id: SweepID, name: String, gridJSON: String, submitOrder: Int, cancelled: Bool = false,
    members: [SweepMember] = []
  ) {
    self.id = id
    self.name = name
    self.gridJSON = gridJSON
    self.submitOrder = submitOrder
    self.cancelled = cancelled
    self.members = members
  }
}

/// One run of one sweep, and the grid point it is in that sweep.
public struct SweepMember: Equatable, Sendable {
  public let run: RunID
  public let pointID: String

  public init(run: RunID, pointID: String) {
    self.run = run
    self.pointID = pointID
  }
}
