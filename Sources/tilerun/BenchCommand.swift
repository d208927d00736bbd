import Foundation
import TileRun

/// `tilerun bench MODEL.onnx`: inference throughput on random tiles.
enum BenchCommand {
    static let usage = "tilerun bench MODEL.onnx [--tile 512] [--batch N] [--threads N] [--repeat N] [--device auto|cpu|opencl|opencl:P.D] [--profile] [--json]"

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: ["--json", "--profile"], options: ["--tile", "--batch", "--threads", "--repeat", "--device"])
        guard args.positionals.count == 1 else { throw UsageError("bench needs one model file") }
        func positive(_ key: String, _ fallback: Int) throws -> Int {
            guard let v = Int(args.options[key] ?? "\(fallback)"), v > 0 else { throw UsageError("\(key) must be a positive integer") }
            return v
        }
        let bench = InferenceBenchmark(tileSize: try positive("--tile", 512), batch: try positive("--batch", 1),
                                       threads: try positive("--threads", ProcessInfo.processInfo.activeProcessorCount),
                                       repeats: try positive("--repeat", 5), device: try DevicesCommand.device(args.options["--device"]))
        let r = try bench.run(path: args.positionals[0])
        if args.flags.contains("--json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(r), as: UTF8.self))
        } else {
            let profile = r.secondsByOperator.sorted { $0.value > $1.value }
                .map { String(format: "%@ %.3f s", $0.key, $0.value) }.joined(separator: ", ")
            print(String(format: "%@: %d×%d tiles, batch %d, %d threads (%@): %.3f s median of %d (mean %.3f s), %.2f tiles/s, %.2f Mpx/s, %.1f GFLOP/s (%.2f GFLOP per tile)",
                         r.model, r.tileSize, r.tileSize, r.batch, r.threads, r.device, r.medianSeconds, r.repeats, r.meanSeconds, r.tilesPerSecond,
                         r.megapixelsPerSecond, r.gflopsPerSecond, r.gflopsPerTile))
            print("  time by operator (one run after the warm-up): \(profile)")
            if args.flags.contains("--profile") {
                for node in r.nodes {
                    let rate = node.flops > 0 ? String(format: "%7.1f GFLOP/s", node.flops / node.seconds / 1e9) : ""
                    print(String(format: "  %8.2f ms  %-14@ %-22@ %@", node.seconds * 1e3, node.opType,
                                 node.outputShape.map(String.init).joined(separator: "×"), rate))
                }
            }
            if let placement = r.placement { print("  placement: \(placement)") }
            if let failure = r.deviceFailure { print("  \(failure)") }
        }
        return 0
    }
}
