import Dispatch

/// What an operator may know while it runs.
public struct ExecutionContext: Sendable {
    /// Threads kernels may use; results never depend on it.
    public var threads: Int

    public init(threads: Int) { self.threads = max(1, threads) }
}

/// One prepared node: attributes validated and constant inputs (weights) digested at load time.
protocol Operator: Sendable {
    /// Computes the node's outputs; `inputs[i]` is nil for an omitted optional input.
    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor]
}

/// What a factory sees when it prepares a node.
struct OperatorSetup {
    let node: NodeSpec
    /// The ai.onnx opset the model imports.
    let opset: Int
    /// The value of an input that is a constant (initializer or folded), if it is one.
    let constant: (String) -> Tensor?

    func constantInput(_ index: Int) -> Tensor? {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
        return constant(node.inputs[index])
    }
}

extension Array where Element == Tensor? {
    /// Input `index`, or a GraphError naming the node when it is missing.
    func required(_ index: Int, _ node: NodeSpec) throws -> Tensor {
        guard index < count, let t = self[index] else { throw GraphError(node, "input \(index + 1) is missing") }
        return t
    }

    func floats(_ index: Int, _ node: NodeSpec) throws -> (tensor: Tensor, values: [Float]) {
        let t = try required(index, node)
        guard let v = t.floats else { throw GraphError(node, "input \(index + 1) must be float32, not \(t.element.rawValue)") }
        return (t, v)
    }
}

/// Resolves a possibly negative axis against a rank.
func normalizedAxis(_ axis: Int, rank: Int, _ node: NodeSpec) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < max(rank, 1) else { throw GraphError(node, "axis \(axis) is out of range for rank \(rank)") }
    return a
}

/// Runs `body` over 0..<count split into contiguous chunks on up to `threads` workers (inline for one).
/// Each index is computed by exactly one worker, so results never depend on the split.
func parallelChunks(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    parallelChunks(of: 0..<count, threads: threads) { chunk, _ in body(chunk) }
}

/// `parallelChunks` over `range`, telling `body` also which worker (0..<threads) runs the chunk, for
/// memory of its own.
func parallelChunks(of range: Range<Int>, threads: Int, _ body: (Range<Int>, Int) -> Void) {
    let workers = max(1, min(threads, range.count))
    guard workers > 1 else {
        if !range.isEmpty { body(range, 0) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        let start = range.lowerBound + range.count * w / workers, end = range.lowerBound + range.count * (w + 1) / workers
        if start < end { body(start..<end, w) }
    }
}
