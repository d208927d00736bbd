import Foundation
import TileRun

/// `tilerun status DIR [--json]`: what the output folder's manifest says (docs/scheduling.md).
enum StatusCommand {
    static let usage = "tilerun status DIR [--json]"

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: ["--json"], options: [])
        guard args.positionals.count == 1, let folder = args.positionals.first else {
            throw UsageError("status needs one output folder")
        }
        guard FileManager.default.fileExists(atPath: ManifestLayout(outputFolder: folder).folder) else {
            Console.error("\(folder): no tilerun manifest here (not an output folder of tilerun run)")
            return 2
        }
        let status = try ManifestStatus.read(outputFolder: folder)
        if args.flags.contains("--json") {
            print(String(decoding: try status.json(), as: UTF8.self))
        } else {
            status.lines.forEach { print($0) }
        }
        return 0
    }
}
