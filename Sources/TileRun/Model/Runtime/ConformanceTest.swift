import Foundation

/// Runs a model on the data sets of an ONNX backend-test folder (`model.onnx` and
/// `test_data_set_*/input_*.pb` / `output_*.pb`) and compares with the expected outputs.
public struct ConformanceTest: Sendable {
    /// Comparison of one output of one data set.
    public struct Comparison: Sendable {
        public var dataSet: String
        public var output: String
        public var maxAbsoluteError: Double
        public var maxRelativeError: Double
        /// max |got − expected| / max |expected|: the error relative to the output's scale.
        public var normalizedError: Double
        /// Shape or element-type mismatch, when there is one.
        public var mismatch: String?
        public var passed: Bool
        /// Where the steps ran, on a device backend.
        public var executionReport: DeviceExecutionReport?
    }

    /// When an output passes.
    public enum Criterion: Sendable {
        /// |got − expected| ≤ atol + rtol·|expected| for every element (the ONNX backend tests' rule).
        case elementwise(relative: Double, absolute: Double)
        /// max |got − expected| ≤ tolerance · max |expected| (for whole networks, whose outputs have a scale).
        case normalized(Double)
    }

    public var criterion: Criterion
    /// The device the model runs on.
    public var device: ComputeDevice

    /// The ONNX backend tests' tolerance by default: rtol 1e-3, atol 1e-7.
    public init(criterion: Criterion = .elementwise(relative: 1e-3, absolute: 1e-7), device: ComputeDevice = .cpu) {
        self.criterion = criterion
        self.device = device
    }

    public func run(directory: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> [Comparison] {
        let modelPath = (directory as NSString).appendingPathComponent("model.onnx")
        let model = try ONNXModel.load(path: modelPath)
        let session = try InferenceSession(model: model, device: device)
        let fm = FileManager.default
        let sets = try fm.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("test_data_set_") }.sorted()
        guard !sets.isEmpty else { throw ModelError(path: directory, problem: "no test_data_set_* folders") }
        var results: [Comparison] = []
        for set in sets {
            let dir = (directory as NSString).appendingPathComponent(set)
            func tensors(_ prefix: String) throws -> [Tensor] {
                var out: [Tensor] = []
                var i = 0
                while true {
                    let path = (dir as NSString).appendingPathComponent("\(prefix)_\(i).pb")
                    guard fm.fileExists(atPath: path) else { break }
                    do { out.append(try Tensor(onnx: ONNXTensor.load(path: path))) } catch let e as GraphError {
                        throw ModelError(path: path, problem: e.description)
                    }
                    i += 1
                }
                return out
            }
            let inputs = try tensors("input"), expected = try tensors("output")
            // Inputs map to the graph inputs that are not initializers, in order.
            var feeds: [String: Tensor] = [:]
            for (info, tensor) in zip(session.inputs, inputs) { feeds[info.name] = tensor }
            let got = try session.run(feeds, threads: threads)
            for (name, want) in zip(session.outputNames, expected) {
                var comparison = compare(got[name], want, dataSet: set, output: name)
                comparison.executionReport = session.executionReport
                results.append(comparison)
            }
        }
        return results
    }

    func compare(_ got: Tensor?, _ want: Tensor, dataSet: String, output: String) -> Comparison {
        var c = Comparison(dataSet: dataSet, output: output, maxAbsoluteError: 0, maxRelativeError: 0,
                           normalizedError: 0, mismatch: nil, passed: true)
        guard let got else {
            c.mismatch = "not computed"
            c.passed = false
            return c
        }
        guard got.shape == want.shape else {
            c.mismatch = "shape \(got.shape), expected \(want.shape)"
            c.passed = false
            return c
        }
        let a = got.floatValues, b = want.floatValues
        var magnitude = 0.0
        for i in 0..<b.count {
            let x = Double(a[i]), y = Double(b[i])
            if x.isNaN || y.isNaN {
                if x.isNaN != y.isNaN { c.passed = false; c.maxAbsoluteError = .infinity }
                continue
            }
            magnitude = max(magnitude, abs(y))
            if x == y { continue }
            let err = abs(x - y)
            c.maxAbsoluteError = max(c.maxAbsoluteError, err)
            if y != 0 { c.maxRelativeError = max(c.maxRelativeError, err / abs(y)) }
            if case .elementwise(let rtol, let atol) = criterion, err > atol + rtol * abs(y) { c.passed = false }
        }
        c.normalizedError = magnitude > 0 ? c.maxAbsoluteError / magnitude : c.maxAbsoluteError
        if case .normalized(let tolerance) = criterion, c.normalizedError > tolerance { c.passed = false }
        return c
    }
}
