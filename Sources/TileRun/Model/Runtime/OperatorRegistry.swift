import TileRunKernels

/// Every operator the runtime implements, by ONNX op type. An op type not listed here is refused
/// at load time with the node's name, never mid-batch.
enum OperatorRegistry {
    static let supported: Set<String> = [
        "Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid",
        "HardSigmoid", "HardSwish", "Tanh", "Softmax", "Add", "Sub", "Mul", "Div", "MaxPool", "AveragePool",
        "GlobalAveragePool", "Resize", "Upsample", "Concat", "Split", "Slice", "Pad", "Transpose", "Reshape",
        "Flatten", "Squeeze", "Unsqueeze", "Shape", "Gather", "Constant", "ConstantOfShape", "Identity", "Cast",
        "ReduceMean", "MatMul", "Gemm", "ArgMax",
    ]

    static func make(_ setup: OperatorSetup) throws -> Operator {
        let node = setup.node
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw GraphError(node, "operator domain '\(node.domain)' is not supported")
        }
        switch node.opType {
        case "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh": return try UnaryOperator.make(setup)
        case "Clip": return try ClipOperator(setup)
        case "Identity": return IdentityOperator(node: node)
        case "Cast": return try CastOperator(setup)
        case "Add", "Sub", "Mul", "Div", "PRelu": return try BinaryOperator(setup)
        case "Conv": return try ConvOperator(setup)
        case "ConvTranspose": return try ConvTransposeOperator(setup)
        case "BatchNormalization": return try BatchNormOperator(setup)
        case "MaxPool", "AveragePool", "GlobalAveragePool": return try PoolOperator(setup)
        case "Resize", "Upsample": return try ResizeOperator(setup)
        case "Concat": return try ConcatOperator(setup)
        case "Split": return try SplitOperator(setup)
        case "Slice": return try SliceOperator(setup)
        case "Pad": return try PadOperator(setup)
        case "Transpose": return try TransposeOperator(setup)
        case "Reshape": return try ReshapeOperator(setup)
        case "Flatten": return try FlattenOperator(setup)
        case "Squeeze", "Unsqueeze": return try SqueezeOperator(setup)
        case "Shape": return try ShapeOperator(setup)
        case "Gather": return try GatherOperator(setup)
        case "Constant": return try ConstantOperator(setup)
        case "ConstantOfShape": return try ConstantOfShapeOperator(setup)
        case "ReduceMean": return try ReduceMeanOperator(setup)
        case "MatMul": return try MatMulOperator(setup)
        case "Gemm": return try GemmOperator(setup)
        case "ArgMax": return try ArgMaxOperator(setup)
        case "Softmax": return try SoftmaxOperator(setup)
        default: throw GraphError(node, "operator \(node.opType) is not supported")
        }
    }

    /// The activation a Conv can apply in its epilogue in place of this node, if any.
    static func fusableActivation(_ setup: OperatorSetup) throws -> FusedActivation? {
        let node = setup.node
        switch node.opType {
        case "Relu": return .relu
        case "LeakyRelu": return .leakyRelu(alpha: try node.float("alpha", default: 0.01))
        case "Sigmoid": return .sigmoid
        case "HardSigmoid": return .hardSigmoid(alpha: try node.float("alpha", default: 0.2), beta: try node.float("beta", default: 0.5))
        case "HardSwish": return .hardSwish
        case "Tanh": return .tanh
        case "Clip":
            if setup.opset < 11 {
                return .clip(min: try node.float("min", default: -.infinity), max: try node.float("max", default: .infinity))
            }
            // Bounds must be constants to be fused.
            let lo = node.inputs.count > 1 && !node.inputs[1].isEmpty ? setup.constantInput(1)?.floatValues.first : -.infinity
            let hi = node.inputs.count > 2 && !node.inputs[2].isEmpty ? setup.constantInput(2)?.floatValues.first : .infinity
            guard let lo, let hi else { return nil }
            return .clip(min: lo, max: hi)
        default: return nil
        }
    }
}
