import Foundation
import TileRunKernels

/// A step's device implementation, built from the same prepared node (and CPU operator configuration)
/// as the CPU executor uses.
protocol DeviceOperator {
    /// The step's outputs computed on the device, or nil when this configuration (element types, rank,
    /// mode) has no kernel: the executor then runs the CPU operator, which also reports invalid inputs.
    func run(_ step: DeviceStep) throws -> [StepValue]?
}

/// Which ops have device implementations, and their construction from prepared steps.
enum DeviceOperators {
    static func make(for step: InferenceSession.Step, opset: Int, constants: [String: Tensor], cl: OpenCLContext) throws -> DeviceOperator? {
        let node = step.node
        switch step.op {
        case is ConvOperator:
            // Folded parameters exist whenever the weights are constant; a bias fed at run time then stays on the CPU.
            if let conv = step.conv, conv.bias == nil, node.inputs.count > 2, !node.inputs[2].isEmpty { return nil }
            return try DeviceConv(node: node, conv: step.conv, cl: cl)
        case let op as ConvTransposeOperator:
            let name = { (i: Int) in i < step.inputs.count ? step.inputs[i] : "" }
            // Constant weights and bias are packed and uploaded once; run-time ones on every run.
            guard let w = constants[name(1)], name(2).isEmpty || constants[name(2)] != nil else {
                return try DeviceConvTranspose(op: op, weights: nil, bias: nil, cl: cl)
            }
            return try DeviceConvTranspose(op: op, weights: w, bias: constants[name(2)], cl: cl)
        case is UnaryOperator:
            let setup = OperatorSetup(node: node, opset: opset) { constants[$0] }
            guard let activation = try OperatorRegistry.fusableActivation(setup) else { return nil }
            return DeviceUnary(activation: activation)
        case let op as ClipOperator: return DeviceClip(op: op)
        case let op as BinaryOperator: return DeviceBinary(kind: op.kind)
        case let op as BatchNormOperator: return DeviceBatchNorm(epsilon: op.epsilon)
        case let op as PoolOperator: return DevicePool(op: op)
        case let op as ResizeOperator: return DeviceResize(op: op)
        case let op as ConcatOperator: return DeviceConcat(axis: op.axis)
        case let op as TransposeOperator: return DeviceTranspose(perm: op.perm)
        case is SliceOperator, is SplitOperator, is GatherOperator: return DeviceIndexMap(op: step.op)
        case let op as PadOperator: return DeviceIndexMap(op: op, padFill: op.attributeValue)
        case is ReshapeOperator, is FlattenOperator, is SqueezeOperator, is ShapeOperator: return DeviceMetadata(op: step.op)
        case is IdentityOperator: return DevicePassThrough()
        case let op as CastOperator: return op.target == .float32 ? DevicePassThrough() : nil
        case let op as SoftmaxOperator: return DeviceSoftmax(op: op)
        case let op as ReduceMeanOperator: return DeviceReduceMean(op: op)
        case is MatMulOperator: return DeviceMatMul()
        case let op as GemmOperator: return DeviceGemm(op: op)
        case let op as ArgMaxOperator: return DeviceArgMax(op: op)
        default: return nil
        }
    }
}

extension FusedActivation {
    /// The activation as the kernels' `activate(x, act, a, b)` takes it.
    var openCL: (code: Int, a: Float, b: Float) {
        switch self {
        case .none: return (0, 0, 0)
        case .relu: return (1, 0, 0)
        case let .leakyRelu(alpha): return (2, alpha, 0)
        case let .clip(lo, hi): return (3, lo, hi)
        case .sigmoid: return (4, 0, 0)
        case let .hardSigmoid(alpha, beta): return (5, alpha, beta)
        case .hardSwish: return (6, 0, 0)
        case .tanh: return (7, 0, 0)
        }
    }
}

/// Up to six dims, padded with leading 1s (and matching strides with leading 0s), for the kernels' int8s.
private func sixAxes(_ dims: [Int], _ strides: [Int]) -> (dims: [Int], strides: [Int])? {
    guard dims.count <= 6 else { return nil }
    let pad = 6 - dims.count
    return ([Int](repeating: 1, count: pad) + dims, [Int](repeating: 0, count: pad) + strides)
}

/// The strides that read a tensor of `shape` broadcast to `outShape` (0 along broadcast axes).
private func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: outShape.count - shape.count) + shape
    return zip(padded, strides(of: padded)).map { $0.0 == 1 ? 0 : $0.1 }
}

// MARK: Convolution

