import Foundation
import TileRunKernels

extension Tensor {
    /// The runtime's form of an ONNX tensor: floating types as float32, integers as int64, bools as bool.
    init(onnx t: ONNXTensor) throws {
        switch t.storage {
        case .bool(let v): self.init(shape: t.dims, bools: v)
        case .float, .double, .float16:
            self.init(shape: t.dims, floats: t.floatValues() ?? [])
        default:
            guard let v = t.int64Values() else {
                throw GraphError("tensor '\(t.name)' has type \(t.dataType), which the runtime does not compute with")
            }
            self.init(shape: t.dims, int64s: v)
        }
        guard count == shape.reduce(1, *) else { throw GraphError("tensor '\(t.name)' does not hold its shape \(t.dims)") }
    }
}

extension AttributeValue {
    init(onnx a: ONNXAttribute) throws {
        switch a {
        case .float(let v): self = .float(v)
        case .int(let v): self = .int(v)
        case .string(let v): self = .string(v)
        case .floats(let v): self = .floats(v)
        case .ints(let v): self = .ints(v)
        case .strings(let v): self = .strings(v)
        case .tensor(let t): self = .tensor(try Tensor(onnx: t))
        case .graph, .graphs: self = .graph
        case .tensors: throw GraphError("attributes holding several tensors are not supported")
        case .unsupported(let kind): throw GraphError("attributes of kind \(kind) are not supported")
        }
    }
}

/// A model prepared for inference: constants folded, BatchNormalization folded into Conv, activations
/// fused, weights packed, and each intermediate value released after its last use.
/// `run` may be called from several threads at once; the prepared operators are immutable or locked.
///
/// One prepared graph, two executors: the CPU operators, or a device backend (`OpenCLExecutor`) that runs
/// the same steps with its own kernels and hands any step it has no kernel for back to the CPU operator.
public final class InferenceSession: @unchecked Sendable {
    /// The graph inputs a caller feeds (initializers excluded), with their declared shapes.
    public let inputs: [ONNXValueInfo]
    public let outputNames: [String]
    /// The ai.onnx opset the model was exported with.
    public let opset: Int
    /// Op types of the prepared steps, after folding and fusion (for reports).
    public var preparedOperators: [String] { steps.map(\.node.opType) }

    /// Parameters: elements of the model's float initializers.
    public var parameterCount: Int { parameterTotal }
    private var parameterTotal = 0

    /// One prepared node, as both executors run it.
    struct Step {
        let node: NodeSpec
        let op: Operator
        let inputs: [String]
        let outputs: [String]
        /// For a Conv with constant weights: the weights, bias and activation after folding and fusion
        /// (`inputs` then holds only the data input).
        var conv: FusedConv?
        /// Values whose last use is this step.
        var releases: [String] = []
    }

    struct FusedConv {
        let weights: Tensor
        let bias: [Float]?
        let activation: FusedActivation
    }

    private(set) var steps: [Step] = []
    private(set) var constants: [String: Tensor] = [:]
    let source: String

    /// Where the session runs.
    public let device: ComputeDevice
    private(set) var backend: OpenCLExecutor?

    /// Prepares `model` for `device`; throws a `ModelError` naming the model file, the node and the problem,
    /// or an `OpenCLError` when the device's kernels cannot be built.
    public init(model: ONNXModel, device: ComputeDevice = .cpu) throws {
        source = model.source
        self.device = device
        ActivationMemory.keepInHeap
        do {
            guard let opset = model.opsetImports[""] ?? model.opsetImports["ai.onnx"] else {
                throw GraphError("the model imports no ai.onnx opset")
            }
            guard (1...21).contains(opset) else { throw GraphError("opset \(opset) is not supported (1 to 21 are)") }
            self.opset = opset
            var initializers: [String: Tensor] = [:]
            for t in model.graph.initializers { initializers[t.name] = try Tensor(onnx: t) }
            inputs = model.graph.inputs.filter { initializers[$0.name] == nil }
            constants = initializers
            parameterTotal = initializers.values.filter { $0.element == .float32 }.reduce(0) { $0 + $1.count }
            outputNames = model.graph.outputs.map(\.name)
            try prepare(model.graph.nodes)
        } catch let error as GraphError {
            throw ModelError(path: model.source, problem: error.description)
        }
        if case .opencl(let d) = device { backend = try OpenCLExecutor(session: self, device: d) }
    }

    /// Convenience: load and prepare a model file.
    public convenience init(path: String, device: ComputeDevice = .cpu) throws {
        try self.init(model: ONNXModel.load(path: path), device: device)
    }

