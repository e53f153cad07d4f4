/// How the trainer cuts the labelled segments into batches (docs/ALGORITHM.md section 5). A grid key
/// (`batching`) and `train --batching`.
public enum Batching: String, Codable, Sendable, CaseIterable {
  /// Permutation after permutation, every batch full: a batch that reaches the end of a permutation
  /// takes the rest from the next one (the default).
  case full
  /// As the official TraC code's data loader (`shuffle=True`, `drop_last=False`): each epoch is a new
  /// permutation cut into batches of `batch_size`, and its last batch holds what is left (`N mod
  /// batch_size` segments, when that is not 0); no batch spans two epochs.
  case epochs
}