/// How a GEMM call's right operand and output are laid out (see the `gemm` kernel).
private struct GEMMCall {
    /// `source`: the kernels' FROM_CONV (0) or FROM_MATRIX (1).
    var m = 0, n = 0, k = 0, groups = 1, source = 1
    var c = 0, cin = 0, h = 1, w = 1, ow = 1, ohw = 1, mTotal = 0
    var kh = 1, kw = 1, sy = 1, sx = 1, dy = 1, dx = 1, pt = 0, pl = 0
    var aOffset = 0, aRow = 0, aCol = 1, aGroup = 0, xOffset = 0, yOffset = 0, bRow = 0, bCol = 1
    var alpha: Float = 1, beta: Float = 0
    var activation = FusedActivation.none
    /// Where the columns go when not densely: (plane, row, y0, x0, ys, xs) as the kernels' `out` reads it.
    var scatter: [Int]?

    func enqueue(_ cl: OpenCLContext, a: DeviceBuffer, x: DeviceBuffer, y: DeviceBuffer, bias: DeviceBuffer?) throws {
        let act = activation.openCL
        let (global, local) = cl.tiling.launch(m: m, n: n, groups: groups)
        try cl.enqueue(cl.tiling.kernel, [
            .buffer(a), .int(aOffset), .int(aRow), .int(aCol), .int(aGroup),
            .buffer(x), .int(xOffset), .buffer(y), .int(yOffset), .buffer(bias ?? a), .int(bias == nil ? 0 : 1),
            .int(m), .int(n), .int(k), .int(source),
            .int(c), .int(cin), .int(h), .int(w), .int(ow), .int(ohw), .int(mTotal),
            .int(kh), .int(kw), .int(sy), .int(sx), .int(dy), .int(dx), .int(pt), .int(pl),
            .int(bRow), .int(bCol), .float(alpha), .float(beta), .int(act.code), .float(act.a), .float(act.b),
            .int8(scatter ?? [ohw, ow, 0, 0, 1, 1]),
        ], global: global, local: local)
    }
}

/// Conv (1-D and 2-D) with its folded BatchNormalization, bias and activation: a tiled implicit GEMM, or
/// a direct kernel when each group has few output channels (depthwise).
private final class DeviceConv: DeviceOperator {
    let node: NodeSpec
    /// Weights and bias after folding, uploaded once; nil when the weights are a run-time input.
    let folded: (shape: [Int], weights: DeviceBuffer, bias: DeviceBuffer?)?
    let activation: FusedActivation
    let groups: Int
    let kernelShape: [Int]?

    init(node: NodeSpec, conv: InferenceSession.FusedConv?, cl: OpenCLContext) throws {
        self.node = node
        if let conv, let w = conv.weights.floats {
            folded = (conv.weights.shape, try cl.upload(w), try conv.bias.map { try cl.upload($0) })
        } else {
            folded = nil
        }
        activation = conv?.activation ?? .none
        groups = try node.int("group", default: 1)
        kernelShape = try node.ints("kernel_shape")
    }

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        let weightShape: [Int], weights: DeviceBuffer, bias: DeviceBuffer?
        if let folded {
            (weightShape, weights, bias) = folded
        } else {
            guard step.isFloat(1), let shape = step.shape(1), shape.count >= 3 else { return nil }
            weightShape = shape
            weights = try step.device(1).buffer
            if step.shape(2) != nil {
                guard step.isFloat(2), step.shape(2) == [shape[0]] else { return nil }
                bias = try step.device(2).buffer
            } else {
                bias = nil
            }
        }
        guard step.isFloat(0), let shape = step.shape(0), shape.count == weightShape.count, shape.count == 3 || shape.count == 4 else { return nil }
        let spatial = shape.count - 2
        let (n, c) = (shape[0], shape[1])
        guard c == weightShape[1] * groups, weightShape[0] % groups == 0 else { return nil }
        var g = try WindowGeometry(node: node, spatialRank: spatial, kernel: kernelShape ?? Array(weightShape[2...]))
        let out = g.resolve(Array(shape[2...]))
        guard out.allSatisfy({ $0 > 0 }) else { return nil }
        let two = spatial == 2
        var call = GEMMCall()
        call.groups = groups
        call.mTotal = weightShape[0]
        call.m = weightShape[0] / groups
        call.c = weightShape[1]
        call.cin = c
        (call.h, call.w) = (two ? shape[2] : 1, shape[shape.count - 1])
        let oh = two ? out[0] : 1
        call.ow = out[spatial - 1]
        call.ohw = oh * call.ow
        (call.kh, call.kw) = (two ? g.kernel[0] : 1, g.kernel[spatial - 1])
        (call.sy, call.sx) = (two ? g.strides[0] : 1, g.strides[spatial - 1])
        (call.dy, call.dx) = (two ? g.dilations[0] : 1, g.dilations[spatial - 1])
        (call.pt, call.pl) = (two ? g.padsBegin[0] : 0, g.padsBegin[spatial - 1])
        call.activation = activation
        let x = try step.device(0)
        let y = try step.output([n, call.mTotal] + out)
        if call.m < 8 && groups > 1 {
            let act = activation.openCL
            try step.cl.enqueue("conv_direct", [
                .buffer(x.buffer), .buffer(weights), .buffer(bias ?? weights), .int(bias == nil ? 0 : 1), .buffer(y.buffer),
                .int(call.c), .int(c), .int(call.h), .int(call.w), .int(oh), .int(call.ow), .int(call.m), .int(call.mTotal),
                .int(call.kh), .int(call.kw), .int(call.sy), .int(call.sx), .int(call.dy), .int(call.dx), .int(call.pt), .int(call.pl),
                .int(act.code), .float(act.a), .float(act.b),
            ], global: [call.ohw, call.mTotal, n])
        } else {
            call.source = 0
            call.n = n * call.ohw
            call.k = call.c * call.kh * call.kw
            call.aRow = call.k
            call.aGroup = call.m * call.k
            try call.enqueue(step.cl, a: weights, x: x.buffer, y: y.buffer, bias: bias)
        }
        return [.device(y)]
    }
}

