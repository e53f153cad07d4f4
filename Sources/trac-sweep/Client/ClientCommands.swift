import ArgumentParser
import Foundation
import SweepReport
import SweepWire
import TracCore

struct SubmitCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "submit",
    abstract: "Submit a grid file; prints the sweep id. Submitting the same file again is a no-op.",
    discussion: """
      Example:
        trac-sweep submit sweeps/demo.json --wait
      """)

  @Argument(help: "A grid file (docs/GRID.md).") var grid: String
  @Flag(help: "Show a progress bar until the sweep finishes; exit non-zero if any run failed.") var wait =
    false
  @OptionGroup var client: ClientOptions

  func validate() throws {
    guard let data = FileManager.default.contents(atPath: grid) else {
      throw ValidationError("cannot read \(grid)")
    }
    do { _ = try GridFile(parsing: data) } catch { throw ValidationError("\(grid): \(error)") }
  }

  func run() throws {
    let url = URL(fileURLWithPath: grid)
    let text = try String(contentsOf: url, encoding: .utf8)
    let directory = url.deletingLastPathComponent()
    let hashes = try DatasetUpload.uploadDatasets(
      of: try GridFile(parsing: Data(text.utf8)), gridDirectory: directory, client: client)
    // A dataset path not found here was left to the coordinator: a refusal says so, or it reads as if
    // the file existed.
    let missing = Set(try GridFile(parsing: Data(text.utf8)).tasks.compactMap(\.datasetPath))
      .subtracting(hashes.keys).sorted()
    let reply = try client.call(
      ClientRequest(
        command: .submit, grid: text, gridDirectory: directory.path,
        datasetHashes: hashes.isEmpty ? nil : hashes),
      expecting: SubmitReply.self,
      explain: { refusal in
        guard refusal.code == .datasetNotAllowed || refusal.code == .invalidInput, !missing.isEmpty else {
          return nil
        }
        return "dataset \(missing.joined(separator: ", ")) not found on this machine (relative paths from "
          + "\(directory.path)), so the coordinator looked for it on its own: \(refusal.message)"
      })
    print(reply.sweepID)
    PrintedOutput.flush()
    let note = reply.created ? "submitted" : "already submitted"
    FileHandle.standardError.write(
      Data("\(note): \(reply.name), \(reply.runs) runs (\(reply.alreadyDone) already done)\n".utf8))
    guard wait else { return }
    InterruptNote.install(
      "interrupted: sweep \(reply.sweepID) (\(reply.name)) keeps running on the coordinator; "
        + "follow it with: trac-sweep watch \(reply.sweepID)")
    let outcome = try SweepWait(
      sweepID: reply.sweepID, terminal: isatty(STDERR_FILENO) != 0,
      status: {
        try client.call(ClientRequest(command: .status, sweep: reply.sweepID), expecting: StatusReply.self)
      },
      write: { FileHandle.standardError.write(Data($0.utf8)) },
      pause: { Thread.sleep(forTimeInterval: 1) }
    ).run()
    guard outcome == .finished else { throw ExitCode.failure }
  }
}

struct StatusCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Sweeps, runs by state, workers and their runs, quarantined workers, recent failures.",
    discussion: """
      Example:
        trac-sweep status
      """)

  @Argument(help: "A sweep id or name (default: every sweep).") var sweep: String?
  @Flag(help: "Print the coordinator's JSON.") var json = false
  @OptionGroup var client: ClientOptions

  func run() throws {
    let status = try client.call(ClientRequest(command: .status, sweep: sweep), expecting: StatusReply.self)
    if json {
      print(String(decoding: try JSONCodec.prettyEncoder.encode(status), as: UTF8.self))
    } else {
      print(StatusView.render(status))
    }
  }
}

struct WatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "watch",
    abstract: "Redraw the status every few seconds until interrupted.",
    discussion: """
      Example:
        trac-sweep watch --interval 2
      """)

  @Argument(help: "A sweep id or name (default: every sweep).") var sweep: String?
  @Option(help: "Seconds between redraws.") var interval: Double = 2
  @OptionGroup var client: ClientOptions

  func run() throws {
    // On a terminal the status is redrawn in place; to a pipe or a file each one follows the last,
    // under a line with the time, a line at a time (nothing is lost on Ctrl-C).
    let terminal = isatty(STDOUT_FILENO) != 0
    let stamp = ISO8601DateFormatter()
    while true {
      let status = try client.call(ClientRequest(command: .status, sweep: sweep), expecting: StatusReply.self)
      if terminal {
        print("\u{1B}[H\u{1B}[2J" + StatusView.render(status))
      } else {
        print("== \(stamp.string(from: Date()))\n" + StatusView.render(status) + "\n")
      }
      PrintedOutput.flush()
      Thread.sleep(forTimeInterval: max(interval, 0.2))
    }
  }
}

struct CancelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cancel", abstract: "Cancel a sweep's pending and running runs (finished results are kept).",
    discussion: """
      Example:
        trac-sweep cancel ballcircle-alpha-eta
      """)

  @Argument(help: "A sweep id or name.") var sweep: String
  @OptionGroup var client: ClientOptions

  func run() throws {
    print(try client.call(ClientRequest(command: .cancel, sweep: sweep), expecting: ChangeReply.self).message)
  }
}

struct RetryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "retry", abstract: "Run a sweep's failed runs again, with their seeds.",
    discussion: """
      Example:
        trac-sweep retry ballcircle-alpha-eta --failed
      """)

  @Argument(help: "A sweep id or name.") var sweep: String
  @Flag(help: "Only the failed runs (required: the only kind of retry).") var failed = false
  @OptionGroup var client: ClientOptions

  func validate() throws {
    guard failed else { throw ValidationError("say which runs to retry: --failed") }
  }

  func run() throws {
    let reply = try client.call(
      ClientRequest(command: .retry, sweep: sweep, failedOnly: true), expecting: ChangeReply.self)
    print(reply.message)
  }
}

struct ReleaseCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "release", abstract: "Take a quarantined worker out of quarantine.",
    discussion: """
      Example:
        trac-sweep release node7-3f2a
      """)

  @Argument(help: "A worker id, as `status` shows it.") var worker: String
  @OptionGroup var client: ClientOptions

  func run() throws {
    print(
      try client.call(
        ClientRequest(command: .release, worker: try WorkerID(worker)), expecting: ChangeReply.self
      ).message)
  }
}

struct ResultsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "results",
    abstract: "One tidy row per run, as CSV or JSON (pandas.read_csv loads it as is).",
    discussion: """
      Example:
        trac-sweep results ballcircle-alpha-eta --format csv > results.csv
      """)

  enum Format: String, ExpressibleByArgument { case csv, json }

  @Argument(help: "A sweep id or name.") var sweep: String
  @Option(help: "csv or json.") var format: Format = .csv
  @OptionGroup var client: ClientOptions

  func run() throws {
    let reply = try client.call(ClientRequest(command: .results, sweep: sweep), expecting: ResultsReply.self)
    switch format {
    case .csv:
      print(CSV.line(reply.columns))
      for row in reply.rows { print(CSV.line(row)) }
    case .json:
      // Numbers, integers and booleans as JSON numbers and booleans; a missing value null.
      print(reply.typedJSON())
    }
  }
}
