import Foundation
import TileRunKernels

/// MatMul with numpy semantics: 1-D operands promoted, leading dimensions broadcast.
struct MatMulOperator: Operator {
    let node: NodeSpec

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes([])
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (a, av) = try inputs.floats(0, node)
        let (b, bv) = try inputs.floats(1, node)
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1]
        let k2 = bShape[bShape.count - 2], n = bShape[bShape.count - 1]
        guard k == k2 else { throw GraphError(node, "shapes \(a.shape) and \(b.shape) do not multiply") }
        let batchShape = try broadcastShape(Array(aShape.dropLast(2)), Array(bShape.dropLast(2)), node)
        let batches = batchShape.reduce(1, *)
        let ia = broadcastIndices(from: Array(aShape.dropLast(2)), to: batchShape)
        let ib = broadcastIndices(from: Array(bShape.dropLast(2)), to: batchShape)
        var out = [Float](repeating: 0, count: batches * m * n)
        av.withUnsafeBufferPointer { ap in
            bv.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { cp in
                    for i in 0..<batches {
                        sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                              a: ap.baseAddress! + (ia?[i] ?? i) * m * k, lda: k,
                              b: bp.baseAddress! + (ib?[i] ?? i) * k * n, ldb: n,
                              beta: 0, c: cp.baseAddress! + i * m * n, ldc: n, threads: context.threads)
                    }
                }
            }
        }
        var shape = batchShape + [m, n]
        if b.rank == 1 { shape.removeLast() }
        if a.rank == 1 { shape.remove(at: shape.count - (b.rank == 1 ? 1 : 2)) }
        return [Tensor(shape: shape, floats: out)]
    }
}

/// Gemm: alpha·op(A)·op(B) + beta·C, C broadcast to M×N.
struct GemmOperator: Operator {
    let node: NodeSpec
    let transA: Bool, transB: Bool
    let alpha: Float, beta: Float

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["transA", "transB", "alpha", "beta", "broadcast"])
        transA = try node.int("transA", default: 0) != 0
        transB = try node.int("transB", default: 0) != 0
        alpha = try node.float("alpha", default: 1)
        beta = try node.float("beta", default: 1)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (a, av) = try inputs.floats(0, node)
        let (b, bv) = try inputs.floats(1, node)
        guard a.rank == 2, b.rank == 2 else { throw GraphError(node, "A and B must be matrices") }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let n = transB ? b.shape[0] : b.shape[1]
        guard (transB ? b.shape[1] : b.shape[0]) == k else { throw GraphError(node, "shapes \(a.shape) and \(b.shape) do not multiply") }
        var out = [Float](repeating: 0, count: m * n)
        if inputs.count > 2, let c = inputs[2], beta != 0 {
            guard let cv = c.floats else { throw GraphError(node, "C must be float32") }
            let (_, filled) = try broadcastBinary(out, [m, n], cv, c.shape, node) { $1 }
            out = filled.map { $0 * beta }
        }
        av.withUnsafeBufferPointer { ap in
            bv.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { cp in
                    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                          a: ap.baseAddress!, lda: a.shape[1], b: bp.baseAddress!, ldb: b.shape[1],
                          beta: 1, c: cp.baseAddress!, ldc: n, threads: context.threads)
                }
            }
        }
        return [Tensor(shape: [m, n], floats: out)]
    }
}