/// ConvTranspose as one stride-1 convolution per output phase: the outputs o ≡ o₀ (mod stride) along each
/// axis receive only the kernel taps that land on input pixels (one of four for a 2×2 stride-2 kernel), so
/// no multiply-adds are spent on the zeros between input pixels.
private final class DeviceConvTranspose: DeviceOperator {
    let op: ConvTransposeOperator
    /// Constant weights (packed per phase) and bias, uploaded once; nil when they are run-time inputs.
    let constant: (shape: [Int], packed: PhaseWeights, weights: DeviceBuffer, bias: DeviceBuffer?, biasCount: Int)?

    init(op: ConvTransposeOperator, weights: Tensor?, bias: Tensor?, cl: OpenCLContext) throws {
        self.op = op
        if let weights, let packed = try Self.pack(weights, op: op), bias == nil || bias?.floats != nil {
            constant = (weights.shape, packed, try cl.upload(packed.values),
                        try bias?.floats.map { try cl.upload($0) }, bias?.count ?? 0)
        } else {
            constant = nil
        }
    }

    /// The taps of one phase along one axis: outputs o with (o + pad) mod stride = ρ take kernel taps
    /// `taps` (descending, so that their input pixels ascend), `step` input pixels apart.
    struct AxisPhase {
        let residue: Int, taps: [Int], step: Int

        /// Every phase of an axis (a 1-D input's missing axis: stride 1, kernel 1).
        static func all(stride s: Int, dilation d: Int, kernel: Int) -> [AxisPhase] {
            var g = s, r = d
            while r != 0 { (g, r) = (r, g % r) }  // gcd(s, d)
            return (0..<s).map { rho in
                AxisPhase(residue: rho, taps: (0..<kernel).reversed().filter { (rho - $0 * d) % s == 0 }, step: d / g)
            }
        }

        /// For an output axis of `size` with leading pad `pad`: the first output of the phase, how many
        /// there are, and the stride-1 convolution's leading pad (output first + j·stride takes input
        /// j − convPad + u·step through tap taps[u]).
        func place(size: Int, stride s: Int, dilation d: Int, pad: Int) -> (first: Int, count: Int, convPad: Int) {
            let first = ((residue - pad) % s + s) % s
            let count = first < size ? (size - first + s - 1) / s : 0
            let convPad = taps.isEmpty ? 0 : -(first + pad - taps[0] * d) / s
            return (first, count, convPad)
        }
    }

    /// Weights [in channel][out channel per group][kernel] regrouped per phase (row phases outer) into
    /// [group][out channel][in channel · phase taps] rows, as the GEMM reads them.
    struct PhaseWeights {
        var values: [Float] = []
        /// Per phase, row-major over (row phase, column phase): the axes' phases and the phase's offset in `values`.
        var phases: [(y: AxisPhase, x: AxisPhase, offset: Int)] = []
        var strides: (y: Int, x: Int), dilations: (y: Int, x: Int)
    }

