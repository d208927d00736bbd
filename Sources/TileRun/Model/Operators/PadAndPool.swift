/// Pad (opset 11+: pads and constant value as inputs; opset 18 adds axes) in constant, reflect or edge mode.
struct PadOperator: Operator {
    enum Mode: String { case constant, reflect, edge }
    let node: NodeSpec
    let mode: Mode
    let attributePads: [Int]?
    let attributeValue: Float

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(setup.opset < 11 ? ["mode", "pads", "value"] : ["mode"])
        let m = try node.string("mode", default: "constant")
        guard let mode = Mode(rawValue: m) else { throw GraphError(node, "pad mode '\(m)' is not supported") }
        self.mode = mode
        attributePads = setup.opset < 11 ? try node.ints("pads") : nil
        attributeValue = try node.float("value", default: 0)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let rank = x.rank
        var given = try attributePads ?? inputs.required(1, node).integerValues.map { Int($0) }
        var value = attributeValue
        if inputs.count > 2, let v = inputs[2] { value = v.floatValues.first ?? 0 }
        if inputs.count > 3, let axesTensor = inputs[3] {
            let axes = try axesTensor.integerValues.map { try normalizedAxis(Int($0), rank: rank, node) }
            guard given.count == 2 * axes.count else { throw GraphError(node, "pads do not match axes") }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (i, a) in axes.enumerated() {
                full[a] = given[i]
                full[a + rank] = given[i + axes.count]
            }
            given = full
        }
        guard given.count == 2 * rank else { throw GraphError(node, "pads has \(given.count) values for rank \(rank)") }
        let before = Array(given[..<rank]), after = Array(given[rank...])
        let shape = (0..<rank).map { x.shape[$0] + before[$0] + after[$0] }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw GraphError(node, "pads \(given) shrink below zero") }
        if mode == .reflect {
            for d in 0..<rank where (before[d] > 0 || after[d] > 0) && x.shape[d] < 2 {
                throw GraphError(node, "reflect padding needs at least 2 values on axis \(d)")
            }
        }
        let src = strides(of: x.shape)
        var idx = [Int](repeating: -1, count: shape.reduce(1, *))
        var counter = [Int](repeating: 0, count: rank)
        for i in 0..<idx.count {
            var offset = 0
            var inside = true
            for d in 0..<rank {
                var c = counter[d] - before[d]
                let n = x.shape[d]
                if c < 0 || c >= n {
                    switch mode {
                    case .constant: inside = false
                    case .edge: c = min(max(c, 0), n - 1)
                    case .reflect:
                        let period = 2 * (n - 1)
                        c = ((c % period) + period) % period
                        if c >= n { c = period - c }
                    }
                }
                if !inside { break }
                offset += c * src[d]
            }
            idx[i] = inside ? offset : -1
            advance(&counter, within: shape)
        }
        switch x.storage {
        case .float(let v): return [Tensor(shape: shape, floats: idx.map { $0 < 0 ? value : v[$0] })]
        case .int64(let v): return [Tensor(shape: shape, int64s: idx.map { $0 < 0 ? Int64(value) : v[$0] })]
        case .bool(let v): return [Tensor(shape: shape, bools: idx.map { $0 < 0 ? value != 0 : v[$0] })]
        }
    }
}

/// Window geometry shared by pooling and convolution: kernel, strides, dilations, pads, auto_pad, ceil_mode.
struct WindowGeometry {
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padsBegin: [Int]
    var padsEnd: [Int]
    var autoPad: String
    var ceilMode: Bool

