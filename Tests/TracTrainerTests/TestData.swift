import Foundation
import TracCore
import TracTrainer

/// A small BallCircle-shaped dataset in which the good behaviour is learnable: in high-reward
/// safe episodes the action is a fixed function of the observation; in the others it is noise.
func learnableDataset(episodes: Int = 60, length: Int = 20, seed: UInt64 = 5) -> (OfflineDataset, [Bool]) {
  var generator = SeededGenerator(seed: seed)
  var observations: [Float] = []
  var actions: [Float] = []
  var rewards: [Float] = []
  var costs: [Float] = []
  var done: [Bool] = []
  for episode in 0..<episodes {
    let kind = episode % 3  // 0: good and safe, 1: poor and safe, 2: unsafe
    for t in 0..<length {
      let observation = (0..<8).map { _ in Float(generator.gaussian()) }
      observations += observation
      if kind == 0 {
        actions += [tanh(observation[0] - observation[1]), tanh(0.5 * observation[2])]
      } else {
        actions += [Float(generator.uniformDouble() * 2 - 1), Float(generator.uniformDouble() * 2 - 1)]
      }
      rewards.append(
        kind == 0 ? 1 + Float(generator.uniformDouble()) : Float(generator.uniformDouble() * 0.5))
      costs.append(kind == 2 ? 1 : 0)
      done.append(t == length - 1)
    }
  }
  let dataset = try! OfflineDataset(
    observationDim: 8, actionDim: 2, observations: observations, actions: actions, rewards: rewards,
    costs: costs,
    done: done)
  return (dataset, done)
}

func temporaryDirectory(_ name: String) -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "trac-tests-\(name)-\(UUID().uuidString)")
  try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}