    /// nil when the weights do not divide into the groups or do not match the kernel shape.
    static func pack(_ w: Tensor, op: ConvTransposeOperator) throws -> PhaseWeights? {
        let groups = op.groups
        guard let values = w.floats, w.rank == 3 || w.rank == 4, groups >= 1, w.shape[0] % groups == 0 else { return nil }
        let spatial = w.rank - 2, two = spatial == 2
        let g = try WindowGeometry(node: op.node, spatialRank: spatial, kernel: op.kernelShape ?? Array(w.shape[2...]))
        guard g.kernel == Array(w.shape[2...]) else { return nil }
        let (cin, coutG) = (w.shape[0], w.shape[1])
        let cinG = cin / groups
        let (kh, kw) = (two ? g.kernel[0] : 1, g.kernel[spatial - 1])
        var packed = PhaseWeights(strides: (two ? g.strides[0] : 1, g.strides[spatial - 1]),
                                  dilations: (two ? g.dilations[0] : 1, g.dilations[spatial - 1]))
        packed.values.reserveCapacity(values.count)
        for py in AxisPhase.all(stride: packed.strides.y, dilation: packed.dilations.y, kernel: kh) {
            for px in AxisPhase.all(stride: packed.strides.x, dilation: packed.dilations.x, kernel: kw) {
                packed.phases.append((py, px, packed.values.count))
                for grp in 0..<groups {
                    for m in 0..<coutG {
                        for c in 0..<cinG {
                            for ky in py.taps {
                                for kx in px.taps {
                                    packed.values.append(values[(((grp * cinG + c) * coutG + m) * kh + ky) * kw + kx])
                                }
                            }
                        }
                    }
                }
            }
        }
        return packed
    }

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        let weightShape: [Int], packed: PhaseWeights, weights: DeviceBuffer, bias: DeviceBuffer?, biasCount: Int
        if let constant {
            (weightShape, packed, weights, bias, biasCount) = constant
        } else {
            guard step.isFloat(1), let w = try step.host(1), let p = try Self.pack(w, op: op) else { return nil }
            let b = try step.host(2)
            guard b == nil || b?.element == .float32 else { return nil }
            (weightShape, packed, weights) = (w.shape, p, try step.upload(p.values))
            (bias, biasCount) = (try b?.floats.map { try step.upload($0) }, b?.count ?? 0)
        }
        guard step.isFloat(0), let shape = step.shape(0), shape.count == weightShape.count else { return nil }
        let groups = op.groups
        let (n, cin) = (shape[0], shape[1])
        guard cin == weightShape[0], cin % groups == 0, bias == nil || biasCount == weightShape[1] * groups else { return nil }
        let spatial = shape.count - 2, two = spatial == 2
        let geometry = try op.geometry(inputSize: Array(shape[2...]), weightShape: weightShape)
        let (oh, ow) = (two ? geometry.outSize[0] : 1, geometry.outSize[spatial - 1])
        let (pt, pl) = (two ? geometry.padsBegin[0] : 0, geometry.padsBegin[spatial - 1])
        let x = try step.device(0)
        let y = try step.output([n, weightShape[1] * groups] + geometry.outSize)
        for phase in packed.phases {
            let rows = phase.y.place(size: oh, stride: packed.strides.y, dilation: packed.dilations.y, pad: pt)
            let columns = phase.x.place(size: ow, stride: packed.strides.x, dilation: packed.dilations.x, pad: pl)
            guard rows.count > 0, columns.count > 0 else { continue }
            // A phase no tap reaches has K = 0: the GEMM writes the bias alone.
            var call = GEMMCall()
            call.source = 0
            call.groups = groups
            call.m = weightShape[1]
            call.mTotal = call.m * groups
            call.c = cin / groups
            call.cin = cin
            (call.h, call.w) = (two ? shape[2] : 1, shape[shape.count - 1])
            (call.ow, call.ohw) = (columns.count, rows.count * columns.count)
            (call.kh, call.kw) = (phase.y.taps.count, phase.x.taps.count)
            (call.dy, call.dx) = (phase.y.step, phase.x.step)
            (call.pt, call.pl) = (rows.convPad, columns.convPad)
            call.n = n * call.ohw
            call.k = call.c * call.kh * call.kw
            call.aOffset = phase.offset
            call.aRow = call.k
            call.aGroup = call.m * call.k
            call.scatter = [oh * ow, ow, rows.first, columns.first, packed.strides.y, packed.strides.x]
            try call.enqueue(step.cl, a: weights, x: x.buffer, y: y.buffer, bias: bias)
        }
        return [.device(y)]
    }
}

// MARK: Matrix products

/// MatMul with numpy semantics; one GEMM per broadcast batch matrix.
private struct DeviceMatMul: DeviceOperator {
    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), step.isFloat(1), let a = step.shape(0), let b = step.shape(1), !a.isEmpty, !b.isEmpty else { return nil }
        let aShape = a.count == 1 ? [1, a[0]] : a, bShape = b.count == 1 ? [b[0], 1] : b
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1], n = bShape[bShape.count - 1]
        guard k == bShape[bShape.count - 2], m > 0, n > 0, k > 0,
              let batchShape = try? broadcastShape(Array(aShape.dropLast(2)), Array(bShape.dropLast(2)), NodeSpec(name: "", opType: "MatMul", inputs: [], outputs: []))
        else { return nil }
        let batches = batchShape.reduce(1, *)
        let ia = broadcastIndices(from: Array(aShape.dropLast(2)), to: batchShape)
        let ib = broadcastIndices(from: Array(bShape.dropLast(2)), to: batchShape)
        var shape = batchShape + [m, n]
        if b.count == 1 { shape.removeLast() }
        if a.count == 1 { shape.remove(at: shape.count - (b.count == 1 ? 1 : 2)) }
        let x = try step.device(0), w = try step.device(1)
        let y = try step.output(shape)
        for i in 0..<batches {
            var call = GEMMCall()
            (call.m, call.n, call.k, call.mTotal, call.ohw, call.ow) = (m, n, k, m, n, n)
            (call.aOffset, call.aRow, call.aCol) = ((ia?[i] ?? i) * m * k, k, 1)
            (call.xOffset, call.bRow, call.bCol) = ((ib?[i] ?? i) * k * n, n, 1)
            call.yOffset = i * m * n
            try call.enqueue(step.cl, a: x.buffer, x: w.buffer, y: y.buffer, bias: nil)
        }
        return [.device(y)]
    }
}

