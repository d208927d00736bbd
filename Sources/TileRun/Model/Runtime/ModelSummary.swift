import Foundation

/// What `tilerun model info` reports about a model.
public struct ModelSummary: Codable, Sendable {
    public struct Value: Codable, Sendable {
        public var name: String
        public var type: String
        /// Dimensions: numbers, or names for symbolic sizes ("N", "H"), "?" when unknown.
        public var shape: [String]
    }

    public struct ModelClassInfo: Codable, Sendable {
        public var value: Int
        public var name: String
        public var color: String?
    }

    public var path: String
    public var producer: String
    public var irVersion: Int
    public var opset: Int
    public var inputs: [Value]
    public var outputs: [Value]
    /// Operator types with their node counts, as exported (before folding and fusion).
    public var operators: [String: Int]
    public var parameters: Int
    public var tileSize: Int
    public var gflopsPerTile: Double
    public var classes: [ModelClassInfo]?
    public var bands: [Int]?
    public var normalization: [String: [Double]]?
    public var preferredTileSize: Int?
    public var tileOverlapPixels: Int?
    public var inputKind: String?
    public var resolutionMetres: Double?
    public var metadata: [String: String]

    /// Loads the model, prepares it and runs it once on a zero tile of `tileSize` to count FLOPs.
    public init(path: String, tileSize requested: Int? = nil) throws {
        let model = try ONNXModel.load(path: path)
        let session = try InferenceSession(model: model)
        let meta = try model.modelMetadata()
        func value(_ v: ONNXValueInfo) -> Value {
            let dims = (v.shape ?? []).map { d -> String in
                switch d {
                case .value(let n): return String(n)
                case .parameter(let s): return s
                case .unknown: return "?"
                }
            }
            return Value(name: v.name, type: v.elemType.map { "\($0)" } ?? "?", shape: dims)
        }
        self.path = path
        producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        irVersion = model.irVersion
        opset = session.opset
        inputs = session.inputs.map(value)
        outputs = model.graph.outputs.map(value)
        operators = model.graph.nodes.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
        parameters = session.parameterCount
        let tile = requested ?? meta.tileSize ?? 512
        tileSize = tile
        var flops = 0.0
        if let input = session.inputs.first {
            var channels = 3
            if let dims = input.shape, dims.count == 4, case .value(let c) = dims[1] { channels = c }
            let x = Tensor(zeros: [1, channels, tile, tile])
            _ = try session.run([input.name: x]) { node, ins, outs in
                flops += FlopCounter.flops(of: node, inputs: ins, outputs: outs)
            }
        }
        gflopsPerTile = flops / 1e9
        classes = meta.classes?.map { c in
            ModelClassInfo(value: c.value, name: c.name,
                           color: c.color.map { String(format: "#%02X%02X%02X", $0.red, $0.green, $0.blue) })
        }
        bands = meta.bands
        if let n = meta.normalization { normalization = ["scale": [n.scale], "mean": n.mean, "std": n.std] }
        preferredTileSize = meta.tileSize
        tileOverlapPixels = meta.tileOverlap?.pixels(tileSize: tile)
        inputKind = meta.inputKind?.rawValue
        resolutionMetres = meta.resolutionMeters
        metadata = meta.raw
    }

    public var text: String {
        func shape(_ v: Value) -> String { "\(v.name): \(v.type) [\(v.shape.joined(separator: ", "))]" }
        var lines = [path]
        lines.append("  Producer: \(producer.isEmpty ? "unknown" : producer); IR version \(irVersion); opset \(opset)")
        lines += inputs.map { "  Input  " + shape($0) }
        lines += outputs.map { "  Output " + shape($0) }
        lines.append("  Operators: " + operators.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", "))
        lines.append("  Parameters: \(parameters)")
        lines.append(String(format: "  FLOPs per %d×%d tile: %.2f GFLOP", tileSize, tileSize, gflopsPerTile))
        if let classes {
            lines.append("  Classes: " + classes.map { "\($0.value) \($0.name)\($0.color.map { " \($0)" } ?? "")" }.joined(separator: ", "))
        }
        if let bands { lines.append("  Bands: \(bands.map(String.init).joined(separator: ","))") }
        if let n = normalization {
            lines.append("  Normalization: scale \(n["scale"]![0]), mean \(n["mean"]!), std \(n["std"]!)")
        }
        if let t = preferredTileSize { lines.append("  Preferred tile: \(t)" + (tileOverlapPixels.map { ", overlap \($0) px" } ?? "")) }
        if let k = inputKind { lines.append("  Input kind: \(k)") }
        if let r = resolutionMetres { lines.append("  Resolution: \(r) m/px") }
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            lines.append("  Metadata \(k) = \(v.count > 120 ? String(v.prefix(117)) + "..." : v)")
        }
        return lines.joined(separator: "\n")
    }
}