    init(node: NodeSpec, spatialRank: Int, kernel: [Int]) throws {
        self.kernel = kernel
        strides = try node.ints("strides") ?? [Int](repeating: 1, count: spatialRank)
        dilations = try node.ints("dilations") ?? [Int](repeating: 1, count: spatialRank)
        let pads = try node.ints("pads") ?? [Int](repeating: 0, count: 2 * spatialRank)
        guard strides.count == spatialRank, dilations.count == spatialRank, pads.count == 2 * spatialRank,
              kernel.count == spatialRank else {
            throw GraphError(node, "kernel, strides, dilations or pads do not match \(spatialRank) spatial axes")
        }
        guard kernel.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw GraphError(node, "kernel, strides and dilations must be positive")
        }
        padsBegin = Array(pads[..<spatialRank])
        padsEnd = Array(pads[spatialRank...])
        autoPad = try node.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].contains(autoPad) else {
            throw GraphError(node, "auto_pad '\(autoPad)' is not supported")
        }
        ceilMode = try node.int("ceil_mode", default: 0) != 0
    }

    /// Output spatial sizes for `input`, resolving auto_pad into explicit pads.
    mutating func resolve(_ input: [Int]) -> [Int] {
        var out = [Int]()
        for d in 0..<input.count {
            let effective = (kernel[d] - 1) * dilations[d] + 1
            switch autoPad {
            case "VALID":
                padsBegin[d] = 0
                padsEnd[d] = 0
                out.append((input[d] - effective) / strides[d] + 1)
            case "SAME_UPPER", "SAME_LOWER":
                let o = (input[d] + strides[d] - 1) / strides[d]
                let total = max(0, (o - 1) * strides[d] + effective - input[d])
                padsBegin[d] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                padsEnd[d] = total - padsBegin[d]
                out.append(o)
            default:
                let span = input[d] + padsBegin[d] + padsEnd[d] - effective
                var o = (ceilMode ? (span + strides[d] - 1) / strides[d] : span / strides[d]) + 1
                // With ceil_mode, a last window that starts inside the end padding is dropped.
                if ceilMode, (o - 1) * strides[d] >= input[d] + padsBegin[d] { o -= 1 }
                out.append(o)
            }
        }
        return out
    }
}

