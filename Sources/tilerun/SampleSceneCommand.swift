import Foundation
import TileRun

/// `tilerun sample-scene DIR [--name NAME] [--size N] [--seed S]`: writes a synthetic scene and its labels.
enum SampleSceneCommand {
    static let usage = "tilerun sample-scene DIR [--name NAME] [--size N] [--seed S]"

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: [], options: ["--name", "--size", "--seed"])
        guard args.positionals.count == 1 else { throw UsageError("sample-scene needs one output folder") }
        guard let size = Int(args.options["--size"] ?? "1024"), (64...16384).contains(size) else {
            throw UsageError("--size must be an integer from 64 to 16384")
        }
        guard let seed = UInt64(args.options["--seed"] ?? "1") else { throw UsageError("--seed must be an unsigned integer") }
        let dir = args.positionals[0]
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let written = try SceneGenerator(width: size, height: size, seed: seed)
            .write(to: dir, name: args.options["--name"] ?? "scene-\(seed)")
        print("wrote \(written.image)")
        print("wrote \(written.labels)")
        return 0
    }
}