    /// Where the steps of the latest run went (device, CPU fallback, transfers); nil on the CPU backend.
    public var executionReport: DeviceExecutionReport? { backend?.report }

    /// Set when the device failed and runs continue on the CPU: the failure, in one line.
    public var deviceFailure: String? { backend?.failure }

    /// Called once, with the failure, when the device fails and the session switches to the CPU kernels
    /// (the batch in flight is finished on the CPU). Set it before the first run.
    public var onDeviceFailure: (@Sendable (String) -> Void)? {
        get { backend?.onFailure }
        set { backend?.onFailure = newValue }
    }

    private func prepare(_ onnxNodes: [ONNXNode]) throws {
        var nodes = try onnxNodes.enumerated().map { i, n in
            NodeSpec(name: n.name.isEmpty ? "\(n.opType)_\(i)" : n.name, opType: n.opType, domain: n.domain,
                     inputs: n.inputs, outputs: n.outputs,
                     attributes: try n.attributes.mapValues { try AttributeValue(onnx: $0) })
        }
        for node in nodes where !OperatorRegistry.supported.contains(node.opType) || !(node.domain.isEmpty || node.domain == "ai.onnx") {
            throw GraphError(node, node.domain.isEmpty ? "operator \(node.opType) is not supported"
                                                       : "operator domain '\(node.domain)' is not supported")
        }
        // Values must be produced before they are used (ONNX requires topological order).
        var known = Set(constants.keys).union(inputs.map(\.name))
        for node in nodes {
            for name in node.inputs where !name.isEmpty && !known.contains(name) {
                throw GraphError(node, "input '\(name)' is not produced by any earlier node")
            }
            known.formUnion(node.outputs)
        }
        func setup(_ node: NodeSpec) -> OperatorSetup {
            OperatorSetup(node: node, opset: opset) { [unowned self] in self.constants[$0] }
        }
        let context = ExecutionContext(threads: ProcessInfo.processInfo.activeProcessorCount)

        // Constant folding: a node whose inputs are all constants runs once, now.
        var remaining: [NodeSpec] = []
        for node in nodes {
            let inputsConstant = node.inputs.allSatisfy { $0.isEmpty || constants[$0] != nil }
            if inputsConstant {
                let op = try OperatorRegistry.make(setup(node))
                let outs = try op.run(node.inputs.map { $0.isEmpty ? nil : constants[$0] }, context)
                for (name, value) in zip(node.outputs, outs) where !name.isEmpty { constants[name] = value }
            } else {
                remaining.append(node)
            }
        }
        nodes = remaining

        // Conv → BatchNormalization → activation, each consumed only by the next, become one Conv.
        let graphOutputs = Set(outputNames)
        var consumers: [String: Int] = [:]
        for node in nodes { for name in node.inputs where !name.isEmpty { consumers[name, default: 0] += 1 } }
        func soleConsumer(of value: String, after index: Int) -> Int? {
            guard consumers[value] == 1, !graphOutputs.contains(value) else { return nil }
            return nodes.indices.dropFirst(index + 1).first { nodes[$0].inputs.contains(value) }
        }
        var skip = Set<Int>()
        for (i, node) in nodes.enumerated() where !skip.contains(i) {
            var outputs = node.outputs
            var op: Operator
            var conv: FusedConv?
            if node.opType == "Conv", let weights = setup(node).constantInput(1) {
                var w = weights
                var bias = setup(node).constantInput(2)?.floats
                var last = node
                if let j = soleConsumer(of: last.outputs[0], after: i), nodes[j].opType == "BatchNormalization",
                   nodes[j].outputs.filter({ !$0.isEmpty }).count == 1,
                   let p = Optional((1...4).map { setup(nodes[j]).constantInput($0)?.floats }), p.allSatisfy({ $0 != nil }),
                   let wv = w.floats, p[0]!.count == w.shape[0] {
                    let eps = try nodes[j].float("epsilon", default: 1e-5)
                    let (a, b) = BatchNormOperator.affine(scale: p[0]!, bias: p[1]!, mean: p[2]!, variance: p[3]!, epsilon: eps)
                    let per = wv.count / w.shape[0]
                    var folded = wv
                    for o in 0..<w.shape[0] { for k in 0..<per { folded[o * per + k] *= a[o] } }
                    w = Tensor(shape: w.shape, floats: folded)
                    bias = (0..<w.shape[0]).map { (bias?[$0] ?? 0) * a[$0] + b[$0] }
                    skip.insert(j)
                    last = nodes[j]
                    outputs = [last.outputs[0]]
                }
                var activation = FusedActivation.none
                if let j = soleConsumer(of: last.outputs[0], after: nodes.firstIndex { $0.name == last.name } ?? i),
                   let fused = try OperatorRegistry.fusableActivation(setup(nodes[j])) {
                    activation = fused
                    skip.insert(j)
                    outputs = [nodes[j].outputs[0]]
                }
                op = try ConvOperator(setup(node), weights: w, bias: bias, activation: activation)
                conv = FusedConv(weights: w, bias: bias, activation: activation)
            } else {
                op = try OperatorRegistry.make(setup(node))
            }
            let inputNames = node.opType == "Conv" && outputs != node.outputs
                ? [node.inputs[0]] : node.inputs
            steps.append(Step(node: node, op: op, inputs: inputNames, outputs: outputs, conv: conv))
        }

        // Release each value after its last use, unless it is a graph output.
        var lastUse: [String: Int] = [:]
        for (i, step) in steps.enumerated() { for name in step.inputs where !name.isEmpty { lastUse[name] = i } }
        for (name, i) in lastUse where !graphOutputs.contains(name) && constants[name] == nil {
            steps[i].releases.append(name)
        }
    }

