extension Tensor {
    /// A tensor of `shape` whose i-th value is this tensor's value at `indices[i]`.
    func gathering(_ indices: [Int], shape: [Int]) -> Tensor {
        switch storage {
        case .float(let v): return Tensor(shape: shape, floats: indices.map { v[$0] })
        case .int64(let v): return Tensor(shape: shape, int64s: indices.map { v[$0] })
        case .bool(let v): return Tensor(shape: shape, bools: indices.map { v[$0] })
        }
    }
}

/// Calls `body` with each source offset of a strided view, in row-major output order: `starts` and `steps`
/// per axis over `sourceShape`, `outShape` values per axis.
func forEachStrided(shape outShape: [Int], sourceShape: [Int], starts: [Int], steps: [Int], _ body: (Int) -> Void) {
    let rank = outShape.count
    let total = outShape.reduce(1, *)
    guard total > 0 else { return }
    let src = strides(of: sourceShape)
    var counter = [Int](repeating: 0, count: rank)
    var offset = 0
    for d in 0..<rank { offset += starts[d] * src[d] }
    for _ in 0..<total {
        body(offset)
        var d = rank - 1
        while d >= 0 {
            counter[d] += 1
            offset += steps[d] * src[d]
            if counter[d] < outShape[d] { break }
            offset -= steps[d] * src[d] * outShape[d]
            counter[d] = 0
            d -= 1
        }
    }
}

struct ConcatOperator: Operator {
    let node: NodeSpec
    let axis: Int

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["axis"])
        guard let a = try node.int("axis") else { throw GraphError(node, "attribute 'axis' is required") }
        axis = a
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let parts = inputs.compactMap { $0 }
        guard let first = parts.first else { throw GraphError(node, "no inputs") }
        let rank = first.rank
        let a = try normalizedAxis(axis, rank: rank, node)
        var shape = first.shape
        shape[a] = 0
        for p in parts {
            guard p.rank == rank, p.element == first.element else { throw GraphError(node, "inputs differ in rank or type") }
            for d in 0..<rank where d != a && p.shape[d] != first.shape[d] {
                throw GraphError(node, "input shapes \(first.shape) and \(p.shape) differ off axis \(a)")
            }
            shape[a] += p.shape[a]
        }
        let outer = shape[..<a].reduce(1, *)
        let runs = parts.map { $0.shape[a...].reduce(1, *) }
        // Per outer index, each input contributes one contiguous run (its axis length × inner values).
        func interleave<T>(_ arrays: [[T]]) -> [T] {
            var out = [T]()
            out.reserveCapacity(shape.reduce(1, *))
            for o in 0..<outer {
                for (i, values) in arrays.enumerated() { out += values[(o * runs[i])..<((o + 1) * runs[i])] }
            }
            return out
        }
        switch first.storage {
        case .float:
            // Activations: straight copies, each input's runs on one worker.
            let total = runs.reduce(0, +)
            return [Tensor(shape: shape) { out in
                parallelChunks(parts.count, threads: context.threads) { inputs in
                    for i in inputs {
                        let offset = runs[..<i].reduce(0, +)
                        parts[i].floats!.withUnsafeBufferPointer { src in
                            for o in 0..<outer {
                                (out.baseAddress! + o * total + offset)
                                    .update(from: src.baseAddress! + o * runs[i], count: runs[i])
                            }
                        }
                    }
                }
            }]
        case .int64: return [Tensor(shape: shape, int64s: interleave(parts.map { $0.int64s! }))]
        case .bool: return [Tensor(shape: shape, bools: interleave(parts.map { $0.bools! }))]
        }
    }
}

struct SplitOperator: Operator {
    let node: NodeSpec
    let axis: Int
    let attributeSplit: [Int]?
    let numOutputs: Int?

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["axis", "split", "num_outputs"])
        axis = try node.int("axis", default: 0)
        attributeSplit = try node.ints("split")
        numOutputs = try node.int("num_outputs")
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let a = try normalizedAxis(axis, rank: x.rank, node)
        let length = x.shape[a]
        var sizes: [Int]
        if inputs.count > 1, let s = inputs[1] {
            sizes = s.integerValues.map { Int($0) }
        } else if let s = attributeSplit {
            sizes = s
        } else {
            let n = numOutputs ?? node.outputs.count
            let chunk = (length + n - 1) / n
            sizes = (0..<n).map { min(chunk, max(0, length - $0 * chunk)) }
        }
        guard sizes.reduce(0, +) == length, sizes.allSatisfy({ $0 >= 0 }) else {
            throw GraphError(node, "split sizes \(sizes) do not add up to \(length)")
        }
        var outputs: [Tensor] = []
        var start = 0
        for size in sizes {
            var shape = x.shape
            shape[a] = size
            var starts = [Int](repeating: 0, count: x.rank)
            starts[a] = start
            var idx = [Int]()
            forEachStrided(shape: shape, sourceShape: x.shape, starts: starts,
                           steps: [Int](repeating: 1, count: x.rank)) { idx.append($0) }
            outputs.append(x.gathering(idx, shape: shape))
            start += size
        }
        return outputs
    }
}

