/// An attribute value of a graph node, in the runtime's own terms.
public enum AttributeValue: Sendable, Equatable {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case tensor(Tensor)
    /// Subgraphs (If, Loop, Scan) are recognized but no supported operator takes one.
    case graph
}

/// One node of the graph: what operator, which values in and out, and its attributes.
public struct NodeSpec: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    /// Input value names; "" marks an omitted optional input.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: AttributeValue]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: AttributeValue] = [:]) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// "node 'conv1' (Conv)", for messages.
    public var label: String { "node '\(name.isEmpty ? outputs.first ?? "?" : name)' (\(opType))" }

    func int(_ key: String) throws -> Int? {
        guard let value = attributes[key] else { return nil }
        guard case .int(let v) = value else { throw GraphError(self, "attribute '\(key)' must be an int") }
        return v
    }

    func int(_ key: String, default fallback: Int) throws -> Int { try int(key) ?? fallback }

    func float(_ key: String, default fallback: Float) throws -> Float {
        guard let value = attributes[key] else { return fallback }
        switch value {
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw GraphError(self, "attribute '\(key)' must be a float")
        }
    }

    func string(_ key: String, default fallback: String) throws -> String {
        guard let value = attributes[key] else { return fallback }
        guard case .string(let v) = value else { throw GraphError(self, "attribute '\(key)' must be a string") }
        return v
    }

    func ints(_ key: String) throws -> [Int]? {
        guard let value = attributes[key] else { return nil }
        switch value {
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw GraphError(self, "attribute '\(key)' must be a list of ints")
        }
    }

    func floats(_ key: String) throws -> [Float]? {
        guard let value = attributes[key] else { return nil }
        switch value {
        case .floats(let v): return v
        case .float(let v): return [v]
        default: throw GraphError(self, "attribute '\(key)' must be a list of floats")
        }
    }

    /// Refuses attributes this implementation does not know, so a model never runs with one ignored.
    func onlyAttributes(_ known: Set<String>) throws {
        for key in attributes.keys.sorted() where !known.contains(key) {
            throw GraphError(self, "unsupported attribute '\(key)'")
        }
    }
}

/// A problem with a graph or one of its nodes: one line naming the node, the operator and what is wrong.
public struct GraphError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ node: NodeSpec, _ problem: String) {
        description = "\(node.label): \(problem)"
    }

    init(_ message: String) {
        description = message
    }
}
