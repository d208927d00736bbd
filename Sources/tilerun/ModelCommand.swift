import Foundation
import TileRun

/// `tilerun model test DIR...`: runs ONNX backend-test folders and compares with their expected outputs.
enum ModelCommand {
    static let usage = """
        tilerun model info MODEL.onnx [--tile N] [--json]
          tilerun model test DIR... [--threads N] [--normalized-tolerance T] [--device auto|cpu|opencl|opencl:P.D]
        """

    static func run(_ words: [String]) throws -> Int32 {
        guard let sub = words.first else { throw UsageError("model needs a subcommand: info or test") }
        let rest = Array(words.dropFirst())
        switch sub {
        case "info": return try info(rest)
        case "test": return try test(rest)
        default: throw UsageError("unknown model subcommand '\(sub)'")
        }
    }

    static func info(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: ["--json"], options: ["--tile"])
        guard args.positionals.count == 1 else { throw UsageError("model info needs one model file") }
        var tile: Int?
        if let t = args.options["--tile"] {
            guard let v = Int(t), v > 0 else { throw UsageError("--tile must be a positive integer") }
            tile = v
        }
        let summary = try ModelSummary(path: args.positionals[0], tileSize: tile)
        if args.flags.contains("--json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(summary.text)
        }
        return 0
    }

    static func test(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: [], options: ["--threads", "--normalized-tolerance", "--device"])
        guard !args.positionals.isEmpty else { throw UsageError("model test needs at least one folder") }
        let threads = try Int(args.options["--threads"] ?? "\(ProcessInfo.processInfo.activeProcessorCount)")
            .flatMap { $0 > 0 ? $0 : nil } ?? { throw UsageError("--threads must be a positive integer") }()
        var test = ConformanceTest(device: try DevicesCommand.device(args.options["--device"]))
        if let t = args.options["--normalized-tolerance"] {
            guard let v = Double(t), v > 0 else { throw UsageError("--normalized-tolerance must be a positive number") }
            test.criterion = .normalized(v)
        }
        var failed = false
        for dir in args.positionals {
            do {
                for c in try test.run(directory: dir, threads: threads) {
                    let verdict = c.passed ? "ok  " : "FAIL"
                    let detail = c.mismatch ?? String(format: "max abs error %.3g, max rel error %.3g, max abs error / max |expected| %.3g",
                                                         c.maxAbsoluteError, c.maxRelativeError, c.normalizedError)
                    print("\(verdict) \(dir) \(c.dataSet) \(c.output): \(detail)")
                    if let report = c.executionReport { print("     \(report)") }
                    if !c.passed { failed = true }
                }
            } catch let error as ModelError {
                Console.error(error.description)
                failed = true
            }
        }
        return failed ? 1 : 0
    }
}