/// Gemm: alpha·op(A)·op(B) + beta·C, with C broadcast into the output first.
private struct DeviceGemm: DeviceOperator {
    let op: GemmOperator

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), step.isFloat(1), let a = step.shape(0), let b = step.shape(1), a.count == 2, b.count == 2 else { return nil }
        let m = op.transA ? a[1] : a[0], k = op.transA ? a[0] : a[1]
        let n = op.transB ? b[0] : b[1]
        guard (op.transB ? b[1] : b[0]) == k, m > 0, n > 0 else { return nil }
        let withC = step.count > 2 && step.shape(2) != nil && op.beta != 0
        if withC {
            guard step.isFloat(2), let cShape = step.shape(2), cShape.count <= 2,
                  zip(cShape.reversed(), [n, m]).allSatisfy({ $0.0 == 1 || $0.0 == $0.1 }) else { return nil }
        }
        let x = try step.device(0), w = try step.device(1)
        let y = try step.output([m, n])
        if withC {
            let c = try step.device(2)
            let (dims, strides) = sixAxes([m, n], broadcastStrides(c.shape, to: [m, n]))!
            try step.cl.enqueue("gather_strided", [.buffer(c.buffer), .buffer(y.buffer), .int(m * n), .int(0), .int8(dims), .int8(strides)],
                                global: [m * n])
        }
        var call = GEMMCall()
        (call.m, call.n, call.k, call.mTotal, call.ohw, call.ow) = (m, n, k, m, n, n)
        (call.aRow, call.aCol) = op.transA ? (1, a[1]) : (a[1], 1)
        (call.bRow, call.bCol) = op.transB ? (1, b[1]) : (b[1], 1)
        call.alpha = op.alpha
        call.beta = withC ? op.beta : 0
        try call.enqueue(step.cl, a: x.buffer, x: w.buffer, y: y.buffer, bias: nil)
        return [.device(y)]
    }
}

// MARK: Element-wise

private struct DeviceUnary: DeviceOperator {
    let activation: FusedActivation

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0) else { return nil }
        return [.device(try apply(activation, to: step.device(0), step))]
    }
}

private func apply(_ activation: FusedActivation, to x: DeviceTensor, _ step: DeviceStep) throws -> DeviceTensor {
    let y = try step.output(x.shape)
    let act = activation.openCL
    try step.cl.enqueue("unary", [.buffer(x.buffer), .buffer(y.buffer), .int(x.count), .int(act.code), .float(act.a), .float(act.b)],
                        global: [x.count])
    return y
}

/// Clip with bounds from attributes (opset < 11) or from inputs 2 and 3 (read on the host).
private struct DeviceClip: DeviceOperator {
    let op: ClipOperator

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0) else { return nil }
        var (lo, hi) = op.attributeBounds ?? (-.infinity, .infinity)
        if let m = try step.host(1) { lo = m.floatValues.first ?? lo }
        if let m = try step.host(2) { hi = m.floatValues.first ?? hi }
        return [.device(try apply(.clip(min: lo, max: hi), to: step.device(0), step))]
    }
}

/// Add, Sub, Mul, Div and PRelu on float32 with broadcasting (int64 arithmetic stays on the CPU).
private struct DeviceBinary: DeviceOperator {
    let kind: BinaryOperator.Kind

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), step.isFloat(1), let sa = step.shape(0), let sb = step.shape(1),
              let shape = try? broadcastShape(sa, sb, NodeSpec(name: "", opType: "", inputs: [], outputs: [])),
              shape.count <= 6 else { return nil }
        let code: Int
        switch kind {
        case .add: code = 0
        case .sub: code = 1
        case .mul: code = 2
        case .div: code = 3
        case .prelu: code = 4
        }
        let a = try step.device(0), b = try step.device(1)
        let y = try step.output(shape)
        if sa == sb {
            try step.cl.enqueue("binary_same", [.buffer(a.buffer), .buffer(b.buffer), .buffer(y.buffer), .int(y.count), .int(code)],
                                global: [y.count])
        } else {
            let (dims, aStrides) = sixAxes(shape, broadcastStrides(sa, to: shape))!
            let bStrides = sixAxes(shape, broadcastStrides(sb, to: shape))!.strides
            try step.cl.enqueue("binary_broadcast", [.buffer(a.buffer), .buffer(b.buffer), .buffer(y.buffer), .int(y.count), .int(code),
                                                     .int8(dims), .int8(aStrides), .int8(bStrides)], global: [y.count])
        }
        return [.device(y)]
    }
}

