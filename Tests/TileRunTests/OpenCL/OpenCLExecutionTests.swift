import Foundation
@testable import TileRun
import XCTest

/// The OpenCL backend against the same references as the CPU backend, with the same tolerances.
final class OpenCLExecutionTests: XCTestCase {
    /// Operators that only relabel a value (or make a constant): with a host input there is nothing to
    /// run on the device, and the CPU operator is used.
    static let metadataOnly: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Shape", "Identity", "Cast",
                                            "Constant", "ConstantOfShape"]

    /// Every ONNX node test case of a supported operator passes on the device as on the CPU (or is refused
    /// at load time the same way), and runs on the device unless its data is not float or it only relabels.
    func testONNXNodeTestsPassOnTheDevice() throws {
        let device = try openCLTestDevice()
        let root = SharedData.packageRoot.appendingPathComponent(".build/onnx-node-tests/node").path
        guard let cases = try? FileManager.default.contentsOfDirectory(atPath: root) else {
            throw XCTSkip("\(root) is absent: run Tests/Tools/fetch-onnx-node-tests.sh (deploy/test.sh does)")
        }
        let selected = cases.filter { name in
            !name.contains("_expanded") && !ONNXNodeConformanceTests.nonTensorCases.contains(name)
                && ONNXNodeConformanceTests.supportedPrefixes.contains { name.hasPrefix("test_" + $0) }
        }.sorted()
        var passed = 0, onDevice = 0, refused = 0
        for name in selected {
            let dir = (root as NSString).appendingPathComponent(name)
            do {
                let comparisons = try ConformanceTest(device: .opencl(device)).run(directory: dir, threads: 2)
                for c in comparisons {
                    XCTAssertTrue(c.passed, "\(name) \(c.dataSet) \(c.output): \(c.mismatch ?? "max abs error \(c.maxAbsoluteError), max rel error \(c.maxRelativeError)")")
                }
                passed += 1
                if comparisons.contains(where: { !($0.executionReport?.onDevice.isEmpty ?? true) }) {
                    onDevice += 1
                    continue
                }
                let model = try ONNXModel.load(path: dir + "/model.onnx")
                let floatData = [.float, .double, .float16].contains(model.graph.inputs.first?.elemType)
                let opTypes = Set(model.graph.nodes.map(\.opType))
                XCTAssertTrue(!floatData || opTypes.isSubset(of: Self.metadataOnly) || name == "test_resize_tf_crop_and_resize",
                              "\(name) ran on the CPU: \(comparisons.first?.executionReport?.description ?? "")")
            } catch let error as ModelError {
                XCTAssertTrue(error.description.contains("not supported") || error.description.contains("does not compute with"),
                              "\(name) failed instead of being refused: \(error)")
                refused += 1
            }
        }
        print("ONNX node tests on \(device.name): \(passed) of \(selected.count) cases pass, \(onDevice) with steps on the device; \(refused) refused")
        XCTAssertGreaterThanOrEqual(passed, 250)
        XCTAssertGreaterThanOrEqual(onDevice, 190)
    }

    private func assertMatchesOnnxRuntime(_ name: String, channels: Int = 3, cpuSteps: Set<String> = []) throws {
        let device = try openCLTestDevice()
        let dir = try ReferenceNetworks.folder(name)
        for c in try ConformanceTest(criterion: .normalized(1e-4), device: .opencl(device)).run(directory: dir, threads: 2) {
            XCTAssertTrue(c.passed, "\(name): max |a−b| / max |b| = \(c.normalizedError)")
            XCTAssertLessThanOrEqual(c.normalizedError, 1e-4)
            let report = try XCTUnwrap(c.executionReport)
            XCTAssertEqual(Set(report.onCPU.keys), cpuSteps, "\(report)")
        }
        // From the second run on, only the input goes up and the output comes back.
        let session = try InferenceSession(path: dir + "/model.onnx", device: .opencl(device))
        let x = randomTensor([1, channels, 32, 32], seed: 1)
        for _ in 0..<2 { _ = try session.run(["image": x]) }
        let report = try XCTUnwrap(session.executionReport)
        XCTAssertEqual(report.uploads, 1, "\(report)")
        XCTAssertEqual(report.downloads, 1, "\(report)")
    }

    func testUNetMatchesOnnxRuntime() throws { try assertMatchesOnnxRuntime("unet") }
    func testMobileNetFPNMatchesOnnxRuntime() throws { try assertMatchesOnnxRuntime("mobilenet_fpn", channels: 4) }
    /// DeepLab's size subgraph (Shape → Slice → Concat on int64) is host arithmetic: Shape reads the device
    /// tensor's shape without copying it back.
    func testDeepLabASPPMatchesOnnxRuntime() throws { try assertMatchesOnnxRuntime("deeplab", cpuSteps: ["Slice", "Concat"]) }

    /// A batch of odd-sized tiles (tile edges off the GEMM blocks) gives what the CPU backend gives.
    func testDeviceAgreesWithTheCPUOnABatch() throws {
        let device = try openCLTestDevice()
        for (name, channels) in [("unet", 3), ("mobilenet_fpn", 4), ("deeplab", 3)] {
            let model = try ONNXModel.load(path: try ReferenceNetworks.folder(name) + "/model.onnx")
            let x = randomTensor([2, channels, 48, 80], seed: 7)
            let want = try InferenceSession(model: model).run(["image": x])
            let got = try InferenceSession(model: model, device: .opencl(device)).run(["image": x])
            for (output, value) in want {
                XCTAssertLessThanOrEqual(normalizedDifference(try XCTUnwrap(got[output]), value), 1e-4, "\(name) \(output)")
            }
        }
    }

    /// A chain of relabelling and data-movement operators between kernels: values stay on the device
    /// throughout (relabels reuse the buffer), constants are uploaded on the first run only.
    func testValuesStayOnTheDeviceThroughReshapesAndSlices() throws {
        let device = try openCLTestDevice()
        var model = ONNXModel(source: "chain")
        model.opsetImports = ["": 13]
        func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [String: ONNXAttribute] = [:]) -> ONNXNode {
            var n = ONNXNode()
            (n.name, n.opType, n.inputs, n.outputs, n.attributes) = (output, op, inputs, [output], attributes)
            return n
        }
        func ints(_ name: String, _ v: [Int64]) -> ONNXTensor {
            ONNXTensor(name: name, dataType: .int64, dims: [v.count], storage: .int64(v))
        }
        let w = randomTensor([15, 4], seed: 11)
        model.graph.initializers = [
            ints("shape", [2, 3, 20]), ints("axis1", [1]), ints("starts", [5]), ints("ends", [50]), ints("steps", [3]),
            ONNXTensor(name: "W", dataType: .float, dims: [15, 4], storage: .float(w.floats!)),
            ONNXTensor(name: "B", dataType: .float, dims: [4], storage: .float([0.5, -0.25, 0, 1])),
        ]
        model.graph.nodes = [
            node("Relu", ["x"], "r"), node("Reshape", ["r", "shape"], "a"), node("Transpose", ["a"], "b", ["perm": .ints([0, 2, 1])]),
            node("Unsqueeze", ["b", "axis1"], "c"), node("Squeeze", ["c", "axis1"], "d"), node("Flatten", ["d"], "e"),
            node("Identity", ["e"], "f"), node("Cast", ["f"], "g", ["to": .int(1)]),
            node("Slice", ["g", "starts", "ends", "axis1", "steps"], "h"), node("Gemm", ["h", "W", "B"], "i"),
            node("Softmax", ["i"], "probabilities"), node("ArgMax", ["probabilities"], "classes", ["axis": .int(1)]),
        ]
        var input = ONNXValueInfo()
        (input.name, input.kind, input.elemType) = ("x", .tensor, .float)
        model.graph.inputs = [input]
        model.graph.outputs = ["probabilities", "classes"].map { name in
            var info = ONNXValueInfo()
            info.name = name
            return info
        }
        let x = randomTensor([2, 3, 4, 5], seed: 9)
        let want = try InferenceSession(model: model).run(["x": x])
        let session = try InferenceSession(model: model, device: .opencl(device))
        for run in 0..<2 {
            let got = try session.run(["x": x])
            XCTAssertLessThanOrEqual(normalizedDifference(try XCTUnwrap(got["probabilities"]), want["probabilities"]!), 1e-5)
            XCTAssertEqual(got["classes"], want["classes"])
            let report = try XCTUnwrap(session.executionReport)
            XCTAssertEqual(report.onCPU, [:], "\(report)")
            XCTAssertEqual(report.onDevice.values.reduce(0, +), 12, "\(report)")
            XCTAssertEqual(report.uploads, run == 0 ? 4 : 1, "W, B and Slice's index map once, x every run: \(report)")
            XCTAssertEqual(report.downloads, 2, "the two outputs: \(report)")
        }
    }

    /// The other GEMM kernel than the device's own (on PoCL: the tiled local-memory kernel GPUs use) over
    /// the convolution and matrix node tests and the networks.
    func testTheOtherGEMMKernelMatchesToo() throws {
        let device = try openCLTestDevice()
        let other = KernelSource.GEMMTiling.forDevice(device.kind).blocked ? "tiled" : "blocked"
        setenv("TILERUN_OPENCL_GEMM", other, 1)
        defer { unsetenv("TILERUN_OPENCL_GEMM") }
        let root = SharedData.packageRoot.appendingPathComponent(".build/onnx-node-tests/node").path
        let cases = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
            ["test_conv_", "test_basic_conv", "test_convtranspose", "test_matmul_", "test_gemm_"].contains(where: $0.hasPrefix) && !$0.contains("_expanded")
        }
        var checked = 0
        for name in cases.sorted() {
            let comparisons: [ConformanceTest.Comparison]
            do {
                comparisons = try ConformanceTest(device: .opencl(device)).run(directory: root + "/" + name, threads: 2)
            } catch let error as ModelError where error.problem.contains("not supported") {
                continue  // refused at load time, as on the CPU (3-D ConvTranspose)
            }
            for c in comparisons {
                XCTAssertTrue(c.passed, "\(other) GEMM: \(name): max abs error \(c.maxAbsoluteError)")
                XCTAssertFalse(c.executionReport?.onDevice.isEmpty ?? true, name)
                checked += 1
            }
        }
        for (name, channels) in [("unet", 3), ("mobilenet_fpn", 4), ("deeplab", 3)] {
            let model = try ONNXModel.load(path: try ReferenceNetworks.folder(name) + "/model.onnx")
            let x = randomTensor([2, channels, 48, 80], seed: 13)
            let want = try InferenceSession(model: model).run(["image": x])
            let session = try InferenceSession(model: model, device: .opencl(device))
            XCTAssertEqual(session.backend?.cl.tiling.kernel, other == "tiled" ? "gemm" : "gemm_block")
            let got = try session.run(["image": x])
            for (output, value) in want {
                XCTAssertLessThanOrEqual(normalizedDifference(try XCTUnwrap(got[output]), value), 1e-4, "\(other) GEMM: \(name)")
            }
        }
        print("\(other) GEMM kernel: \(checked) node-test outputs and 3 networks match")
    }

    func testOutOfMemoryRetriesWithSmallerBatches() throws {
        let device = try openCLTestDevice()
        let model = try ONNXModel.load(path: try ReferenceNetworks.folder("mobilenet_fpn") + "/model.onnx")
        let session = try InferenceSession(model: model, device: .opencl(device))
        let x = randomTensor([4, 4, 32, 32], seed: 3)
        let whole = try session.run(["image": x])
        let executor = try XCTUnwrap(session.backend)
        executor.injectedFault = (step: 5, error: OpenCLError(-4, "allocating (injected)"))
        let split = try session.run(["image": x])
        XCTAssertNil(executor.injectedFault, "the fault was reached")
        XCTAssertNil(session.deviceFailure, "running out of memory is not a device failure")
        XCTAssertEqual(split.keys.sorted(), whole.keys.sorted())
        for (name, value) in whole {
            XCTAssertEqual(split[name]?.shape, value.shape)
            XCTAssertLessThanOrEqual(normalizedDifference(try XCTUnwrap(split[name]), value), 1e-6, name)
        }
        // Halves ran on the device: the latest report is a half batch's.
        XCTAssertFalse(try XCTUnwrap(session.executionReport).onDevice.isEmpty)
    }

    func testDeviceFailureFinishesOnTheCPUAndSaysSo() throws {
        let device = try openCLTestDevice()
        let model = try ONNXModel.load(path: try ReferenceNetworks.folder("unet") + "/model.onnx")
        let session = try InferenceSession(model: model, device: .opencl(device))
        let messages = MessageLog()
        session.onDeviceFailure = { messages.append($0) }
        let x = randomTensor([1, 3, 32, 32], seed: 5)
        let cpu = try InferenceSession(model: model).run(["image": x], threads: 2)
        try XCTUnwrap(session.backend).injectedFault = (step: 7, error: OpenCLError(-36, "running kernel (injected)"))
        XCTAssertEqual(try session.run(["image": x], threads: 2), cpu, "the batch was finished by the CPU kernels")
        let failure = try XCTUnwrap(session.deviceFailure)
        XCTAssertTrue(failure.contains("continuing on the CPU") && failure.contains("CL_INVALID_COMMAND_QUEUE"), failure)
        XCTAssertEqual(messages.all, [failure])
        // Later runs stay on the CPU and the handler is not called again.
        XCTAssertEqual(try session.run(["image": x], threads: 2), cpu)
        XCTAssertEqual(messages.all.count, 1)
    }
}

/// Messages from a @Sendable callback.
private final class MessageLog: @unchecked Sendable {
    private var messages: [String] = []
    private let lock = NSLock()
    func append(_ m: String) { lock.lock(); messages.append(m); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return messages }
}
