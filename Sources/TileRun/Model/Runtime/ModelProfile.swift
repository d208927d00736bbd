import Foundation

/// Floating-point work of one inference, counted from the shapes each node actually saw
/// (multiply-adds count as 2 FLOPs; element-wise operators are not counted).
public enum FlopCounter {
    public static func flops(of node: NodeSpec, inputs: [[Int]], outputs: [[Int]]) -> Double {
        func count(_ s: [Int]) -> Double { Double(s.reduce(1, *)) }
        switch node.opType {
        case "Conv":
            // Conv's prepared inputs may omit the packed weights: derive Cin/group from the input.
            guard let x = inputs.first, x.count >= 3, let y = outputs.first, y.count >= 3 else { return 0 }
            let groups = Double((try? node.int("group", default: 1)) ?? 1)
            let kernel = ((try? node.ints("kernel_shape")) ?? nil)?.reduce(1, *) ?? (inputs.count > 1 && inputs[1].count > 2 ? inputs[1][2...].reduce(1, *) : 1)
            return 2 * count(y) * Double(x[1]) / groups * Double(kernel)
        case "ConvTranspose":
            guard let x = inputs.first, inputs.count > 1, inputs[1].count > 2 else { return 0 }
            let w = inputs[1]
            return 2 * count(x) * Double(w[1]) * Double(w[2...].reduce(1, *))
        case "MatMul", "Gemm":
            guard let y = outputs.first, let a = inputs.first, !a.isEmpty else { return 0 }
            let transA = ((try? node.int("transA", default: 0)) ?? 0) != 0
            let k = node.opType == "Gemm" && transA ? a[0] : a[a.count - 1]
            return 2 * count(y) * Double(k)
        default:
            return 0
        }
    }
}

/// Times inference on random tiles: warm-up, then the median (and mean) of repeated runs.
public struct InferenceBenchmark: Sendable {
    public var tileSize: Int
    public var batch: Int
    public var threads: Int
    public var repeats: Int
    /// Where the model runs.
    public var device: ComputeDevice

    public struct Result: Sendable, Codable {
        public var model: String
        public var tileSize: Int
        public var batch: Int
        public var threads: Int
        public var repeats: Int
        public var medianSeconds: Double
        /// The mean of the repeats: what a sustained run pays, slow moments included.
        public var meanSeconds: Double
        /// From the median.
        public var tilesPerSecond: Double
        public var megapixelsPerSecond: Double
        public var gflopsPerTile: Double
        public var gflopsPerSecond: Double
        /// Seconds per operator type in one profiled run after the warm-up (prepared operators, after fusion).
        public var secondsByOperator: [String: Double]
        /// Each prepared node of that profiled run, in graph order.
        public var nodes: [NodeTiming]
        /// The device, as `ComputeDevice.description` names it.
        public var device: String
        /// On a device backend: where the steps ran and what was copied, in one line.
        public var placement: String?
        /// Set when the device failed and the runs finished on the CPU.
        public var deviceFailure: String?
    }

    /// One prepared node's share of a profiled run.
    public struct NodeTiming: Sendable, Codable {
        public var name: String
        public var opType: String
        public var outputShape: [Int]
        public var seconds: Double
        public var flops: Double
    }

    public init(tileSize: Int = 512, batch: Int = 1, threads: Int = ProcessInfo.processInfo.activeProcessorCount, repeats: Int = 5,
                device: ComputeDevice = .cpu) {
        self.tileSize = tileSize
        self.batch = batch
        self.threads = threads
        self.repeats = repeats
        self.device = device
    }

    public func run(path: String) throws -> Result {
        let session = try InferenceSession(path: path, device: device)
        guard let input = session.inputs.first else { throw ModelError(path: path, problem: "the model has no inputs") }
        let channels: Int
        if let dims = input.shape, dims.count == 4, case .value(let c) = dims[1] { channels = c } else { channels = 3 }
        var rng = SplitMix64(seed: 1)
        let count = batch * channels * tileSize * tileSize
        let x = Tensor(shape: [batch, channels, tileSize, tileSize],
                       floats: (0..<count).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) * 2 - 1 })
        // The warm-up run (first-touch memory, program builds) is not timed; the next one times each node.
        _ = try session.run([input.name: x], threads: threads)
        var nodes: [NodeTiming] = []
        var last = DispatchTime.now().uptimeNanoseconds
        _ = try session.run([input.name: x], threads: threads) { node, ins, outs in
            let now = DispatchTime.now().uptimeNanoseconds
            nodes.append(NodeTiming(name: node.name, opType: node.opType, outputShape: outs.first ?? [],
                                    seconds: Double(now - last) / 1e9,
                                    flops: FlopCounter.flops(of: node, inputs: ins, outputs: outs)))
            last = now
        }
        let flops = nodes.reduce(0) { $0 + $1.flops }
        let byOperator = Dictionary(nodes.map { ($0.opType, $0.seconds) }, uniquingKeysWith: +)
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try session.run([input.name: x], threads: threads)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let mean = times.reduce(0, +) / Double(times.count)
        times.sort()
        let median = times[times.count / 2]
        let tiles = Double(batch)
        return Result(model: path, tileSize: tileSize, batch: batch, threads: threads, repeats: repeats,
                      medianSeconds: median, meanSeconds: mean, tilesPerSecond: tiles / median,
                      megapixelsPerSecond: tiles * Double(tileSize * tileSize) / median / 1e6,
                      gflopsPerTile: flops / tiles / 1e9, gflopsPerSecond: flops / median / 1e9,
                      secondsByOperator: byOperator, nodes: nodes, device: device.description,
                      placement: session.executionReport?.description, deviceFailure: session.deviceFailure)
    }
}
