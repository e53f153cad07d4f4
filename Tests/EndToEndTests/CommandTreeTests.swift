import ArgumentParser
import Foundation
import XCTest
import trac_sweep

/// The help of every command, found by walking the command tree as the parser dumps it (so a new
/// command is checked without being listed here), rendered in process as `--help` renders it.
final class CommandTreeTests: XCTestCase {
  /// A command of the tree: its path below the root, its long options and flags shown in help,
  /// and its subcommands' names.
  struct Command {
    var path: [String]
    var options: [String]
    var subcommands: [String]
  }

  /// Every command the parser knows, from `--experimental-dump-help` of the root, hidden ones aside.
  func commandTree() throws -> [Command] {
    var dump = ""
    do {
      _ = try TracSweep.parseAsRoot(["--experimental-dump-help"])
      XCTFail("--experimental-dump-help did not stop parsing")
    } catch {
      dump = TracSweep.fullMessage(for: error)
    }
    let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
    let root = try XCTUnwrap(json["command"] as? [String: Any], dump)
    var commands: [Command] = []
    func walk(_ command: [String: Any], path: [String]) {
      let arguments = command["arguments"] as? [[String: Any]] ?? []
      let options = arguments.filter { ($0["shouldDisplay"] as? Bool) ?? true }.compactMap { argument in
        (argument["names"] as? [[String: Any]])?.first { $0["kind"] as? String == "long" }?["name"] as? String
      }
      // The built-in `help` subcommand aside.
      let children = (command["subcommands"] as? [[String: Any]] ?? []).filter {
        ($0["shouldDisplay"] as? Bool) ?? true && $0["commandName"] as? String != "help"
      }
      commands.append(
        Command(
          path: path, options: options.filter { $0 != "help" },
          subcommands: children.compactMap { $0["commandName"] as? String }))
      for child in children {
        walk(child, path: path + [child["commandName"] as? String ?? "?"])
      }
    }
    walk(root, path: [])
    return commands
  }

  /// `trac-sweep PATH --help`, as the parser renders it: the command type is found by walking the
  /// subcommands of the root's configuration along the path.
  func help(_ path: [String]) throws -> String {
    var command: ParsableCommand.Type = TracSweep.self
    for name in path {
      command = try XCTUnwrap(
        command.configuration.subcommands.first { $0.configuration.commandName == name }, "\(path)")
    }
    // `--help` is accepted, and it is what the parser answers (a help request, exit status 0).
    XCTAssertTrue(
      String(describing: try TracSweep.parseAsRoot(path + ["--help"])).contains("HelpCommand"), "\(path)")
    return TracSweep.helpMessage(for: command, columns: 100)
  }

  func testEveryCommandsHelpNamesItsOptionsAndShowsAnExample() throws {
    let commands = try commandTree()
    // The tree is really walked: groups and their children are found.
    let paths = commands.map { $0.path.joined(separator: " ") }
    for expected in ["train", "submit", "report", "bench", "bench trainer", "bench coordinator"] {
      XCTAssertTrue(paths.contains(expected), "\(expected) not in \(paths)")
    }
    XCTAssertFalse(paths.contains("bench simulate-workers"), "a hidden command is not shown")
    for command in commands {
      let name = (["trac-sweep"] + command.path).joined(separator: " ")
      let text = try help(command.path)
      XCTAssertTrue(text.contains("USAGE: \(name)"), "\(name): \(text)")
      for option in command.options {
        XCTAssertTrue(text.contains("--\(option)"), "\(name) --help does not name --\(option): \(text)")
      }
      for subcommand in command.subcommands {
        XCTAssertTrue(text.contains("  \(subcommand)"), "\(name) --help does not list \(subcommand): \(text)")
      }
      // Every command but the root shows how it is called.
      if !command.path.isEmpty {
        XCTAssertTrue(text.contains("Example:"), "\(name): \(text)")
        XCTAssertTrue(text.contains("  \(name)"), "\(name): \(text)")
      }
    }
  }

  /// The client commands and the worker share the CURVE options.
  func testClientsAndWorkerShareTheCurveOptions() throws {
    for command in try commandTree()
    where ["worker", "submit", "status", "results"].contains(command.path.first) {
      XCTAssertTrue(command.options.contains("curve-secret"), "\(command.path)")
      XCTAssertTrue(command.options.contains("server-key"), "\(command.path)")
    }
  }
}
