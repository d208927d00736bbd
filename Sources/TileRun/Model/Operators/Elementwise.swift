import Foundation

/// Float → float operators applied value by value.
struct UnaryOperator: Operator {
    let node: NodeSpec
    let function: @Sendable (Float) -> Float

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (x, values) = try inputs.floats(0, node)
        return [Tensor(shape: x.shape, floats: values.map(function))]
    }

    static func make(_ setup: OperatorSetup) throws -> Operator {
        let node = setup.node
        switch node.opType {
        case "Relu":
            try node.onlyAttributes([])
            return UnaryOperator(node: node) { max($0, 0) }
        case "LeakyRelu":
            try node.onlyAttributes(["alpha"])
            let alpha = try node.float("alpha", default: 0.01)
            return UnaryOperator(node: node) { $0 >= 0 ? $0 : $0 * alpha }
        case "Sigmoid":
            try node.onlyAttributes([])
            return UnaryOperator(node: node) { sigmoid($0) }
        case "HardSigmoid":
            try node.onlyAttributes(["alpha", "beta"])
            let alpha = try node.float("alpha", default: 0.2), beta = try node.float("beta", default: 0.5)
            return UnaryOperator(node: node) { max(0, min(1, alpha * $0 + beta)) }
        case "HardSwish":
            try node.onlyAttributes([])
            return UnaryOperator(node: node) { $0 * max(0, min(1, $0 / 6 + 0.5)) }
        case "Tanh":
            try node.onlyAttributes([])
            return UnaryOperator(node: node) { tanhf($0) }
        default:
            throw GraphError(node, "not a unary operator")
        }
    }
}

@inline(__always)
func sigmoid(_ x: Float) -> Float {
    // Split by sign so exp never overflows.
    x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x))
}

/// Clip: bounds from attributes (opset < 11) or from optional inputs 2 and 3.
struct ClipOperator: Operator {
    let node: NodeSpec
    let attributeBounds: (Float, Float)?

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        if setup.opset < 11 {
            try node.onlyAttributes(["min", "max"])
            attributeBounds = (try node.float("min", default: -.infinity), try node.float("max", default: .infinity))
        } else {
            try node.onlyAttributes([])
            attributeBounds = nil
        }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        var lo: Float = -.infinity, hi: Float = .infinity
        if let b = attributeBounds { (lo, hi) = b }
        if inputs.count > 1, let m = inputs[1] { lo = m.floatValues.first ?? lo }
        if inputs.count > 2, let m = inputs[2] { hi = m.floatValues.first ?? hi }
        switch x.storage {
        case .float(let v): return [Tensor(shape: x.shape, floats: v.map { min(max($0, lo), hi) })]
        case .int64(let v):
            let l = lo.isInfinite ? Int64.min : Int64(lo), h = hi.isInfinite ? Int64.max : Int64(hi)
            return [Tensor(shape: x.shape, int64s: v.map { min(max($0, l), h) })]
        case .bool: throw GraphError(node, "Clip of bool is not defined")
        }
    }
}

/// Identity passes its input through.
struct IdentityOperator: Operator {
    let node: NodeSpec
    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] { [try inputs.required(0, node)] }
}

/// Cast between the runtime's element types (ONNX FLOAT, DOUBLE, FLOAT16 → float32; integer types → int64).
struct CastOperator: Operator {
    let node: NodeSpec
    let target: TensorElement

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes(["to", "saturate"])
        guard let to = try node.int("to") else { throw GraphError(node, "attribute 'to' is required") }
        switch to {
        case 1, 10, 11: target = .float32
        case 2, 3, 4, 5, 6, 7, 12, 13: target = .int64
        case 9: target = .bool
        default: throw GraphError(node, "cast to ONNX type \(to) is not supported")
        }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let x = try inputs.required(0, node)
        switch target {
        case .float32: return [Tensor(shape: x.shape, floats: x.floatValues)]
        case .int64:
            if case .float(let v) = x.storage {
                // ONNX truncates toward zero when casting floats to integers.
                return [Tensor(shape: x.shape, int64s: v.map { $0.isFinite ? Int64($0.rounded(.towardZero)) : 0 })]
            }
            return [Tensor(shape: x.shape, int64s: x.integerValues)]
        case .bool:
            return [Tensor(shape: x.shape, bools: x.floatValues.map { $0 != 0 })]
        }
    }
}