struct SliceOperator: Operator {
    let node: NodeSpec
    let attributes: (starts: [Int], ends: [Int], axes: [Int]?)?

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        if setup.opset < 10 {
            try node.onlyAttributes(["starts", "ends", "axes"])
            guard let s = try node.ints("starts"), let e = try node.ints("ends") else {
                throw GraphError(node, "attributes 'starts' and 'ends' are required")
            }
            attributes = (s, e, try node.ints("axes"))
        } else {
            try node.onlyAttributes([])
            attributes = nil
        }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let startsIn: [Int], endsIn: [Int], axesIn: [Int]?, stepsIn: [Int]?
        if let attributes {
            (startsIn, endsIn, axesIn, stepsIn) = (attributes.starts, attributes.ends, attributes.axes, nil)
        } else {
            startsIn = try inputs.required(1, node).integerValues.map { Int(clamping: $0) }
            endsIn = try inputs.required(2, node).integerValues.map { Int(clamping: $0) }
            axesIn = inputs.count > 3 ? inputs[3]?.integerValues.map { Int($0) } : nil
            stepsIn = inputs.count > 4 ? inputs[4]?.integerValues.map { Int(clamping: $0) } : nil
        }
        let rank = x.rank
        var starts = [Int](repeating: 0, count: rank), steps = [Int](repeating: 1, count: rank)
        var shape = x.shape
        let axes = try (axesIn ?? Array(0..<startsIn.count)).map { try normalizedAxis($0, rank: rank, node) }
        guard startsIn.count == axes.count, endsIn.count == axes.count else {
            throw GraphError(node, "starts, ends and axes differ in length")
        }
        for (i, axis) in axes.enumerated() {
            let dim = x.shape[axis]
            let step = stepsIn?[i] ?? 1
            guard step != 0 else { throw GraphError(node, "step 0 on axis \(axis)") }
            var s = startsIn[i], e = endsIn[i]
            if s < 0 { s += dim }
            if e < 0 { e += dim }
            if step > 0 {
                s = min(max(s, 0), dim)
                e = min(max(e, 0), dim)
                shape[axis] = max(0, (e - s + step - 1) / step)
            } else {
                s = min(max(s, 0), dim - 1)
                e = min(max(e, -1), dim - 1)
                shape[axis] = max(0, (s - e + (-step) - 1) / (-step))
            }
            starts[axis] = s
            steps[axis] = step
        }
        var idx = [Int]()
        forEachStrided(shape: shape, sourceShape: x.shape, starts: starts, steps: steps) { idx.append($0) }
        return [x.gathering(idx, shape: shape)]
    }
}

struct TransposeOperator: Operator {
    let node: NodeSpec
    let perm: [Int]?

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["perm"])
        perm = try node.ints("perm")
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let p = perm ?? Array((0..<x.rank).reversed())
        guard p.sorted() == Array(0..<x.rank) else { throw GraphError(node, "perm \(p) is not a permutation of rank \(x.rank)") }
        let shape = p.map { x.shape[$0] }
        let src = strides(of: x.shape)
        // A transpose is a strided view whose axis d walks the source's axis p[d].
        var idx = [Int]()
        idx.reserveCapacity(x.count)
        let rank = x.rank
        var counter = [Int](repeating: 0, count: rank)
        var offset = 0
        for _ in 0..<x.count {
            idx.append(offset)
            var d = rank - 1
            while d >= 0 {
                counter[d] += 1
                offset += src[p[d]]
                if counter[d] < shape[d] { break }
                offset -= src[p[d]] * shape[d]
                counter[d] = 0
                d -= 1
            }
        }
        return [x.gathering(idx, shape: shape)]
    }
}

struct ReshapeOperator: Operator {
    let node: NodeSpec
    let allowZero: Bool

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["allowzero"])
        allowZero = try node.int("allowzero", default: 0) != 0
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        var shape = try inputs.required(1, node).integerValues.map { Int($0) }
        var unknown: Int?
        for i in 0..<shape.count {
            if shape[i] == 0 && !allowZero {
                guard i < x.rank else { throw GraphError(node, "0 in shape at axis \(i) beyond the input's rank") }
                shape[i] = x.shape[i]
            } else if shape[i] == -1 {
                guard unknown == nil else { throw GraphError(node, "more than one -1 in shape \(shape)") }
                unknown = i
            }
        }
        if let u = unknown {
            let known = shape.enumerated().filter { $0.offset != u }.map(\.element).reduce(1, *)
            guard known > 0, x.count % known == 0 else { throw GraphError(node, "cannot reshape \(x.shape) to \(shape)") }
            shape[u] = x.count / known
        }
        guard shape.reduce(1, *) == x.count else { throw GraphError(node, "cannot reshape \(x.shape) to \(shape)") }
        return [x.reshaped(shape)]
    }
}

