import Foundation
@testable import TileRun
import XCTest

/// `tilerun run` through OpenCL agrees with the CPU kernels on real scenes.
final class OpenCLPipelineTests: XCTestCase {
    func testOpenCLAndCPUClassMapsAgreeOnRealScenes() throws {
        let device = try openCLTestDevice()
        let scenes = [try SharedData.corpus("rasterio/RGB.byte.tif"), try SharedData.path("scenes/joplin-2011/post.tif")]
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var outputs: [[SceneResult]] = []
        for name in ["cpu", "opencl:\(device.platformIndex).\(device.deviceIndex)"] {
            var settings = try PipelineFixtures.settings(inputs: scenes, output: directory.appendingPathComponent(name), threads: 2)
            settings.device = name
            settings.tileSize = 256
            settings.overlap = 32
            settings.writeQuicklook = false
            let plan = try ModelPlan(settings: settings)
            XCTAssertEqual(plan.device == .cpu, name == "cpu")
            let outcome = try BatchRunner(plan: plan).run()
            XCTAssertEqual(outcome.failures, [])
            outputs.append(outcome.results)
        }
        for (cpu, opencl) in zip(outputs[0], outputs[1]) {
            let cpuReader = try RasterReader(path: cpu.classMap)
            let bounds = cpuReader.info.bounds
            let a = try cpuReader.readNative(bounds).bytes
            let b = try RasterReader(path: opencl.classMap).readNative(bounds).bytes
            let p = try RasterReader(path: try XCTUnwrap(cpu.probabilities)).readFloat(bounds)
            let q = try RasterReader(path: try XCTUnwrap(opencl.probabilities)).readFloat(bounds)
            let worst = zip(p, q).map { $0.isNaN && $1.isNaN ? 0 : abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-4, cpu.scene.name)
            // Pixels may differ only where two classes are tied to within the probabilities' tolerance.
            let plane = bounds.pixelCount
            var differing = 0
            for i in 0..<plane where a[i] != b[i] {
                let classes = p.count / plane
                let sorted = (0..<classes).map { p[$0 * plane + i] }.sorted(by: >)
                if sorted[0] - sorted[1] > 2e-4 { differing += 1 }
            }
            XCTAssertLessThanOrEqual(Double(differing), Double(plane) * 1e-4, "\(cpu.scene.name): \(differing) of \(plane) pixels differ")
        }
    }
}
