/// Element types the runtime computes with: float32 for activations and weights, int64 for shapes,
/// indices and axes (ONNX's shape subgraphs), bool for masks.
public enum TensorElement: String, Sendable {
    case float32, int64, bool
}

/// An n-dimensional array in row-major order. Values are copy-on-write arrays, so passing tensors
/// between operators is cheap and an operator never mutates another's input.
public struct Tensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case float([Float])
        case int64([Int64])
        case bool([Bool])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) values")
        self.shape = shape
        storage = .float(floats)
    }

    public init(shape: [Int], int64s: [Int64]) {
        precondition(shape.reduce(1, *) == int64s.count, "shape \(shape) does not hold \(int64s.count) values")
        self.shape = shape
        storage = .int64(int64s)
    }

    public init(shape: [Int], bools: [Bool]) {
        precondition(shape.reduce(1, *) == bools.count, "shape \(shape) does not hold \(bools.count) values")
        self.shape = shape
        storage = .bool(bools)
    }

    /// A float tensor whose every value `fill` writes: no zero-filling pass over memory the operator
    /// overwrites anyway.
    init(shape: [Int], filling fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        self.shape = shape
        storage = .float(try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try fill(buffer)
            initialized = count
        })
    }

    /// A zero-filled float tensor.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, floats: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var element: TensorElement {
        switch storage {
        case .float: return .float32
        case .int64: return .int64
        case .bool: return .bool
        }
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    /// The float values; nil for other element types.
    public var floats: [Float]? { if case .float(let v) = storage { return v } else { return nil } }
    public var int64s: [Int64]? { if case .int64(let v) = storage { return v } else { return nil } }
    public var bools: [Bool]? { if case .bool(let v) = storage { return v } else { return nil } }

    /// Values as Int64 whatever the element type (for shape, axes and index inputs).
    public var integerValues: [Int64] {
        switch storage {
        case .int64(let v): return v
        case .float(let v): return v.map { Int64($0) }
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        }
    }

    /// Values as Float whatever the element type.
    public var floatValues: [Float] {
        switch storage {
        case .float(let v): return v
        case .int64(let v): return v.map { Float($0) }
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        }
    }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var t = self
        t.shape = newShape
        return t
    }
}

/// Row-major strides of a shape.
@inline(__always)
func strides(of shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        s[i] = acc
        acc *= shape[i]
    }
    return s
}

/// Steps a row-major multi-index to the next position within `shape` (last axis fastest).
@inline(__always)
func advance(_ counter: inout [Int], within shape: [Int]) {
    var d = shape.count - 1
    while d >= 0 {
        counter[d] += 1
        if counter[d] < shape[d] { return }
        counter[d] = 0
        d -= 1
    }
}