/// MaxPool and AveragePool over any number of spatial axes; GlobalAveragePool.
struct PoolOperator: Operator {
    enum Kind { case max, average, globalAverage }
    let node: NodeSpec
    let kind: Kind
    let geometry: WindowGeometry?
    let countIncludePad: Bool

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        switch node.opType {
        case "MaxPool":
            kind = .max
            try node.onlyAttributes(["kernel_shape", "strides", "dilations", "pads", "auto_pad", "ceil_mode", "storage_order"])
            guard try node.int("storage_order", default: 0) == 0 else { throw GraphError(node, "storage_order 1 is not supported") }
        case "AveragePool":
            kind = .average
            try node.onlyAttributes(["kernel_shape", "strides", "dilations", "pads", "auto_pad", "ceil_mode", "count_include_pad"])
        default:
            kind = .globalAverage
            try node.onlyAttributes([])
        }
        if kind == .globalAverage {
            geometry = nil
        } else {
            guard let k = try node.ints("kernel_shape") else { throw GraphError(node, "kernel_shape is required") }
            // Imagery networks pool over 1 or 2 spatial axes; volumes are out of scope.
            guard k.count <= 2 else { throw GraphError(node, "\(k.count)-D pooling is not supported (1-D and 2-D are)") }
            geometry = try WindowGeometry(node: node, spatialRank: k.count, kernel: k)
        }
        countIncludePad = try node.int("count_include_pad", default: 0) != 0
        if node.outputs.count > 1 && !node.outputs[1].isEmpty { throw GraphError(node, "the Indices output is not supported") }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let values = x.floatValues
        guard x.rank >= 3 else { throw GraphError(node, "input must be N×C×spatial, got \(x.shape)") }
        let result = try pool(x, values, threads: context.threads)
        // Integer inputs (MaxPool over uint8 and the like) come back in their own type; every value is exact.
        return x.element == .int64 && kind == .max ? [Tensor(shape: result.shape, int64s: result.floatValues.map { Int64($0) })] : [result]
    }

    private func pool(_ x: Tensor, _ values: [Float], threads: Int) throws -> Tensor {
        let planes = x.shape[0] * x.shape[1]
        let spatial = Array(x.shape[2...])
        let planeSize = spatial.reduce(1, *)
        if kind == .globalAverage {
            var out = [Float](repeating: 0, count: planes)
            for p in 0..<planes {
                var sum: Double = 0
                for i in 0..<planeSize { sum += Double(values[p * planeSize + i]) }
                out[p] = Float(sum / Double(planeSize))
            }
            return Tensor(shape: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: spatial.count), floats: out)
        }
        var g = geometry!
        guard g.kernel.count == spatial.count else { throw GraphError(node, "kernel rank does not match input \(x.shape)") }
        let outSpatial = g.resolve(spatial)
        guard outSpatial.allSatisfy({ $0 > 0 }) else { throw GraphError(node, "output would be empty for input \(x.shape)") }
        let outPlane = outSpatial.reduce(1, *)
        let outShape = [x.shape[0], x.shape[1]] + outSpatial
        if kind == .max, spatial.count == 2, g.padsBegin.allSatisfy({ $0 == 0 }), g.dilations.allSatisfy({ $0 == 1 }),
           (0..<2).allSatisfy({ (outSpatial[$0] - 1) * g.strides[$0] + g.kernel[$0] <= spatial[$0] }) {
            return maxPoolInside(values, shape: outShape, inputSize: spatial, geometry: g, threads: threads)
        }
        let inStrides = strides(of: spatial)
        let rank = spatial.count
        let kernelCount = g.kernel.reduce(1, *)
        // The window of every output position, once for all planes: source offsets (−1 outside the
        // input) and the padded-window size that count_include_pad divides by.
        var offsets = [Int](repeating: -1, count: outPlane * kernelCount)
        var paddedCounts = [Int](repeating: 0, count: outPlane)
        var outIndex = [Int](repeating: 0, count: rank)
        var kIndex = [Int](repeating: 0, count: rank)
        for o in 0..<outPlane {
            var rem = o
            for d in stride(from: rank - 1, through: 0, by: -1) { outIndex[d] = rem % outSpatial[d]; rem /= outSpatial[d] }
            var paddedCount = 1
            for d in 0..<rank {
                let start = outIndex[d] * g.strides[d] - g.padsBegin[d]
                let end = min(start + (g.kernel[d] - 1) * g.dilations[d] + 1, spatial[d] + g.padsEnd[d])
                paddedCount *= (end - start + g.dilations[d] - 1) / g.dilations[d]
            }
            paddedCounts[o] = paddedCount
            for k in 0..<kernelCount {
                var r = k
                for d in stride(from: rank - 1, through: 0, by: -1) { kIndex[d] = r % g.kernel[d]; r /= g.kernel[d] }
                var off = 0
                var inside = true
                for d in 0..<rank {
                    let c = outIndex[d] * g.strides[d] - g.padsBegin[d] + kIndex[d] * g.dilations[d]
                    if c < 0 || c >= spatial[d] { inside = false; break }
                    off += c * inStrides[d]
                }
                if inside { offsets[o * kernelCount + k] = off }
            }
        }
        var out = [Float](repeating: 0, count: planes * outPlane)
        let isMax = kind == .max
        let includePad = countIncludePad
        values.withUnsafeBufferPointer { src in
            offsets.withUnsafeBufferPointer { offs in
                out.withUnsafeMutableBufferPointer { dst in
                    parallelChunks(planes, threads: threads) { range in
                        for p in range {
                            let base = src.baseAddress! + p * planeSize
                            let row = dst.baseAddress! + p * outPlane
                            for o in 0..<outPlane {
                                var m = -Float.infinity, s: Float = 0, n = 0
                                for k in 0..<kernelCount {
                                    let off = offs[o * kernelCount + k]
                                    if off < 0 { continue }
                                    let v = base[off]
                                    m = max(m, v)
                                    s += v
                                    n += 1
                                }
                                if isMax {
                                    row[o] = m
                                } else {
                                    let divisor = includePad ? paddedCounts[o] : n
                                    row[o] = divisor > 0 ? s / Float(divisor) : 0
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: outShape, floats: out)
    }

    /// 2-D max pooling whose every window lies inside the input (U-Net's 2×2, stride 2): direct loops,
    /// the same comparisons in the same order as the general path.
    private func maxPoolInside(_ values: [Float], shape: [Int], inputSize: [Int], geometry g: WindowGeometry,
                               threads: Int) -> Tensor {
        let (h, w) = (inputSize[0], inputSize[1])
        let (oh, ow) = (shape[2], shape[3])
        let (kh, kw) = (g.kernel[0], g.kernel[1])
        let (sy, sx) = (g.strides[0], g.strides[1])
        return Tensor(shape: shape) { out in
            values.withUnsafeBufferPointer { src in
                parallelChunks(shape[0] * shape[1], threads: threads) { planes in
                    for p in planes {
                        let plane = src.baseAddress! + p * h * w
                        for oy in 0..<oh {
                            let row = out.baseAddress! + (p * oh + oy) * ow
                            if kh == 2, kw == 2, sx == 2 {
                                // U-Net's pooling, unrolled so that it vectorizes.
                                let top = plane + oy * sy * w, bottom = top + w
                                for ox in 0..<ow {
                                    row[ox] = max(max(max(max(-Float.infinity, top[2 * ox]), top[2 * ox + 1]), bottom[2 * ox]),
                                                  bottom[2 * ox + 1])
                                }
                                continue
                            }
                            for ox in 0..<ow {
                                var m = -Float.infinity
                                for ky in 0..<kh {
                                    let window = plane + (oy * sy + ky) * w + ox * sx
                                    for kx in 0..<kw { m = max(m, window[kx]) }
                                }
                                row[ox] = m
                            }
                        }
                    }
                }
            }
        }
    }
}
