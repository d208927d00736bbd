import Foundation
import TileRun

/// `tilerun bench-read FILE`: window-reading throughput over a whole file, in the file's own sample type.
enum BenchReadCommand {
    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: ["--json"], options: ["--window", "--repeat"])
        guard args.positionals.count == 1 else { throw UsageError("bench-read needs exactly one file") }
        guard let windowSize = Int(args.options["--window"] ?? "1024"), windowSize > 0 else {
            throw UsageError("--window must be a positive integer")
        }
        guard let repeats = Int(args.options["--repeat"] ?? "3"), repeats > 0 else {
            throw UsageError("--repeat must be a positive integer")
        }
        let path = args.positionals[0]
        let result = try ReadBenchmark.run(path: path, windowSize: windowSize, repeats: repeats)
        if args.flags.contains("--json") {
            print("{\"file\": \"\(path)\", \"window\": \(windowSize), \"seconds\": \(result.bestSeconds), "
                  + "\"mb_per_s\": \(result.megabytesPerSecond), \"mpx_per_s\": \(result.megapixelsPerSecond), "
                  + "\"checksum\": \(result.checksum)}")
        } else {
            print(String(format: "tilerun read %@: %.3f s best of %d, %.1f MB/s decoded, %.1f Mpx/s (windows %d², checksum %llu)",
                         path, result.bestSeconds, repeats, result.megabytesPerSecond, result.megapixelsPerSecond,
                         windowSize, result.checksum))
        }
        return 0
    }
}
