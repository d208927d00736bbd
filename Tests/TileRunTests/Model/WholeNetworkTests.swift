import Foundation
import TileRun
import XCTest

/// U-Net, MobileNet-FPN and DeepLab-style networks built with the onnx helper API, compared with
/// onnxruntime's outputs (Tests/Tools/make_reference_networks.py records them; test-time only).
final class WholeNetworkTests: XCTestCase {
    static var directory: URL?

    override class func setUp() {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tilerun-refnets-\(UUID().uuidString)")
        let script = SharedData.packageRoot.appendingPathComponent("Tests/Tools/make_reference_networks.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, dir.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if (try? process.run()) != nil {
            process.waitUntilExit()
            if process.terminationStatus == 0 { directory = dir }
        }
    }

    override class func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func network(_ name: String) throws -> String {
        guard let dir = Self.directory else {
            throw XCTSkip("python3 with onnx and onnxruntime is needed to build the reference networks")
        }
        return dir.appendingPathComponent(name).path
    }

    private func assertMatchesOnnxRuntime(_ name: String) throws {
        let dir = try network(name)
        for c in try ConformanceTest(criterion: .normalized(1e-4)).run(directory: dir, threads: 2) {
            XCTAssertTrue(c.passed, "\(name): max |a−b| / max |b| = \(c.normalizedError)")
            XCTAssertLessThanOrEqual(c.normalizedError, 1e-4)
        }
    }

    func testUNetMatchesOnnxRuntime() throws { try assertMatchesOnnxRuntime("unet") }
    func testMobileNetFPNMatchesOnnxRuntime() throws { try assertMatchesOnnxRuntime("mobilenet_fpn") }
    func testDeepLabASPPMatchesOnnxRuntime() throws { try assertMatchesOnnxRuntime("deeplab") }

    func testOutputsDoNotDependOnTheThreadCount() throws {
        let dir = try network("mobilenet_fpn")
        let session = try InferenceSession(path: dir + "/model.onnx")
        var rng = SystemRandomNumberGenerator()
        let x = Tensor(shape: [1, 4, 48, 80], floats: (0..<(4 * 48 * 80)).map { _ in Float.random(in: -1...1, using: &rng) })
        let one = try session.run(["image": x], threads: 1)
        for threads in [2, 3] {
            XCTAssertEqual(try session.run(["image": x], threads: threads), one, "\(threads) threads")
        }
    }

    func testBatchNormalizationAndActivationsAreFusedIntoConv() throws {
        let session = try InferenceSession(path: try network("mobilenet_fpn") + "/model.onnx")
        XCTAssertFalse(session.preparedOperators.contains("BatchNormalization"))
        XCTAssertFalse(session.preparedOperators.contains("Clip"), "ReLU6 after Conv+BN is fused")
        XCTAssertFalse(session.preparedOperators.contains("Relu"))
        let deeplab = try InferenceSession(path: try network("deeplab") + "/model.onnx")
        XCTAssertFalse(deeplab.preparedOperators.contains("BatchNormalization"))
    }

    func testUnsupportedOperatorIsRefusedAtLoadNamingTheNode() throws {
        var model = try ONNXModel.load(path: try network("unet") + "/model.onnx")
        model.graph.nodes[3].opType = "Einsum"
        XCTAssertThrowsError(try InferenceSession(model: model)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("Einsum") && text.contains("not supported") && text.contains(model.graph.nodes[3].name), text)
            XCTAssertFalse(text.contains("\n"))
        }
    }
}