/// The output shape of a multidirectional (numpy-style) broadcast.
func broadcastShape(_ a: [Int], _ b: [Int], _ node: NodeSpec) throws -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard da == db || da == 1 || db == 1 else {
            throw GraphError(node, "shapes \(a) and \(b) do not broadcast")
        }
        out[i] = da == 1 ? db : da
    }
    return out
}

/// For each output index, the source index of an input broadcast to `outShape`.
func broadcastIndices(from shape: [Int], to outShape: [Int]) -> [Int]? {
    if shape == outShape { return nil }
    let rank = outShape.count
    let padded = [Int](repeating: 1, count: rank - shape.count) + shape
    let srcStrides = strides(of: padded)
    var index = [Int](repeating: 0, count: outShape.reduce(1, *))
    var counter = [Int](repeating: 0, count: rank)
    var src = 0
    for i in 0..<index.count {
        index[i] = src
        var d = rank - 1
        while d >= 0 {
            counter[d] += 1
            if padded[d] != 1 { src += srcStrides[d] }
            if counter[d] < outShape[d] { break }
            if padded[d] != 1 { src -= srcStrides[d] * outShape[d] }
            counter[d] = 0
            d -= 1
        }
    }
    return index
}

/// Applies `op` over two broadcast inputs, with fast paths for equal shapes and scalars.
func broadcastBinary<T>(_ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int], _ node: NodeSpec,
                        _ op: (T, T) -> T) throws -> ([Int], [T]) {
    let shape = try broadcastShape(aShape, bShape, node)
    if aShape == bShape { return (shape, zip(a, b).map(op)) }
    if b.count == 1, aShape == shape { let s = b[0]; return (shape, a.map { op($0, s) }) }
    if a.count == 1, bShape == shape { let s = a[0]; return (shape, b.map { op(s, $0) }) }
    let ia = broadcastIndices(from: aShape, to: shape)
    let ib = broadcastIndices(from: bShape, to: shape)
    let n = shape.reduce(1, *)
    var out = [T]()
    out.reserveCapacity(n)
    for i in 0..<n { out.append(op(a[ia?[i] ?? i], b[ib?[i] ?? i])) }
    return (shape, out)
}

/// Add, Sub, Mul, Div and PRelu over float32 or int64 with broadcasting.
struct BinaryOperator: Operator {
    enum Kind { case add, sub, mul, div, prelu }
    let node: NodeSpec
    let kind: Kind

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        try node.onlyAttributes([])
        switch node.opType {
        case "Add": kind = .add
        case "Sub": kind = .sub
        case "Mul": kind = .mul
        case "Div": kind = .div
        default: kind = .prelu
        }
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let a = try inputs.required(0, node), b = try inputs.required(1, node)
        switch (a.storage, b.storage) {
        case (.float(let x), .float(let y)):
            let (shape, v): ([Int], [Float])
            switch kind {
            case .add: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node, +)
            case .sub: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node, -)
            case .mul: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node, *)
            case .div: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node, /)
            case .prelu: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node) { $0 >= 0 ? $0 : $0 * $1 }
            }
            return [Tensor(shape: shape, floats: v)]
        case (.int64(let x), .int64(let y)):
            let (shape, v): ([Int], [Int64])
            switch kind {
            case .add: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node, &+)
            case .sub: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node, &-)
            case .mul: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node, &*)
            case .div:
                (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node) { $1 == 0 ? 0 : $0 / $1 }
            case .prelu: (shape, v) = try broadcastBinary(x, a.shape, y, b.shape, node) { $0 >= 0 ? $0 : $0 &* $1 }
            }
            return [Tensor(shape: shape, int64s: v)]
        default:
            throw GraphError(node, "inputs are \(a.element.rawValue) and \(b.element.rawValue); they must match")
        }
    }
}
