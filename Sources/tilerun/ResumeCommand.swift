import Foundation
import TileRun

/// `tilerun resume DIR`: runs the last batch recorded in DIR's manifest again, with the same arguments
/// from the same working directory; done scenes are skipped, interrupted ones resume (docs/scheduling.md).
enum ResumeCommand {
    static let usage = "tilerun resume DIR"

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: [], options: [])
        guard args.positionals.count == 1, let folder = args.positionals.first else {
            throw UsageError("resume needs one output folder")
        }
        guard let batch = try Manifest.read(outputFolder: folder).state.lastBatch, batch.arguments.first == "run" else {
            Console.error("\(folder): no run to resume (its manifest records none)")
            return 2
        }
        // Resolved before moving to the run's folder; passed on so that a moved output folder still resumes in place.
        let output = URL(fileURLWithPath: folder).standardized.path
        guard FileManager.default.changeCurrentDirectoryPath(batch.workingDirectory) else {
            Console.error("\(folder): cannot resume in \(batch.workingDirectory), the folder the run was started in")
            return 2
        }
        return try RunCommand.run(Array(batch.arguments.dropFirst()), output: output,
                                  note: "resuming in \(batch.workingDirectory): tilerun \(batch.arguments.joined(separator: " "))")
    }
}