struct FlattenOperator: Operator {
    let node: NodeSpec
    let axis: Int

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["axis"])
        axis = try node.int("axis", default: 1)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let a = axis < 0 ? axis + x.rank : axis
        guard a >= 0, a <= x.rank else { throw GraphError(node, "axis \(axis) is out of range for rank \(x.rank)") }
        return [x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])]
    }
}

/// Squeeze and Unsqueeze: axes from the attribute (opset < 13) or the second input.
struct SqueezeOperator: Operator {
    let node: NodeSpec
    let unsqueeze: Bool
    let attributeAxes: [Int]?

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        unsqueeze = node.opType == "Unsqueeze"
        if setup.opset < 13 {
            try node.onlyAttributes(["axes"])
            attributeAxes = try node.ints("axes")
        } else {
            try node.onlyAttributes([])
            attributeAxes = nil
        }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let axes = attributeAxes ?? (inputs.count > 1 ? inputs[1]?.integerValues.map { Int($0) } : nil)
        if unsqueeze {
            guard let axes else { throw GraphError(node, "axes are required") }
            let rank = x.rank + axes.count
            let normalized = try Set(axes.map { try normalizedAxis($0, rank: rank, node) })
            guard normalized.count == axes.count else { throw GraphError(node, "repeated axes \(axes)") }
            var shape = [Int]()
            var source = x.shape.makeIterator()
            for d in 0..<rank { shape.append(normalized.contains(d) ? 1 : source.next()!) }
            return [x.reshaped(shape)]
        }
        let drop: Set<Int>
        if let axes {
            drop = try Set(axes.map { try normalizedAxis($0, rank: x.rank, node) })
            for d in drop where x.shape[d] != 1 { throw GraphError(node, "cannot squeeze axis \(d) of size \(x.shape[d])") }
        } else {
            drop = Set(x.shape.indices.filter { x.shape[$0] == 1 })
        }
        return [x.reshaped(x.shape.indices.filter { !drop.contains($0) }.map { x.shape[$0] })]
    }
}

struct ShapeOperator: Operator {
    let node: NodeSpec
    let start: Int
    let end: Int?

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["start", "end"])
        start = try node.int("start", default: 0)
        end = try node.int("end")
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        let r = x.rank
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let s = clamp(start), e = clamp(end ?? r)
        let dims = s < e ? x.shape[s..<e].map { Int64($0) } : []
        return [Tensor(shape: [dims.count], int64s: dims)]
    }
}

struct GatherOperator: Operator {
    let node: NodeSpec
    let axis: Int

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["axis"])
        axis = try node.int("axis", default: 0)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let data = try inputs.required(0, node)
        let indices = try inputs.required(1, node)
        let a = try normalizedAxis(axis, rank: data.rank, node)
        let dim = data.shape[a]
        let picks = try indices.integerValues.map { v -> Int in
            let i = Int(v) < 0 ? Int(v) + dim : Int(v)
            guard i >= 0, i < dim else { throw GraphError(node, "index \(v) is out of range for axis of size \(dim)") }
            return i
        }
        let outer = data.shape[..<a].reduce(1, *)
        let inner = data.shape[(a + 1)...].reduce(1, *)
        var idx = [Int]()
        idx.reserveCapacity(outer * picks.count * inner)
        for o in 0..<outer {
            for p in picks {
                let base = (o * dim + p) * inner
                idx.append(contentsOf: base..<(base + inner))
            }
        }
        let shape = Array(data.shape[..<a]) + indices.shape + Array(data.shape[(a + 1)...])
        return [data.gathering(idx, shape: shape)]
    }
}

struct ConstantOperator: Operator {
    let node: NodeSpec
    let value: Tensor

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        guard node.attributes.count == 1, let (key, attr) = node.attributes.first else {
            throw GraphError(node, "exactly one value attribute is required")
        }
        switch (key, attr) {
        case ("value", .tensor(let t)): value = t
        case ("value_float", .float(let f)): value = Tensor(shape: [], floats: [f])
        case ("value_floats", .floats(let f)): value = Tensor(shape: [f.count], floats: f)
        case ("value_int", .int(let i)): value = Tensor(shape: [], int64s: [Int64(i)])
        case ("value_ints", .ints(let i)): value = Tensor(shape: [i.count], int64s: i.map { Int64($0) })
        default: throw GraphError(node, "unsupported attribute '\(key)'")
        }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] { [value] }
}

struct ConstantOfShapeOperator: Operator {
    let node: NodeSpec
    let fill: Tensor

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["value"])
        if case .tensor(let t)? = node.attributes["value"] {
            guard t.count == 1 else { throw GraphError(node, "'value' must hold one element") }
            fill = t
        } else {
            fill = Tensor(shape: [1], floats: [0])
        }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let shape = try inputs.required(0, node).integerValues.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw GraphError(node, "negative dimension in \(shape)") }
        return [fill.gathering([Int](repeating: 0, count: shape.reduce(1, *)), shape: shape)]
    }
}