    /// Runs the model on `feeds` (graph input name → tensor) and returns every graph output.
    /// `observe`, when given, sees each prepared node with its input and output shapes (for FLOP counts).
    /// On a device, `observe` also waits for each step to finish, so that it can time steps.
    public func run(_ feeds: [String: Tensor], threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)? = nil) throws -> [String: Tensor] {
        if let backend { return try backend.run(feeds, threads: threads, observe: observe) }
        return try runOnCPU(feeds, threads: threads, observe: observe)
    }

    /// Starts running the model on `feeds`; `wait` returns the outputs, the same values `run` gives.
    /// On a device, the batch's input is sent, its kernels queued and its outputs' reads queued, and this
    /// returns: submitting the next batch before waiting for this one overlaps their transfers with the
    /// device's work. On the CPU the batch runs now.
    public func submit(_ feeds: [String: Tensor], threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> InferenceTicket {
        if let backend { return try backend.submit(feeds, threads: threads, observe: nil) }
        return InferenceTicket(outputs: try runOnCPU(feeds, threads: threads, observe: nil))
    }

    /// The outputs of a submitted batch, waiting for it if it is still on the device. A device failure
    /// shows here as in `run`: the batch is split (out of memory) or finished on the CPU.
    public func wait(_ ticket: InferenceTicket) throws -> [String: Tensor] {
        try ticket.outputs()
    }

    /// The CPU executor: every step's CPU operator, in order.
    func runOnCPU(_ feeds: [String: Tensor], threads: Int,
                  observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> [String: Tensor] {
        let context = ExecutionContext(threads: threads)
        var values = feeds
        for input in inputs where values[input.name] == nil {
            throw ModelError(path: source, problem: "input '\(input.name)' was not given")
        }
        for step in steps {
            let args = step.inputs.map { $0.isEmpty ? nil : (values[$0] ?? constants[$0]) }
            let outs: [Tensor]
            do {
                outs = try step.op.run(args, context)
            } catch let error as GraphError {
                throw ModelError(path: source, problem: error.description)
            }
            observe?(step.node, args.map { $0?.shape ?? [] }, outs.map(\.shape))
            for (name, value) in zip(step.outputs, outs) where !name.isEmpty { values[name] = value }
            for name in step.releases { values[name] = nil }
        }
        var result: [String: Tensor] = [:]
        for name in outputNames {
            guard let v = values[name] ?? constants[name] else {
                throw ModelError(path: source, problem: "output '\(name)' was not computed")
            }
            result[name] = v
        }
        return result
    }
}

/// A batch handed to `InferenceSession.submit`, whose outputs `InferenceSession.wait` returns.
/// Dropped without being waited for, it still waits for the device to finish with the batch.
public final class InferenceTicket: @unchecked Sendable {
    private enum State {
        case done([String: Tensor])
        case queued(DeviceBatch, OpenCLExecutor)
    }

    private var state: State
    private let lock = NSLock()

    init(outputs: [String: Tensor]) { state = .done(outputs) }
    init(batch: DeviceBatch, executor: OpenCLExecutor) { state = .queued(batch, executor) }

    /// Whether the outputs are there without waiting (always on the CPU, which runs a batch when it is submitted).
    public var isComplete: Bool {
        lock.withLock {
            if case .done = state { return true }
            return false
        }
    }

    func outputs() throws -> [String: Tensor] {
        try lock.withLock {
            switch state {
            case .done(let outputs):
                return outputs
            case let .queued(batch, executor):
                let outputs = try executor.wait(batch)
                state = .done(outputs)
                return outputs
            }
        }
    }
}
