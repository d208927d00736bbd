import Foundation
import TileRunKernels

/// Conv over 1-D or 2-D inputs (NCW is run as NC1W), with bias, a folded BatchNormalization and a
/// fused activation. Weights are packed once per resolved geometry and reused across runs.
final class ConvOperator: Operator, @unchecked Sendable {
    let node: NodeSpec
    private let constantWeights: Tensor?
    private let constantBias: [Float]?
    private let kernelShape: [Int]?
    private let groups: Int
    private let activation: FusedActivation
    private let lock = NSLock()
    private var cache: (Conv2DGeometry, Conv2DKernel)?

    /// `weights`/`bias` override the node's inputs when a graph pass has folded a BatchNormalization in.
    init(_ setup: OperatorSetup, weights: Tensor? = nil, bias: [Float]? = nil, activation: FusedActivation = .none) throws {
        node = setup.node
        try node.onlyAttributes(["kernel_shape", "strides", "dilations", "pads", "auto_pad", "group"])
        groups = try node.int("group", default: 1)
        guard groups >= 1 else { throw GraphError(node, "group must be ≥ 1") }
        constantWeights = weights ?? setup.constantInput(1)
        constantBias = bias ?? setup.constantInput(2)?.floats
        kernelShape = try node.ints("kernel_shape")
        if let spatial = kernelShape?.count ?? constantWeights.map({ $0.rank - 2 }) {
            guard spatial == 1 || spatial == 2 else {
                throw GraphError(node, "\(spatial)-D convolution is not supported (1-D and 2-D are)")
            }
            // Validate the window attributes now, so a bad model fails at load time.
            _ = try WindowGeometry(node: node, spatialRank: spatial, kernel: kernelShape ?? Array(constantWeights!.shape[2...]))
        }
        self.activation = activation
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (x, values) = try inputs.floats(0, node)
        let w = try constantWeights ?? inputs.required(1, node)
        guard let weights = w.floats else { throw GraphError(node, "weights must be float32") }
        let spatial = x.rank - 2
        guard spatial == 1 || spatial == 2, w.rank == x.rank else {
            throw GraphError(node, x.rank > 4 ? "\(x.rank - 2)-D convolution is not supported (1-D and 2-D are)"
                                          : "input \(x.shape) and weights \(w.shape) do not match")
        }
        let (n, c) = (x.shape[0], x.shape[1])
        let h = spatial == 2 ? x.shape[2] : 1, wd = x.shape[x.rank - 1]
        guard c == w.shape[1] * groups, w.shape[0] % groups == 0 else {
            throw GraphError(node, "\(c) input channels do not match weights \(w.shape) with group \(groups)")
        }
        var g = try WindowGeometry(node: node, spatialRank: spatial, kernel: kernelShape ?? Array(w.shape[2...]))
        let outSpatial = g.resolve(Array(x.shape[2...]))
        guard outSpatial.allSatisfy({ $0 > 0 }) else { throw GraphError(node, "output would be empty for input \(x.shape)") }
        let two = spatial == 2
        let geometry = Conv2DGeometry(
            inChannels: c, outChannels: w.shape[0],
            kernelHeight: two ? g.kernel[0] : 1, kernelWidth: g.kernel[spatial - 1],
            strideY: two ? g.strides[0] : 1, strideX: g.strides[spatial - 1],
            dilationY: two ? g.dilations[0] : 1, dilationX: g.dilations[spatial - 1],
            padTop: two ? g.padsBegin[0] : 0, padLeft: g.padsBegin[spatial - 1],
            padBottom: two ? g.padsEnd[0] : 0, padRight: g.padsEnd[spatial - 1], groups: groups)
        let bias = constantBias ?? (inputs.count > 2 ? inputs[2]?.floats : nil)
        if let bias, bias.count != geometry.outChannels { throw GraphError(node, "bias has \(bias.count) values for \(geometry.outChannels) channels") }
        let kernel: Conv2DKernel
        lock.lock()
        if let cached = cache, cached.0 == geometry, constantWeights != nil {
            kernel = cached.1
        } else {
            kernel = Conv2DKernel(geometry: geometry, weights: weights, bias: bias, activation: activation)
            if constantWeights != nil { cache = (geometry, kernel) }
        }
        lock.unlock()
        let (oh, ow) = geometry.outputSize(height: h, width: wd)
        // The kernel writes every output element, so the array need not be zero-filled first.
        let count = n * geometry.outChannels * oh * ow
        let out = values.withUnsafeBufferPointer { input in
            [Float](unsafeUninitializedCapacity: count) { output, initialized in
                kernel.run(input: input.baseAddress!, batch: n, height: h, width: wd, output: output.baseAddress!,
                           threads: context.threads)
                initialized = count
            }
        }
        let shape = [n, geometry.outChannels] + (two ? [oh, ow] : [ow])
        return [Tensor(shape: shape, floats: out)]
    }

}