/// BatchNormalization not folded into a Conv: a per-channel affine map, its coefficients computed on the host.
private struct DeviceBatchNorm: DeviceOperator {
    let epsilon: Float

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0) else { return nil }
        let channels = shape.count > 1 ? shape[1] : 1
        let p = try (1...4).map { try step.host($0)?.floats }
        guard p.allSatisfy({ $0?.count == channels }) else { return nil }
        let (scale, shift) = BatchNormOperator.affine(scale: p[0]!, bias: p[1]!, mean: p[2]!, variance: p[3]!, epsilon: epsilon)
        let x = try step.device(0)
        let y = try step.output(shape)
        let a = try step.upload(scale), b = try step.upload(shift)
        let inner = shape.count > 2 ? shape[2...].reduce(1, *) : 1
        try step.cl.enqueue("channel_affine", [.buffer(x.buffer), .buffer(y.buffer), .buffer(a), .buffer(b), .int(y.count), .int(channels), .int(inner)],
                            global: [y.count])
        return [.device(y)]
    }
}

// MARK: Pooling, resizing, softmax, reductions

/// MaxPool and AveragePool over 1 or 2 spatial axes; GlobalAveragePool over any number.
private struct DevicePool: DeviceOperator {
    let op: PoolOperator

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0), shape.count >= 3 else { return nil }
        let planes = shape[0] * shape[1]
        let spatial = Array(shape[2...])
        if op.kind == .globalAverage {
            let size = spatial.reduce(1, *)
            guard size > 0, planes > 0 else { return nil }
            let x = try step.device(0)
            let y = try step.output([shape[0], shape[1]] + [Int](repeating: 1, count: spatial.count))
            try step.cl.enqueue("global_average", [.buffer(x.buffer), .buffer(y.buffer), .int(size)], global: [64 * planes], local: [64])
            return [.device(y)]
        }
        guard var g = op.geometry, g.kernel.count == spatial.count, spatial.count <= 2 else { return nil }
        let out = g.resolve(spatial)
        guard out.allSatisfy({ $0 > 0 }) else { return nil }
        let two = spatial.count == 2, last = spatial.count - 1
        let (h, w) = (two ? spatial[0] : 1, spatial[last])
        let (oh, ow) = (two ? out[0] : 1, out[last])
        let x = try step.device(0)
        let y = try step.output([shape[0], shape[1]] + out)
        try step.cl.enqueue("pool2d", [
            .buffer(x.buffer), .buffer(y.buffer), .int(h), .int(w), .int(oh), .int(ow),
            .int(two ? g.kernel[0] : 1), .int(g.kernel[last]), .int(two ? g.strides[0] : 1), .int(g.strides[last]),
            .int(two ? g.dilations[0] : 1), .int(g.dilations[last]), .int(two ? g.padsBegin[0] : 0), .int(g.padsBegin[last]),
            .int(two ? g.padsEnd[0] : 0), .int(g.padsEnd[last]), .int(op.kind == .max ? 1 : 0), .int(op.countIncludePad ? 1 : 0),
        ], global: [oh * ow, planes])
        return [.device(y)]
    }
}

/// Resize of N×C×H×W planes (N and C unchanged, nothing outside the crop), with the CPU operator's taps.
private final class DeviceResize: DeviceOperator {
    let op: ResizeOperator
    /// The taps of the latest input shape and parameters, in device memory.
    private var cached: (key: [Float], taps: [DeviceBuffer])?

