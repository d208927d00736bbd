import Foundation
import TileRun

/// `tilerun sample-scene DIR [--kind K] [--name NAME] [--size N] [--seed S]`: writes a synthetic scene
/// (or a pre/post pair) and its labels.
enum SampleSceneCommand {
    static let usage = "tilerun sample-scene DIR [--kind landcover|landcover-nir|damage] [--name NAME] [--size N] [--seed S]"

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: [], options: ["--kind", "--name", "--size", "--seed"])
        guard args.positionals.count == 1 else { throw UsageError("sample-scene needs one output folder") }
        guard let size = Int(args.options["--size"] ?? "1024"), (64...16384).contains(size) else {
            throw UsageError("--size must be an integer from 64 to 16384")
        }
        guard let seed = UInt64(args.options["--seed"] ?? "1") else { throw UsageError("--seed must be an unsigned integer") }
        let kind = args.options["--kind"] ?? "landcover"
        let dir = args.positionals[0]
        let written: [String]
        switch kind {
        case "landcover", "landcover-nir":
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let generator = SceneGenerator(width: size, height: size, seed: seed)
            let name = args.options["--name"] ?? "scene-\(seed)"
            let scene = kind == "landcover" ? try generator.write(to: dir, name: name)
                                            : try generator.writeReflectance(to: dir, name: name)
            written = [scene.image, scene.labels]
        case "damage":
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let pair = try DamageSceneGenerator(width: size, height: size, seed: seed)
                .write(to: dir, name: args.options["--name"] ?? "damage-\(seed)")
            written = [pair.pre, pair.post, pair.labels]
        default:
            throw UsageError("--kind must be landcover, landcover-nir or damage, not '\(kind)'")
        }
        for path in written { print("wrote \(path)") }
        return 0
    }
}
