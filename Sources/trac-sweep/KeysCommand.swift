import ArgumentParser
import Foundation
import SweepWire
import TracCore

struct KeysCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "keys",
    abstract: "Make CURVE keys that secure the coordinator, its workers and its clients.",
    discussion: """
      Each machine (the coordinator, every worker, every user's client) gets a key pair: NAME.key \
      (secret, mode 0600, never copied elsewhere) and NAME.pub (public). The coordinator is started \
      with its .key and a directory of the workers' and clients' .pub files; workers and clients \
      are given their own .key and the coordinator's .pub.

      Example:
        trac-sweep keys generate --out ~/keys --name coordinator
      """,
    subcommands: [GenerateKeysCommand.self])
}

struct GenerateKeysCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Write a new CURVE key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub.",
    discussion: """
      Refuses to overwrite an existing key. Prints the paths and the public key.

      Example:
        trac-sweep keys generate --out ~/keys --name node1
      """)

  @Option(help: "Directory for the two files (created if missing).") var out: String
  @Option(help: "The key's name: letters, digits, '.', '_' or '-' (e.g. the host name).") var name: String

  func run() throws {
    do {
      let pair = try CurveKeyPair.generate()
      let (secret, publicFile) = try CurveKeyFile.write(
        pair, name: name, directory: URL(fileURLWithPath: out))
      print("secret key: \(secret.path) (keep it private)")
      print("public key: \(publicFile.path)")
      print("public-key = \(pair.publicKey.z85)")
    } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      throw ExitCode(TracError.inputErrorExitStatus)
    }
  }
}
