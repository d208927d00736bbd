import Foundation
@testable import TileRun
import XCTest

/// Batches submitted ahead of being waited for (`InferenceSession.submit`/`wait`), and the phase-split
/// ConvTranspose, on the OpenCL device.
final class OpenCLSubmitTests: XCTestCase {
    private func unet() throws -> ONNXModel {
        try ONNXModel.load(path: try ReferenceNetworks.folder("unet") + "/model.onnx")
    }

    /// Several batches in flight at once, of two sizes, give the very bytes `run` gives, waited for in
    /// submission order and pipelined (submit n + 1, then wait for n); so does the CPU backend.
    func testSubmittedBatchesGiveTheBytesOfRun() throws {
        let device = try openCLTestDevice()
        let model = try unet()
        let batches = (0..<5).map { randomTensor([$0 % 3 == 2 ? 1 : 2, 3, 32, 32], seed: UInt64(20 + $0)) }
        for backend in [ComputeDevice.opencl(device), .cpu] {
            let session = try InferenceSession(model: model, device: backend)
            let want = try batches.map { try session.run(["image": $0], threads: 2) }
            let tickets = try batches.map { try session.submit(["image": $0], threads: 2) }
            for (i, ticket) in tickets.enumerated() {
                XCTAssertEqual(try session.wait(ticket), want[i], "\(backend): batch \(i) of \(tickets.count) in flight")
            }
            var previous: InferenceTicket?
            for (i, x) in batches.enumerated() {
                let ticket = try session.submit(["image": x], threads: 2)
                if let previous { XCTAssertEqual(try session.wait(previous), want[i - 1], "\(backend): pipelined batch \(i - 1)") }
                previous = ticket
            }
            XCTAssertEqual(try session.wait(try XCTUnwrap(previous)), want.last, "\(backend): last pipelined batch")
        }
    }

    /// A ticket dropped unwaited does not disturb the batches after it.
    func testADroppedTicketLeavesLaterBatchesIntact() throws {
        let device = try openCLTestDevice()
        let session = try InferenceSession(model: try unet(), device: .opencl(device))
        let x = randomTensor([2, 3, 32, 32], seed: 41), z = randomTensor([2, 3, 32, 32], seed: 42)
        let want = try session.run(["image": z], threads: 2)
        _ = try session.submit(["image": x], threads: 2)
        XCTAssertEqual(try session.wait(try session.submit(["image": z], threads: 2)), want)
    }

    /// A device failure while batches are queued: the failing batch and those after it are finished on the
    /// CPU (the same bytes as the CPU backend), the batch queued before it completes on the device, and the
    /// handler hears of the failure once.
    func testDeviceFailureWithBatchesInFlight() throws {
        let device = try openCLTestDevice()
        let model = try unet()
        let inputs = (0..<3).map { randomTensor([1, 3, 32, 32], seed: UInt64(30 + $0)) }
        let cpu = try InferenceSession(model: model)
        let want = try inputs.map { try cpu.run(["image": $0], threads: 2) }
        let session = try InferenceSession(model: model, device: .opencl(device))
        let messages = SubmitMessageLog()
        session.onDeviceFailure = { messages.append($0) }
        let first = try session.submit(["image": inputs[0]], threads: 2)
        try XCTUnwrap(session.backend).injectedFault = (step: 7, error: OpenCLError(-36, "running kernel (injected)"))
        let second = try session.submit(["image": inputs[1]], threads: 2)
        let third = try session.submit(["image": inputs[2]], threads: 2)
        XCTAssertEqual(try session.wait(third), want[2])
        XCTAssertEqual(try session.wait(second), want[1])
        for (name, value) in want[0] {
            XCTAssertLessThanOrEqual(normalizedDifference(try XCTUnwrap(session.wait(first)[name]), value), 1e-4, name)
        }
        XCTAssertEqual(messages.all.count, 1)
        XCTAssertEqual(messages.all.first, session.deviceFailure)
    }

    /// A failure the device reports only when the batch is waited for is handled there: on the CPU, or,
    /// out of memory, in halves on the device.
    func testFailuresReportedOnCompletion() throws {
        let device = try openCLTestDevice()
        let model = try unet()
        let x = randomTensor([4, 3, 32, 32], seed: 51)
        let cpu = try InferenceSession(model: model).run(["image": x], threads: 2)

        let halves = try InferenceSession(model: model, device: .opencl(device))
        let whole = try halves.run(["image": x], threads: 2)
        let executor = try XCTUnwrap(halves.backend)
        executor.injectedFault = (step: halves.steps.count, error: OpenCLError(-5, "running a batch (injected)"))
        let split = try halves.wait(try halves.submit(["image": x], threads: 2))
        XCTAssertNil(executor.injectedFault, "the fault was reached")
        XCTAssertNil(halves.deviceFailure, "running out of memory is not a device failure")
        for (name, value) in whole {
            XCTAssertLessThanOrEqual(normalizedDifference(try XCTUnwrap(split[name]), value), 1e-6, name)
        }

        let failing = try InferenceSession(model: model, device: .opencl(device))
        try XCTUnwrap(failing.backend).injectedFault = (step: failing.steps.count, error: OpenCLError(-36, "running a batch (injected)"))
        XCTAssertEqual(try failing.wait(try failing.submit(["image": x], threads: 2)), cpu)
        XCTAssertTrue(try XCTUnwrap(failing.deviceFailure).contains("CL_INVALID_COMMAND_QUEUE"))
    }