    init(op: ResizeOperator) { self.op = op }

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0), shape.count == 4 else { return nil }
        let parameters: [Tensor?] = try [nil] + (1..<max(step.count, 1)).map { try step.host($0) }
        let plan = try op.plan(parameters, inputShape: shape)
        let out = plan.outShape
        guard out[0] == shape[0], out[1] == shape[1], !plan.outside[2].contains(true), !plan.outside[3].contains(true),
              out.allSatisfy({ $0 > 0 }) else { return nil }
        let key = shape.map(Float.init) + parameters.flatMap { $0.map { [Float($0.count)] + $0.floatValues } ?? [-1] }
        let taps: [DeviceBuffer]
        if let cached, cached.key == key {
            taps = cached.taps
        } else {
            taps = [
                try step.upload(plan.taps[2].map { Int32($0.index) }, pooled: false), try step.upload(plan.taps[2].map(\.weight), pooled: false),
                try step.upload(plan.taps[3].map { Int32($0.index) }, pooled: false), try step.upload(plan.taps[3].map(\.weight), pooled: false),
            ]
            cached = (key, taps)
        }
        let x = try step.device(0)
        let y = try step.output(out)
        try step.cl.enqueue("resize_planes", [
            .buffer(x.buffer), .buffer(y.buffer), .int(shape[2]), .int(shape[3]), .int(out[2]), .int(out[3]),
            .buffer(taps[0]), .buffer(taps[1]), .int(plan.tapsPerAxis[2]), .buffer(taps[2]), .buffer(taps[3]), .int(plan.tapsPerAxis[3]),
        ], global: [out[3], out[2], out[0] * out[1]])
        return [.device(y)]
    }
}

private struct DeviceSoftmax: DeviceOperator {
    let op: SoftmaxOperator

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0), !shape.isEmpty else { return nil }
        let a = try normalizedAxis(op.axis, rank: shape.count, op.node)
        let outer = shape[..<a].reduce(1, *)
        let length = op.legacy ? shape[a...].reduce(1, *) : shape[a]
        let inner = op.legacy ? 1 : shape[(a + 1)...].reduce(1, *)
        guard length > 0 else { return nil }
        let x = try step.device(0)
        let y = try step.output(shape)
        try step.cl.enqueue("softmax", [.buffer(x.buffer), .buffer(y.buffer), .int(length), .int(inner), .int(outer * inner)],
                            global: [outer * inner])
        return [.device(y)]
    }
}

private struct DeviceReduceMean: DeviceOperator {
    let op: ReduceMeanOperator

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0), shape.count <= 6 else { return nil }
        let axesInput = try step.host(1)?.integerValues.map { Int($0) }
        var axes = op.attributeAxes ?? axesInput ?? []
        if axes.isEmpty {
            if op.noopWithEmptyAxes { return [step.values[0]!] }
            axes = Array(0..<shape.count)
        }
        let reduce = try Set(axes.map { try normalizedAxis($0, rank: shape.count, op.node) })
        let inStrides = strides(of: shape)
        let kept = shape.enumerated().map { reduce.contains($0.offset) ? 1 : $0.element }
        let keptStrides = shape.indices.map { reduce.contains($0) ? 0 : inStrides[$0] }
        let reducedAxes = shape.indices.filter { reduce.contains($0) }
        let count = reducedAxes.map { shape[$0] }.reduce(1, *)
        guard count > 0 else { return nil }
        let (dims, dimStrides) = sixAxes(kept, keptStrides)!
        let (redDims, redStrides) = sixAxes(reducedAxes.map { shape[$0] }, reducedAxes.map { inStrides[$0] })!
        let outShape = op.keepDims ? kept : shape.indices.filter { !reduce.contains($0) }.map { shape[$0] }
        let x = try step.device(0)
        let y = try step.output(outShape)
        try step.cl.enqueue("reduce_mean", [.buffer(x.buffer), .buffer(y.buffer), .int(y.count), .int8(dims), .int8(dimStrides),
                                            .int8(redDims), .int8(redStrides), .int(count)], global: [y.count])
        return [.device(y)]
    }
}

/// ArgMax of a float tensor; the indices come back to the host as int64, which is what follows it.
private struct DeviceArgMax: DeviceOperator {
    let op: ArgMaxOperator

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0), !shape.isEmpty else { return nil }
        let a = try normalizedAxis(op.axis, rank: shape.count, op.node)
        let outer = shape[..<a].reduce(1, *), length = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        guard length > 0 else { return nil }
        let x = try step.device(0)
        let positions = outer * inner
        let indices = try step.cl.buffer(count: positions, elementSize: 8)
        try step.cl.enqueue("argmax", [.buffer(x.buffer), .buffer(indices), .int(length), .int(inner), .int(positions), .int(op.selectLast ? 1 : 0)],
                            global: [positions])
        var out = shape
        if op.keepDims { out[a] = 1 } else { out.remove(at: a) }
        step.transfers.downloads += 1
        step.transfers.downloadBytes += positions * 8
        return [.host(Tensor(shape: out, int64s: try step.cl.download(indices, count: positions, as: Int64.self)))]
    }
}

// MARK: Data movement

