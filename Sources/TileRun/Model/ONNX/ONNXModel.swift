import Foundation

/// An ONNX model file (ModelProto, IR versions 3 to 10 and later), decoded into plain values.
///
/// Only what tilerun runs is kept: the main graph, opset imports, producer and metadata. Doc strings,
/// training information and model-local functions are skipped; a node that calls a local function
/// is then an unknown operator to the runtime.
public struct ONNXModel: Equatable, Sendable {
    /// The file the model came from, or the source name given to `init(bytes:baseDirectory:source:)`.
    public var source: String
    public var irVersion: Int
    /// Opset version per operator domain; "" is the default ai.onnx domain ("ai.onnx" is folded into it).
    public var opsetImports: [String: Int]
    public var producerName: String
    public var producerVersion: String
    public var graph: ONNXGraph
    /// The model's metadata_props, as stored; see `ModelMetadata` for tilerun's reading of them.
    public var metadata: [String: String]

    /// Reads and decodes `path`; external tensor data is resolved relative to the file's folder.
    /// Throws a `ModelError` naming the file and the problem.
    public static func load(path: String) throws -> ONNXModel {
        let bytes = try ONNXFile.read(path)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try ONNXModel(bytes: bytes, baseDirectory: folder, source: path)
    }

    /// Decodes a serialized ModelProto. External tensor data is read relative to `baseDirectory`,
    /// and refused when it is nil. Errors name `source`.
    public init(bytes: [UInt8], baseDirectory: String? = nil, source: String = "model") throws {
        self = try ONNXDecoder(bytes: bytes, baseDirectory: baseDirectory, source: source).model()
    }

    init(source: String) {
        self.source = source
        irVersion = 0
        opsetImports = [:]
        producerName = ""
        producerVersion = ""
        graph = ONNXGraph()
        metadata = [:]
    }

    /// The ai.onnx opset version the model imports, if it does.
    public var defaultOpset: Int? { opsetImports[""] }

    /// tilerun's reading of `metadata`; throws a `ModelError` naming the model and the key at fault.
    public func modelMetadata() throws -> ModelMetadata {
        try ModelMetadata(properties: metadata, source: source)
    }
}

/// A computation graph (GraphProto): nodes in topological order and the values they exchange.
public struct ONNXGraph: Equatable, Sendable {
    public var name = ""
    public var nodes: [ONNXNode] = []
    /// Constant tensors: weights, biases and constant shapes.
    public var initializers: [ONNXTensor] = []
    /// Graph inputs; in IR before 4 initializers may be listed here too, as optional inputs.
    public var inputs: [ONNXValueInfo] = []
    public var outputs: [ONNXValueInfo] = []
    /// Types and shapes of intermediate values, where the producer recorded them.
    public var valueInfo: [ONNXValueInfo] = []

    public init() {}
}

/// One operator invocation (NodeProto).
public struct ONNXNode: Equatable, Sendable {
    public var name = ""
    public var opType = ""
    /// The operator's domain; "" is ai.onnx ("ai.onnx" is folded into it).
    public var domain = ""
    /// Input value names in order; "" marks an omitted optional input.
    public var inputs: [String] = []
    public var outputs: [String] = []
    public var attributes: [String: ONNXAttribute] = [:]

    public init() {}
}

/// An attribute value (AttributeProto), by its declared type.
public enum ONNXAttribute: Equatable, Sendable {
    case float(Float)
    case int(Int)
    case string(String)
    case tensor(ONNXTensor)
    /// A subgraph (If, Loop, Scan bodies): decoded, but operators may refuse it.
    case graph(ONNXGraph)
    case floats([Float])
    case ints([Int])
    case strings([String])
    case tensors([ONNXTensor])
    case graphs([ONNXGraph])
    /// A kind tilerun does not decode (sparse tensors, type protos), named so an operator can refuse it.
    case unsupported(String)
}

/// The declared type and shape of a graph input, output or intermediate value (ValueInfoProto).
public struct ONNXValueInfo: Equatable, Sendable {
    /// What kind of value this is; tilerun runs tensors only.
    public enum Kind: String, Sendable {
        case tensor
        case sparseTensor = "sparse tensor"
        case sequence, map, optional, opaque
        /// No type recorded.
        case unspecified
    }

    public var name = ""
    public var kind = Kind.unspecified
    /// The element type of a tensor or sparse tensor; nil when unset or unknown.
    public var elemType: ONNXDataType?
    /// The shape of a tensor or sparse tensor; nil when the rank is unknown, [] for a scalar.
    public var shape: [ONNXDimension]?

    public init() {}
}

/// One dimension of a declared shape.
public enum ONNXDimension: Equatable, Hashable, Sendable {
    case value(Int)
    /// A symbolic size such as "batch" or "height", shared by every dimension with the same name.
    case parameter(String)
    /// Neither given (negative values, which some exporters write for "unknown", read as this too).
    case unknown
}

/// Reading whole model and tensor files, with one-line errors.
enum ONNXFile {
    /// Protobuf messages cannot exceed 2 GiB; larger models keep their weights as external data.
    static let maxBytes = Int(Int32.max)

    static func read(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError(path: path, problem: "no such file")
        }
        guard !isDirectory.boolValue else { throw ModelError(path: path, problem: "is a directory, not an ONNX file") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw ModelError(path: path, problem: "cannot be read (\(error.localizedDescription))")
        }
        guard data.count <= maxBytes else {
            throw ModelError(path: path, problem: "\(data.count) bytes is over protobuf's 2 GiB limit")
        }
        return [UInt8](data)
    }
}
