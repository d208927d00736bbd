import Foundation
import TileRun
import XCTest

/// The pipeline tests' model and scenes.
enum PipelineFixtures {
    /// Tests/Tools/make_pipeline_test_model.py's model, built once per test process; nil when python3
    /// with onnx is unavailable.
    static let modelPath: String? = buildModel()
    /// The same model with its input's batch dimension fixed at 2.
    static let fixedBatchModelPath: String? = buildModel(["--fixed-batch", "2"])
    /// A pre/post-event model: 6 channels, the pre scene's RGB then the post scene's.
    static let prePostModelPath: String? = buildModel(["--pre-post"])

    private static func buildModel(_ arguments: [String] = []) -> String? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tilerun-pipeline-model-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("model.onnx").path
        let script = SharedData.packageRoot.appendingPathComponent("Tests/Tools/make_pipeline_test_model.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, path] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? path : nil
    }

    static func model(fixedBatch: Bool = false, prePost: Bool = false) throws -> String {
        guard let path = prePost ? prePostModelPath : fixedBatch ? fixedBatchModelPath : modelPath else {
            throw XCTSkip("python3 with onnx is needed to build the pipeline test model")
        }
        return path
    }

    /// The test scenes' georeferencing: EPSG:32615, 0.5 m pixels.
    static let geo = GeoReference.northUp(epsg: 32615, originX: 500_000, originY: 4_100_000, pixelSize: 0.5)

    /// Writes a uint8 scene whose samples come from `value(band, x, y)`.
    @discardableResult
    static func writeScene(_ path: String, width: Int, height: Int, bands: Int = 3, noData: NoData? = nil,
                           value: (Int, Int, Int) -> UInt8) throws -> String {
        var samples = [UInt8](repeating: 0, count: bands * width * height)
        for b in 0..<bands {
            for y in 0..<height {
                for x in 0..<width { samples[(b * height + y) * width + x] = value(b, x, y) }
            }
        }
        let writer = try RasterWriter(path: path, width: width, height: height, options: RasterWriterOptions(
            sampleType: .uint8, bandCount: bands, tileSize: 64, noData: noData, geo: geo, cloudOptimized: false))
        try writer.write(rows: 0, height: height, values: samples)
        try writer.finish()
        return path
    }

    /// A textured scene (seeded), different in every band.
    static func texture(_ b: Int, _ x: Int, _ y: Int) -> UInt8 {
        var h = UInt64(b * 1_000_003 + x * 7919 + y * 104_729) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        let noise = Int(h % 60)
        let pattern = Int(127 + 90 * sin(Double(x) / 9 + Double(b)) * cos(Double(y) / 13))
        return UInt8(max(0, min(255, pattern + noise - 30)))
    }

    /// Settings for a run of the test model with small tiles.
    static func settings(inputs: [String], output: URL, threads: Int = 1, probabilities: Bool = true,
                         blending: Blending = .hann, overlap: Int = 16) throws -> RunSettings {
        RunSettings(inputs: inputs, modelPath: try model(), outputFolder: output.path, tileSize: 64, overlap: overlap,
                    blending: blending, batch: 2, threads: threads, writeProbabilities: probabilities)
    }
}
