import Foundation
@testable import TileRun
import XCTest

/// The device the OpenCL tests run on: the first GPU, else the first device of any kind (PoCL in CI),
/// or an XCTSkip when no OpenCL platform is installed.
func openCLTestDevice() throws -> OpenCLDevice {
    let devices = try OpenCLDevice.all()
    guard let device = devices.first(where: { $0.kind == .gpu }) ?? devices.first else {
        throw XCTSkip("no OpenCL platform is installed (deploy/install-deps.sh --test installs PoCL)")
    }
    return device
}

/// The reference networks of Tests/Tools/make_reference_networks.py, built once per test process.
enum ReferenceNetworks {
    private static let built: URL? = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tilerun-opencl-refnets-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", SharedData.packageRoot.appendingPathComponent("Tests/Tools/make_reference_networks.py").path, dir.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? dir : nil
    }()

    /// The folder of network `name` (model.onnx and one recorded data set), or an XCTSkip.
    static func folder(_ name: String) throws -> String {
        guard let dir = built else { throw XCTSkip("python3 with onnx and onnxruntime is needed to build the reference networks") }
        return dir.appendingPathComponent(name).path
    }
}

/// max |a − b| / max |b| over two float tensors of the same shape.
func normalizedDifference(_ a: Tensor, _ b: Tensor) -> Double {
    guard a.shape == b.shape, let x = a.floats, let y = b.floats else { return .infinity }
    var diff = 0.0, scale = 0.0
    for i in x.indices {
        diff = max(diff, abs(Double(x[i]) - Double(y[i])))
        scale = max(scale, abs(Double(y[i])))
    }
    return scale > 0 ? diff / scale : diff
}

func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var state = seed
    let values = (0..<shape.reduce(1, *)).map { _ -> Float in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }
    return Tensor(shape: shape, floats: values)
}