/// ConvTranspose (1-D or 2-D): per group a GEMM to columns, then a fixed-order scatter (col2im).
struct ConvTransposeOperator: Operator {
    let node: NodeSpec
    let groups: Int
    let outputPadding: [Int]?
    let outputShape: [Int]?
    let kernelShape: [Int]?

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["kernel_shape", "strides", "dilations", "pads", "auto_pad", "group",
                                 "output_padding", "output_shape"])
        groups = try node.int("group", default: 1)
        outputPadding = try node.ints("output_padding")
        outputShape = try node.ints("output_shape")
        kernelShape = try node.ints("kernel_shape")
        if let kernel = kernelShape ?? setup.constantInput(1).map({ Array($0.shape[2...]) }) {
            guard kernel.count == 1 || kernel.count == 2 else { throw GraphError(node, "\(kernel.count)-D ConvTranspose is not supported") }
            _ = try WindowGeometry(node: node, spatialRank: kernel.count, kernel: kernel)
        }
    }

    /// The resolved window, leading pads and output size for an input of spatial size `inSize`:
    /// what both executors compute from.
    struct Geometry {
        var window: WindowGeometry
        var padsBegin: [Int]
        var outSize: [Int]
    }

    func geometry(inputSize inSize: [Int], weightShape: [Int]) throws -> Geometry {
        let spatial = inSize.count
        let g = try WindowGeometry(node: node, spatialRank: spatial, kernel: kernelShape ?? Array(weightShape[2...]))
        var padsBegin = g.padsBegin, padsEnd = g.padsEnd
        var outSize = [Int](repeating: 0, count: spatial)
        let outPad = outputPadding ?? [Int](repeating: 0, count: spatial)
        for d in 0..<spatial {
            let effective = (g.kernel[d] - 1) * g.dilations[d] + 1
            let full = g.strides[d] * (inSize[d] - 1) + outPad[d] + effective
            if let os = outputShape {
                // The specification's arithmetic uses floor division; a negative total pads the end.
                let target = os[os.count - spatial + d]
                let total = full - target
                let half = Int((Double(total) / 2).rounded(.down))
                if g.autoPad == "SAME_UPPER" {
                    padsBegin[d] = half; padsEnd[d] = total - half
                } else {
                    padsEnd[d] = half; padsBegin[d] = total - half
                }
                outSize[d] = target
            } else if g.autoPad == "SAME_UPPER" || g.autoPad == "SAME_LOWER" {
                let target = inSize[d] * g.strides[d]
                let total = max(0, full - target)
                if g.autoPad == "SAME_UPPER" {
                    padsBegin[d] = total / 2; padsEnd[d] = total - total / 2
                } else {
                    padsEnd[d] = total / 2; padsBegin[d] = total - total / 2
                }
                outSize[d] = target
            } else {
                if g.autoPad == "VALID" { padsBegin[d] = 0; padsEnd[d] = 0 }
                outSize[d] = full - padsBegin[d] - padsEnd[d]
            }
        }
        guard outSize.allSatisfy({ $0 > 0 }) else { throw GraphError(node, "output would be empty") }
        return Geometry(window: g, padsBegin: padsBegin, outSize: outSize)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (x, xv) = try inputs.floats(0, node)
        let (w, wv) = try inputs.floats(1, node)
        let bias = inputs.count > 2 ? inputs[2]?.floats : nil
        let spatial = x.rank - 2
        guard spatial == 1 || spatial == 2, w.rank == x.rank else {
            throw GraphError(node, x.rank > 4 ? "\(x.rank - 2)-D ConvTranspose is not supported (1-D and 2-D are)"
                                          : "input \(x.shape) and weights \(w.shape) do not match")
        }
        let n = x.shape[0], cin = x.shape[1]
        guard cin == w.shape[0], cin % groups == 0 else { throw GraphError(node, "input channels do not match weights \(w.shape)") }
        let cinG = cin / groups, coutG = w.shape[1], cout = coutG * groups
        let inSize = Array(x.shape[2...])
        let geometry = try self.geometry(inputSize: inSize, weightShape: w.shape)
        let (g, padsBegin, outSize) = (geometry.window, geometry.padsBegin, geometry.outSize)
        let two = spatial == 2
        let (ih, iw) = (two ? inSize[0] : 1, inSize[spatial - 1])
        let (oh, ow) = (two ? outSize[0] : 1, outSize[spatial - 1])
        let (kh, kw) = (two ? g.kernel[0] : 1, g.kernel[spatial - 1])
        let (sy, sx) = (two ? g.strides[0] : 1, g.strides[spatial - 1])
        let (dy, dx) = (two ? g.dilations[0] : 1, g.dilations[spatial - 1])
        let (pt, pl) = (two ? padsBegin[0] : 0, padsBegin[spatial - 1])
        let rows = coutG * kh * kw, pixels = ih * iw
        if let bias, bias.count != cout { throw GraphError(node, "bias has \(bias.count) values for \(cout) channels") }
        var columns = [Float](unsafeUninitializedCapacity: rows * pixels) { _, count in count = rows * pixels }
        // Windows that tile the output exactly (stride = kernel, U-Net's 2×2 upsampling): every output
        // pixel receives one tap, so each is written once, bias included, and nothing is zero-filled first.
        let tiles = dx == 1 && dy == 1 && sx == kw && sy == kh && pt == 0 && pl == 0 && oh == ih * sy && ow == iw * sx
        let shape = [n, cout] + (two ? [oh, ow] : [ow])
        return [Tensor(shape: shape) { out in
            if !tiles { out.update(repeating: 0) }
            xv.withUnsafeBufferPointer { xp in
                wv.withUnsafeBufferPointer { wp in
                    columns.withUnsafeMutableBufferPointer { cp in
                        for b in 0..<n {
                            for grp in 0..<groups {
                                // columns[rows × pixels] = Wgᵀ [rows × cinG] · Xg [cinG × pixels]
                                sgemm(transA: true, transB: false, m: rows, n: pixels, k: cinG, alpha: 1,
                                      a: wp.baseAddress! + grp * cinG * rows, lda: rows,
                                      b: xp.baseAddress! + (b * cin + grp * cinG) * pixels, ldb: pixels,
                                      beta: 0, c: cp.baseAddress!, ldc: pixels, threads: context.threads)
                                // Each output channel's plane is written by one worker, in a fixed order.
                                let columns = cp.baseAddress!, output = out.baseAddress!
                                parallelChunks(coutG, threads: context.threads) { channels in
                                    for oc in channels {
                                        let plane = output + ((b * cout + grp * coutG + oc) * oh) * ow
                                        if tiles {
                                            let add = bias?[grp * coutG + oc] ?? 0
                                            for ky in 0..<kh {
                                                for kx in 0..<kw {
                                                    let row = columns + ((oc * kh + ky) * kw + kx) * pixels
                                                    for y in 0..<ih {
                                                        let source = row + y * iw
                                                        var target = plane + (y * sy + ky) * ow + kx
                                                        for xx in 0..<iw {
                                                            target.pointee = source[xx] + add
                                                            target += sx
                                                        }
                                                    }
                                                }
                                            }
                                            continue
                                        }
                                        for ky in 0..<kh {
                                            for kx in 0..<kw {
                                                let row = columns + ((oc * kh + ky) * kw + kx) * pixels
                                                // Input columns whose output column 0 ≤ x·sx − pl + kx·dx < ow.
                                                let shift = kx * dx - pl
                                                let first = max(0, (-shift + sx - 1) / sx)
                                                let end = ow - 1 - shift < 0 ? 0 : min(iw, (ow - 1 - shift) / sx + 1)
                                                guard first < end else { continue }
                                                for y in 0..<ih {
                                                    let oy = y * sy - pt + ky * dy
                                                    if oy < 0 || oy >= oh { continue }
                                                    var target = plane + oy * ow + first * sx + shift
                                                    let source = row + y * iw
                                                    for xx in first..<end {
                                                        target.pointee += source[xx]
                                                        target += sx
                                                    }
                                                }
                                            }
                                        }
                                        if let bias {
                                            let add = bias[grp * coutG + oc]
                                            for i in 0..<(oh * ow) { plane[i] += add }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }]
    }
}

/// BatchNormalization in inference mode: y = (x − mean) / √(var + ε) · scale + bias, per channel.
struct BatchNormOperator: Operator {
    let node: NodeSpec
    let epsilon: Float

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["epsilon", "momentum", "spatial", "training_mode"])
        guard try node.int("training_mode", default: 0) == 0 else { throw GraphError(node, "training_mode is not supported") }
        guard node.outputs.filter({ !$0.isEmpty }).count == 1 else { throw GraphError(node, "training outputs are not supported") }
        epsilon = try node.float("epsilon", default: 1e-5)
    }

    /// Per-channel multiplier and offset equivalent to this normalization.
    static func affine(scale: [Float], bias: [Float], mean: [Float], variance: [Float], epsilon: Float) -> ([Float], [Float]) {
        var a = [Float](repeating: 0, count: scale.count), b = a
        for c in 0..<scale.count {
            a[c] = scale[c] / (variance[c] + epsilon).squareRoot()
            b[c] = bias[c] - mean[c] * a[c]
        }
        return (a, b)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (x, v) = try inputs.floats(0, node)
        let p = try (1...4).map { try inputs.floats($0, node).values }
        let c = x.rank > 1 ? x.shape[1] : 1
        guard p.allSatisfy({ $0.count == c }) else { throw GraphError(node, "parameters do not have \(c) values") }
        let (a, b) = Self.affine(scale: p[0], bias: p[1], mean: p[2], variance: p[3], epsilon: epsilon)
        let inner = x.shape.count > 2 ? x.shape[2...].reduce(1, *) : 1
        var out = v
        for i in 0..<out.count {
            let ch = (i / inner) % c
            out[i] = v[i] * a[ch] + b[ch]
        }
        return [Tensor(shape: x.shape, floats: out)]
    }
}
