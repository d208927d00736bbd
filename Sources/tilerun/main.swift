import Foundation
import TileRun

let usage = """
    tilerun — GeoTIFF scenes in, georeferenced segmentation maps out.

    Usage:
      \(InspectCommand.usage)
      tilerun bench-read FILE [--window N] [--repeat N] [--json]
      \(SampleSceneCommand.usage)
      \(ModelCommand.usage)
      \(BenchCommand.usage)
      \(DevicesCommand.usage)
      \(RunCommand.usage)
      \(ResumeCommand.usage)
      \(StatusCommand.usage)
      tilerun --version

    Exit codes: 0 success (every scene done), 1 some input or scene failed, 2 usage or configuration error,
    75 another run holds the output folder, 130/143 stopped by SIGINT/SIGTERM (resume with tilerun resume DIR).
    """

/// Runs the command named by the first argument and returns the process exit code.
func runCommand(_ words: [String]) -> Int32 {
    guard let command = words.first else {
        print(usage)
        return 2
    }
    let rest = Array(words.dropFirst())
    do {
        switch command {
        case "inspect": return try InspectCommand.run(rest)
        case "bench-read": return try BenchReadCommand.run(rest)
        case "sample-scene": return try SampleSceneCommand.run(rest)
        case "model": return try ModelCommand.run(rest)
        case "bench": return try BenchCommand.run(rest)
        case "devices": return try DevicesCommand.run(rest)
        case "run": return try RunCommand.run(rest)
        case "validate": return try ValidateCommand.run(rest)
        case "resume": return try ResumeCommand.run(rest)
        case "status": return try StatusCommand.run(rest)
        case "--version", "version":
            print("tilerun \(TileRunVersion.string)")
            return 0
        case "--help", "-h", "help":
            print(usage)
            return 0
        default:
            throw UsageError("unknown command '\(command)'")
        }
    } catch let error as UsageError {
        Console.error(error.description)
        Console.error("see 'tilerun --help'")
        return 2
    } catch let error as RasterError {
        Console.error(error.description)
        return 1
    } catch let error as ModelError {
        Console.error(error.description)
        return 1
    } catch {
        Console.error("\(error)")
        return 1
    }
}

exit(runCommand(Array(CommandLine.arguments.dropFirst())))
