import Foundation
import TileRun
import XCTest

/// The ONNX project's own backend node tests (`Tests/Tools/fetch-onnx-node-tests.sh` unpacks them):
/// every case of a supported operator must match its expected outputs within the suite's tolerance,
/// or be refused at load time with a "not supported" message naming what is missing.
final class ONNXNodeConformanceTests: XCTestCase {
    /// Node-test name prefixes of the operators the runtime implements.
    static let supportedPrefixes = [
        "conv", "convtranspose", "batchnorm", "relu", "leakyrelu", "prelu", "clip", "sigmoid", "hardsigmoid",
        "hardswish", "tanh", "softmax", "add", "sub", "mul", "div", "maxpool", "averagepool", "globalaveragepool",
        "resize", "upsample", "concat", "split", "slice", "constant_pad", "edge_pad", "reflect_pad", "transpose",
        "reshape", "flatten", "squeeze", "unsqueeze", "shape", "gather", "constant", "constantofshape", "identity",
        "cast", "reduce_mean", "matmul", "gemm", "argmax",
    ]

    /// Cases of supported operators whose values are optionals, sequences or bfloat16, which the runtime
    /// does not compute with.
    static let nonTensorCases: Set<String> = ["test_identity_opt", "test_identity_sequence",
                                              "test_cast_BFLOAT16_to_FLOAT", "test_cast_FLOAT_to_BFLOAT16"]

    func testSupportedOperatorsMatchTheONNXBackendNodeTests() throws {
        let root = SharedData.packageRoot.appendingPathComponent(".build/onnx-node-tests/node").path
        guard let cases = try? FileManager.default.contentsOfDirectory(atPath: root) else {
            throw XCTSkip("\(root) is absent: run Tests/Tools/fetch-onnx-node-tests.sh (deploy/test.sh does)")
        }
        let selected = cases.filter { name in
            !name.contains("_expanded") && !Self.nonTensorCases.contains(name)
                && Self.supportedPrefixes.contains { name.hasPrefix("test_" + $0) }
        }.sorted()
        var passed = 0
        var refused: [String] = []
        for name in selected {
            let dir = (root as NSString).appendingPathComponent(name)
            do {
                for c in try ConformanceTest().run(directory: dir, threads: 2) {
                    XCTAssertTrue(c.passed, "\(name) \(c.dataSet) \(c.output): \(c.mismatch ?? "max abs error \(c.maxAbsoluteError), max rel error \(c.maxRelativeError)")")
                }
                passed += 1
            } catch let error as ModelError {
                let message = error.description
                XCTAssertTrue(message.contains("not supported") || message.contains("does not compute with"),
                              "\(name) failed instead of being refused: \(message)")
                XCTAssertFalse(message.contains("\n"))
                refused.append(name)
            }
        }
        print("ONNX node tests: \(passed) of \(selected.count) cases of supported operators pass; \(refused.count) refused as unsupported")
        // A floor, so that a regression cannot hide by turning cases into refusals.
        XCTAssertGreaterThanOrEqual(passed, 250)
    }
}