private struct DeviceConcat: DeviceOperator {
    let axis: Int

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        let present = (0..<step.count).filter { step.shape($0) != nil }
        guard let first = present.first.flatMap(step.shape), present.allSatisfy(step.isFloat) else { return nil }
        let rank = first.count
        let a = try normalizedAxis(axis, rank: rank, NodeSpec(name: "", opType: "Concat", inputs: [], outputs: []))
        var shape = first
        shape[a] = 0
        for i in present {
            let s = step.shape(i)!
            guard s.count == rank, (0..<rank).allSatisfy({ $0 == a || s[$0] == first[$0] }) else { return nil }
            shape[a] += s[a]
        }
        let outer = shape[..<a].reduce(1, *)
        let total = shape[a...].reduce(1, *)
        let y = try step.output(shape)
        var offset = 0
        for i in present {
            let x = try step.device(i)
            let run = x.shape[a...].reduce(1, *)
            try step.cl.enqueue("copy_rows", [.buffer(x.buffer), .int(0), .int(run), .buffer(y.buffer), .int(offset), .int(total),
                                              .int(run), .int(outer)], global: [run, outer])
            offset += run
        }
        return [.device(y)]
    }
}

private struct DeviceTranspose: DeviceOperator {
    let perm: [Int]?

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0), shape.count <= 6 else { return nil }
        let p = perm ?? Array((0..<shape.count).reversed())
        guard p.sorted() == Array(0..<shape.count) else { return nil }
        let source = strides(of: shape)
        let out = p.map { shape[$0] }
        let (dims, strides) = sixAxes(out, p.map { source[$0] })!
        let x = try step.device(0)
        let y = try step.output(out)
        try step.cl.enqueue("gather_strided", [.buffer(x.buffer), .buffer(y.buffer), .int(y.count), .int(0), .int8(dims), .int8(strides)],
                            global: [y.count])
        return [.device(y)]
    }
}

/// Slice, Split, Gather and Pad: the CPU operator runs once per input shape and parameters on a tensor of
/// element numbers (1, 2, …), which tells the source of every output value (0: none, Pad's fill); the
/// device then gathers by that map. The operators' semantics stay in one place.
private final class DeviceIndexMap: DeviceOperator {
    let op: Operator
    /// Pad's fill value from its attribute (opset < 11); nil for the other ops.
    let padFill: Float?
    private var cached: (key: [Int64], maps: [(shape: [Int], index: DeviceBuffer)])?

    init(op: Operator, padFill: Float? = nil) {
        self.op = op
        self.padFill = padFill
    }

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isFloat(0), let shape = step.shape(0) else { return nil }
        let count = shape.reduce(1, *)
        guard count < Int(Int32.max) else { return nil }
        var parameters: [Tensor?] = try (1..<max(step.count, 1)).map { try step.host($0) }
        var fill: Float = 0
        if let padFill {
            // The fill value must not reach the element numbers: it is applied by the gather instead.
            if padFill != 0 { return nil }
            if parameters.count > 1, let value = parameters[1] {
                fill = value.floatValues.first ?? 0
                parameters[1] = nil
            }
        }
        let key = shape.map(Int64.init) + parameters.flatMap { $0.map { [Int64($0.count)] + $0.integerValues } ?? [-1] }
        let maps: [(shape: [Int], index: DeviceBuffer)]
        if let cached, cached.key == key {
            maps = cached.maps
        } else {
            let numbers = Tensor(shape: shape, int64s: (0..<Int64(count)).map { $0 + 1 })
            let outputs = try op.run([numbers] + parameters, ExecutionContext(threads: 1))
            maps = try outputs.map { out in
                (out.shape, try step.upload(out.integerValues.map { Int32($0) - 1 }, pooled: false))
            }
            cached = (key, maps)
        }
        let x = try step.device(0)
        return try maps.map { map in
            let y = try step.output(map.shape)
            try step.cl.enqueue("gather_indexed", [.buffer(x.buffer), .buffer(y.buffer), .buffer(map.index), .int(y.count), .float(fill)],
                                global: [y.count])
            return .device(y)
        }
    }
}

/// Reshape, Flatten, Squeeze, Unsqueeze and Shape of a device tensor: the CPU operator works out the new
/// shape from a stand-in that has the shape and no values (these operators read only the shape); the
/// values stay where they are.
private struct DeviceMetadata: DeviceOperator {
    let op: Operator

    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isOnDevice(0), case .device(let x)? = step.values[0] else { return nil }
        var standIn = Tensor(shape: [0], floats: [])
        standIn.shape = x.shape
        let parameters: [Tensor?] = try (1..<max(step.count, 1)).map { try step.host($0) }
        let out = try op.run([standIn] + parameters, ExecutionContext(threads: 1))
        guard out.count == 1 else { return nil }
        if out[0].element == .int64 { return [.host(out[0])] }  // Shape
        guard out[0].count == x.count else { return nil }
        return [.device(DeviceTensor(shape: out[0].shape, buffer: x.buffer))]
    }
}

/// Identity, and Cast from float to float: the value itself.
private struct DevicePassThrough: DeviceOperator {
    func run(_ step: DeviceStep) throws -> [StepValue]? {
        guard step.isOnDevice(0) else { return nil }
        return [step.values[0]!]
    }
}