/// Softmax along an axis (opset ≥ 13), or over the flattened trailing dimensions (opset < 13).
struct SoftmaxOperator: Operator {
    let node: NodeSpec
    let axis: Int
    let legacy: Bool

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["axis"])
        legacy = setup.opset < 13
        axis = try node.int("axis", default: legacy ? 1 : -1)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (x, v) = try inputs.floats(0, node)
        let a = try normalizedAxis(axis, rank: x.rank, node)
        let outer = x.shape[..<a].reduce(1, *)
        let length = legacy ? x.shape[a...].reduce(1, *) : x.shape[a]
        let inner = legacy ? 1 : x.shape[(a + 1)...].reduce(1, *)
        if !legacy, inner > 1 {
            // Along the channels of planar data (a segmentation head): the vector kernel, with the pixels
            // split among workers in runs of 8.
            return [Tensor(shape: x.shape) { out in
                out.baseAddress!.update(from: v, count: v.count)
                let runs = (inner + 7) / 8
                parallelChunks(outer * runs, threads: context.threads) { range in
                    for item in (range.lowerBound / runs)...((range.upperBound - 1) / runs) {
                        let first = max(range.lowerBound, item * runs) - item * runs
                        let end = min(range.upperBound, (item + 1) * runs) - item * runs
                        softmaxChannels(out.baseAddress! + item * length * inner, items: 1, channels: length, plane: inner,
                                        pixels: (first * 8)..<min(inner, end * 8))
                    }
                }
            }]
        }
        // Each (outer, inner) position is one independent softmax; positions split across workers.
        let out = [Float](unsafeUninitializedCapacity: v.count) { buffer, initialized in
            v.withUnsafeBufferPointer { src in
                let dst = buffer.baseAddress!
                parallelChunks(outer * inner, threads: context.threads) { range in
                    for position in range {
                        let base = (position / inner) * length * inner + position % inner
                        var m = -Float.infinity
                        for j in 0..<length { m = max(m, src[base + j * inner]) }
                        var sum: Float = 0
                        for j in 0..<length { let e = expf(src[base + j * inner] - m); dst[base + j * inner] = e; sum += e }
                        for j in 0..<length { dst[base + j * inner] /= sum }
                    }
                }
            }
            initialized = v.count
        }
        return [Tensor(shape: x.shape, floats: out)]
    }
}

/// ReduceMean over axes (attribute before opset 18, input from 18), with keepdims.
struct ReduceMeanOperator: Operator {
    let node: NodeSpec
    let attributeAxes: [Int]?
    let keepDims: Bool
    let noopWithEmptyAxes: Bool
    let axesFromInput: Bool

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        axesFromInput = setup.opset >= 18
        try node.onlyAttributes(axesFromInput ? ["keepdims", "noop_with_empty_axes"] : ["axes", "keepdims"])
        attributeAxes = axesFromInput ? nil : try node.ints("axes")
        keepDims = try node.int("keepdims", default: 1) != 0
        noopWithEmptyAxes = try node.int("noop_with_empty_axes", default: 0) != 0
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (x, v) = try inputs.floats(0, node)
        var axes = attributeAxes ?? (inputs.count > 1 ? inputs[1]?.integerValues.map { Int($0) } : nil) ?? []
        if axes.isEmpty {
            if noopWithEmptyAxes { return [x] }
            axes = Array(0..<x.rank)
        }
        let reduce = try Set(axes.map { try normalizedAxis($0, rank: x.rank, node) })
        let keptShape = x.shape.enumerated().map { reduce.contains($0.offset) ? 1 : $0.element }
        let count = x.shape.enumerated().filter { reduce.contains($0.offset) }.map(\.element).reduce(1, *)
        let outCount = keptShape.reduce(1, *)
        var sums = [Double](repeating: 0, count: outCount)
        let outStrides = strides(of: keptShape)
        var counter = [Int](repeating: 0, count: x.rank)
        for i in 0..<v.count {
            var o = 0
            for d in 0..<x.rank where !reduce.contains(d) { o += counter[d] * outStrides[d] }
            sums[o] += Double(v[i])
            advance(&counter, within: x.shape)
        }
        let shape = keepDims ? keptShape : x.shape.enumerated().filter { !reduce.contains($0.offset) }.map(\.element)
        return [Tensor(shape: shape, floats: sums.map { Float($0 / Double(max(count, 1))) })]
    }
}

/// ArgMax along an axis, first or last index of the maximum.
struct ArgMaxOperator: Operator {
    let node: NodeSpec
    let axis: Int
    let keepDims: Bool
    let selectLast: Bool

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["axis", "keepdims", "select_last_index"])
        axis = try node.int("axis", default: 0)
        keepDims = try node.int("keepdims", default: 1) != 0
        selectLast = try node.int("select_last_index", default: 0) != 0
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let v = x.floatValues
        let a = try normalizedAxis(axis, rank: x.rank, node)
        let outer = x.shape[..<a].reduce(1, *), length = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *)
        var out = [Int64](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0
                var bestValue = -Float.infinity
                for j in 0..<length {
                    let value = v[(o * length + j) * inner + i]
                    if value > bestValue || (selectLast && value == bestValue) || j == 0 { best = j; bestValue = value }
                }
                out[o * inner + i] = Int64(best)
            }
        }
        var shape = x.shape
        if keepDims { shape[a] = 1 } else { shape.remove(at: a) }
        return [Tensor(shape: shape, int64s: out)]
    }
}
