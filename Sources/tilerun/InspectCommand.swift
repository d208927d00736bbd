import Foundation
import TileRun

/// `tilerun inspect FILE... [--json] [--stats] [--checksum]`: what gdalinfo tells, for each file.
enum InspectCommand {
    static let usage = "tilerun inspect FILE... [--json] [--stats] [--checksum]"

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: ["--json", "--stats", "--checksum"], options: [])
        guard !args.positionals.isEmpty else { throw UsageError("inspect needs at least one file") }
        let wantStats = args.flags.contains("--stats")
        let wantSums = args.flags.contains("--checksum")
        var failed = false
        var reports: [InspectReport] = []
        var failures: [[String: String]] = []
        for path in args.positionals {
            do {
                let reader = try RasterReader(path: path)
                let analysis = wantStats || wantSums
                    ? try RasterAnalysis.analyze(reader, statistics: wantStats, checksums: wantSums) : nil
                let report = InspectReport(info: reader.info, analysis: analysis)
                if args.flags.contains("--json") { reports.append(report) } else { print(report.text) }
            } catch let error as RasterError {
                failed = true
                failures.append(["path": error.path, "error": error.problem])
                Console.error(error.description)
            }
        }
        if args.flags.contains("--json") {
            struct Output: Encodable {
                let files: [InspectReport]
                let failures: [[String: String]]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let data = try encoder.encode(Output(files: reports, failures: failures))
            print(String(decoding: data, as: UTF8.self))
        }
        return failed ? 1 : 0
    }
}