    /// ConvTranspose geometries whose phases differ (strides, dilations, pads, output padding, groups,
    /// 1-D, a kernel smaller than the stride: phases no tap reaches get the bias alone) match the CPU
    /// operator with both GEMM kernels, and run on the device.
    func testConvTransposePhasesMatchTheCPU() throws {
        let device = try openCLTestDevice()
        struct Case {
            var input: [Int], weights: [Int], groups = 1
            var attributes: [String: ONNXAttribute] = [:]
        }
        let cases = [
            Case(input: [2, 4, 7, 9], weights: [4, 3, 2, 2], attributes: ["strides": .ints([2, 2])]),
            Case(input: [1, 3, 5, 6], weights: [3, 2, 3, 4],
                 attributes: ["strides": .ints([3, 2]), "pads": .ints([1, 2, 2, 1]), "output_padding": .ints([1, 1])]),
            Case(input: [1, 2, 6, 5], weights: [2, 3, 3, 3],
                 attributes: ["strides": .ints([2, 4]), "dilations": .ints([2, 3]), "pads": .ints([2, 0, 1, 3])]),
            Case(input: [1, 4, 5, 5], weights: [4, 2, 3, 3], groups: 2,
                 attributes: ["strides": .ints([2, 2]), "auto_pad": .string("SAME_UPPER")]),
            Case(input: [2, 3, 4, 4], weights: [3, 2, 1, 1], attributes: ["strides": .ints([2, 3])]),
            Case(input: [2, 3, 11], weights: [3, 5, 4], attributes: ["strides": .ints([3]), "pads": .ints([1, 2])]),
        ]
        let original = ProcessInfo.processInfo.environment["TILERUN_OPENCL_GEMM"]
        defer { if let original { setenv("TILERUN_OPENCL_GEMM", original, 1) } else { unsetenv("TILERUN_OPENCL_GEMM") } }
        for kernel in ["blocked", "tiled"] {
            setenv("TILERUN_OPENCL_GEMM", kernel, 1)
            for (i, c) in cases.enumerated() {
                var model = ONNXModel(source: "convtranspose-\(i)")
                model.opsetImports = ["": 13]
                var node = ONNXNode()
                (node.name, node.opType, node.inputs, node.outputs) = ("ct", "ConvTranspose", ["x", "W", "B"], ["y"])
                node.attributes = c.attributes.merging(["group": .int(c.groups)]) { a, _ in a }
                model.graph.nodes = [node]
                let w = randomTensor(c.weights, seed: UInt64(60 + i))
                let b = randomTensor([c.weights[1] * c.groups], seed: UInt64(70 + i))
                model.graph.initializers = [
                    ONNXTensor(name: "W", dataType: .float, dims: c.weights, storage: .float(w.floats!)),
                    ONNXTensor(name: "B", dataType: .float, dims: b.shape, storage: .float(b.floats!)),
                ]
                var input = ONNXValueInfo()
                (input.name, input.kind, input.elemType) = ("x", .tensor, .float)
                model.graph.inputs = [input]
                var output = ONNXValueInfo()
                output.name = "y"
                model.graph.outputs = [output]
                let x = randomTensor(c.input, seed: UInt64(80 + i))
                let want = try XCTUnwrap(InferenceSession(model: model).run(["x": x], threads: 2)["y"])
                let session = try InferenceSession(model: model, device: .opencl(device))
                let got = try XCTUnwrap(session.run(["x": x], threads: 2)["y"])
                XCTAssertEqual(got.shape, want.shape, "case \(i)")
                XCTAssertLessThanOrEqual(normalizedDifference(got, want), 1e-5, "\(kernel) GEMM, case \(i)")
                XCTAssertEqual(session.executionReport?.onDevice["ConvTranspose"], 1, "case \(i)")
            }
        }
    }
}

/// Messages from a @Sendable callback.
private final class SubmitMessageLog: @unchecked Sendable {
    private var messages: [String] = []
    private let lock = NSLock()
    func append(_ m: String) { lock.withLock { messages.append(m) } }
    var all: [String] { lock.withLock { messages } }
}
