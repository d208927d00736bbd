import Foundation

/// Decodes onnx.proto messages (field numbers as of ONNX 1.16, IR 3 to 10) into the ONNX value types.
/// Unknown fields are skipped, as protobuf requires; malformed ones throw a `ModelError` naming `source`.
struct ONNXDecoder {
    let bytes: [UInt8]
    /// Where external tensor data lives; nil when the bytes did not come from a file.
    let baseDirectory: String?
    /// The file (or name) errors are reported against.
    let source: String

    func model() throws -> ONNXModel {
        try protobufErrorsNamed {
            var reader = ProtobufReader(bytes: bytes, message: "ModelProto")
            var model = ONNXModel(source: source)
            var sawGraph = false
            while let (field, wire) = try reader.nextField() {
                switch field {
                case 1: model.irVersion = Int(try reader.int64(wire))
                case 2: model.producerName = try reader.string(wire)
                case 3: model.producerVersion = try reader.string(wire)
                case 7:
                    var sub = try reader.message(wire, "GraphProto")
                    model.graph = try graph(&sub)
                    sawGraph = true
                case 8:
                    var sub = try reader.message(wire, "OperatorSetIdProto")
                    var domain = ""
                    var version: Int64 = 0
                    while let (f, w) = try sub.nextField() {
                        switch f {
                        case 1: domain = try sub.string(w)
                        case 2: version = try sub.int64(w)
                        default: try sub.skip(w)
                        }
                    }
                    model.opsetImports[ONNXDecoder.canonicalDomain(domain)] = Int(version)
                case 14:
                    let (key, value) = try stringPair(&reader, wire)
                    model.metadata[key] = value
                default: try reader.skip(wire)
                }
            }
            guard sawGraph else { throw fail("not an ONNX model (no graph)") }
            return model
        }
    }

    func standaloneTensor() throws -> ONNXTensor {
        try protobufErrorsNamed {
            var reader = ProtobufReader(bytes: bytes, message: "TensorProto")
            return try tensor(&reader)
        }
    }

    /// ONNX writes the default domain as "" or "ai.onnx"; tilerun uses "".
    static func canonicalDomain(_ domain: String) -> String { domain == "ai.onnx" ? "" : domain }

    private func fail(_ problem: String) -> ModelError { ModelError(path: source, problem: problem) }

    private func protobufErrorsNamed<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ProtobufError {
            throw fail(error.description)
        }
    }

    private func stringPair(_ reader: inout ProtobufReader, _ wire: ProtobufWireType) throws -> (String, String) {
        var sub = try reader.message(wire, "StringStringEntryProto")
        var key = "", value = ""
        while let (f, w) = try sub.nextField() {
            switch f {
            case 1: key = try sub.string(w)
            case 2: value = try sub.string(w)
            default: try sub.skip(w)
            }
        }
        return (key, value)
    }

    // MARK: Graph, node, attribute, value info

    private func graph(_ reader: inout ProtobufReader) throws -> ONNXGraph {
        var graph = ONNXGraph()
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                var sub = try reader.message(wire, "NodeProto")
                graph.nodes.append(try node(&sub))
            case 2: graph.name = try reader.string(wire)
            case 5:
                var sub = try reader.message(wire, "TensorProto")
                graph.initializers.append(try tensor(&sub))
            case 11: graph.inputs.append(try valueInfo(&reader, wire))
            case 12: graph.outputs.append(try valueInfo(&reader, wire))
            case 13: graph.valueInfo.append(try valueInfo(&reader, wire))
            case 15: throw fail("sparse initializers are not supported; store them as dense initializers")
            default: try reader.skip(wire)
            }
        }
        return graph
    }

    private func node(_ reader: inout ProtobufReader) throws -> ONNXNode {
        var node = ONNXNode()
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: node.inputs.append(try reader.string(wire))
            case 2: node.outputs.append(try reader.string(wire))
            case 3: node.name = try reader.string(wire)
            case 4: node.opType = try reader.string(wire)
            case 5:
                var sub = try reader.message(wire, "AttributeProto")
                let (name, value) = try attribute(&sub)
                node.attributes[name] = value
            case 7: node.domain = ONNXDecoder.canonicalDomain(try reader.string(wire))
            default: try reader.skip(wire)
            }
        }
        return node
    }

    private func attribute(_ reader: inout ProtobufReader) throws -> (String, ONNXAttribute) {
        var name = "", type: Int32 = 0, referenceName: String?
        var f: Float?, i: Int64?, s: String?, t: ONNXTensor?, g: ONNXGraph?
        var floats: [Float] = [], ints: [Int64] = [], strings: [String] = []
        var tensors: [ONNXTensor] = [], graphs: [ONNXGraph] = []
        var unsupported: String?
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: name = try reader.string(wire)
            case 2: f = try reader.float(wire)
            case 3: i = try reader.int64(wire)
            case 4: s = try reader.string(wire)
            case 5:
                var sub = try reader.message(wire, "TensorProto")
                t = try tensor(&sub)
            case 6:
                var sub = try reader.message(wire, "GraphProto")
                g = try graph(&sub)
            case 7: try reader.appendFloats(wire, to: &floats)
            case 8: try reader.appendInt64s(wire, to: &ints)
            case 9: strings.append(try reader.string(wire))
            case 10:
                var sub = try reader.message(wire, "TensorProto")
                tensors.append(try tensor(&sub))
            case 11:
                var sub = try reader.message(wire, "GraphProto")
                graphs.append(try graph(&sub))
            case 14, 15:
                unsupported = "type proto"
                try reader.skip(wire)
            case 20: type = try reader.int32(wire)
            case 21: referenceName = try reader.string(wire)
            case 22, 23:
                unsupported = "sparse tensor"
                try reader.skip(wire)
            default: try reader.skip(wire)
            }
        }
        if let referenceName {
            return (name, .unsupported("reference to function attribute '\(referenceName)'"))
        }
        if type == 0 {
            // Before IR 2 the type was implied by the one value field set.
            let implied: [(set: Bool, type: Int32)] = [
                (f != nil, 1), (i != nil, 2), (s != nil, 3), (t != nil, 4), (g != nil, 5), (!floats.isEmpty, 6),
                (!ints.isEmpty, 7), (!strings.isEmpty, 8), (!tensors.isEmpty, 9), (!graphs.isEmpty, 10),
            ]
            if let first = implied.first(where: { $0.set }) {
                type = first.type
            } else if let unsupported {
                return (name, .unsupported(unsupported))
            } else {
                throw fail("attribute '\(name)' has neither a type nor a value")
            }
        }
        switch type {
        case 1: return (name, .float(f ?? 0))
        case 2: return (name, .int(Int(i ?? 0)))
        case 3: return (name, .string(s ?? ""))
        case 4:
            guard let t else { throw fail("attribute '\(name)' of type TENSOR has no tensor") }
            return (name, .tensor(t))
        case 5:
            guard let g else { throw fail("attribute '\(name)' of type GRAPH has no graph") }
            return (name, .graph(g))
        case 6: return (name, .floats(floats))
        case 7: return (name, .ints(ints.map { Int($0) }))
        case 8: return (name, .strings(strings))
        case 9: return (name, .tensors(tensors))
        case 10: return (name, .graphs(graphs))
        case 11, 12: return (name, .unsupported("sparse tensor"))
        case 13, 14: return (name, .unsupported("type proto"))
        default: throw fail("attribute '\(name)' has unknown type \(type)")
        }
    }

    private func valueInfo(_ outer: inout ProtobufReader, _ outerWire: ProtobufWireType) throws -> ONNXValueInfo {
        var reader = try outer.message(outerWire, "ValueInfoProto")
        var info = ONNXValueInfo()
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: info.name = try reader.string(wire)
            case 2:
                var type = try reader.message(wire, "TypeProto")
                while let (f, w) = try type.nextField() {
                    switch f {
                    case 1, 8:
                        info.kind = f == 1 ? .tensor : .sparseTensor
                        var sub = try type.message(w, f == 1 ? "TypeProto.Tensor" : "TypeProto.SparseTensor")
                        try tensorType(&sub, into: &info)
                    case 4: info.kind = .sequence; try type.skip(w)
                    case 5: info.kind = .map; try type.skip(w)
                    case 7: info.kind = .opaque; try type.skip(w)
                    case 9: info.kind = .optional; try type.skip(w)
                    default: try type.skip(w)
                    }
                }
            default: try reader.skip(wire)
            }
        }
        return info
    }

    private func tensorType(_ reader: inout ProtobufReader, into info: inout ONNXValueInfo) throws {
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: info.elemType = ONNXDataType(rawValue: Int(try reader.int32(wire)))
            case 2:
                var shape = try reader.message(wire, "TensorShapeProto")
                var dims: [ONNXDimension] = []
                while let (f, w) = try shape.nextField() {
                    guard f == 1 else { try shape.skip(w); continue }
                    var dim = try shape.message(w, "TensorShapeProto.Dimension")
                    var value = ONNXDimension.unknown
                    while let (df, dw) = try dim.nextField() {
                        switch df {
                        case 1:
                            let v = try dim.int64(dw)
                            value = v >= 0 ? .value(Int(v)) : .unknown
                        case 2:
                            let name = try dim.string(dw)
                            value = name.isEmpty ? .unknown : .parameter(name)
                        default: try dim.skip(dw)
                        }
                    }
                    dims.append(value)
                }
                info.shape = dims
            default: try reader.skip(wire)
            }
        }
    }

    // MARK: Tensors

    /// The fields of a TensorProto as read, before the values are decoded.
    private struct TensorFields {
        var name = ""
        var dims: [Int64] = []
        var dataType: Int32 = 0
        var raw: Range<Int>?
        var floats: [Float] = []
        var int32s: [Int32] = []
        var int64s: [Int64] = []
        var doubles: [Double] = []
        var uint64s: [UInt64] = []
        var strings: [String] = []
        var external: [String: String] = [:]
        var isExternal = false
        var isSegment = false
    }

    private func tensor(_ reader: inout ProtobufReader) throws -> ONNXTensor {
        var fields = TensorFields()
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: try reader.appendInt64s(wire, to: &fields.dims)
            case 2: fields.dataType = try reader.int32(wire)
            case 3:
                fields.isSegment = true
                try reader.skip(wire)
            case 4: try reader.appendFloats(wire, to: &fields.floats)
            case 5: try reader.appendInt32s(wire, to: &fields.int32s)
            case 6: fields.strings.append(try reader.string(wire))
            case 7: try reader.appendInt64s(wire, to: &fields.int64s)
            case 8: fields.name = try reader.string(wire)
            case 9: fields.raw = try reader.bytesRange(wire)
            case 10: try reader.appendDoubles(wire, to: &fields.doubles)
            case 11: try reader.appendUInt64s(wire, to: &fields.uint64s)
            case 13:
                let (key, value) = try stringPair(&reader, wire)
                fields.external[key] = value
            case 14: fields.isExternal = try reader.int32(wire) == 1
            default: try reader.skip(wire)
            }
        }
        return try decode(fields)
    }

    private func decode(_ fields: TensorFields) throws -> ONNXTensor {
        let named = fields.name.isEmpty ? "unnamed tensor" : "tensor '\(fields.name)'"
        guard fields.dataType != 0 else { throw fail("\(named) has no data type") }
        guard let type = ONNXDataType(rawValue: Int(fields.dataType)) else {
            throw fail("\(named) has unknown data type \(fields.dataType)")
        }
        var count = 1
        for dim in fields.dims {
            guard dim >= 0 else { throw fail("\(named) has negative dimension \(dim)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow else { throw fail("\(named) has too many elements (dims \(fields.dims))") }
            count = product
        }
        let dims = fields.dims.map { Int($0) }
        let label = "\(named) (\(type) \(dims))"
        guard !fields.isSegment else { throw fail("\(label) is one segment of a larger tensor, which is not supported") }
        let storage: ONNXTensor.Storage
        if fields.isExternal {
            let data = try externalData(fields.external, label: label)
            storage = try data.withUnsafeBytes { try decodeRaw($0, type: type, count: count, label: label) }
        } else if let range = fields.raw {
            storage = try bytes.withUnsafeBytes {
                try decodeRaw(UnsafeRawBufferPointer(rebasing: $0[range]), type: type, count: count, label: label)
            }
        } else {
            storage = try decodeTyped(fields, type: type, count: count, label: label)
        }
        return ONNXTensor(name: fields.name, dataType: type, dims: dims, storage: storage)
    }

    /// Values from the type-specific repeated fields, which must hold exactly `count` elements.
    private func decodeTyped(_ fields: TensorFields, type: ONNXDataType, count: Int, label: String) throws
        -> ONNXTensor.Storage {
        func checked<T>(_ values: [T], _ fieldName: String, perElement: Int = 1, elements: Int? = nil) throws -> [T] {
            let expected = elements ?? count * perElement
            guard values.count == expected else {
                throw fail("\(label): \(values.count) values in \(fieldName), \(expected) expected")
            }
            return values
        }
        switch type {
        case .float: return .float(try checked(fields.floats, "float_data"))
        case .complex64: return .complex64(try checked(fields.floats, "float_data", perElement: 2))
        case .double: return .double(try checked(fields.doubles, "double_data"))
        case .complex128: return .complex128(try checked(fields.doubles, "double_data", perElement: 2))
        case .int64: return .int64(try checked(fields.int64s, "int64_data"))
        case .uint64: return .uint64(try checked(fields.uint64s, "uint64_data"))
        case .uint32: return .uint32(try checked(fields.uint64s, "uint64_data").map { UInt32(truncatingIfNeeded: $0) })
        case .string: return .string(try checked(fields.strings, "string_data"))
        default: break
        }
        // Every other type travels in int32_data: one element per entry, except 4-bit and 2-bit types
        // whose entries hold one packed byte each.
        let int32s = fields.int32s
        switch type {
        case .int32: return .int32(try checked(int32s, "int32_data"))
        case .int16: return .int16(try checked(int32s, "int32_data").map { Int16(truncatingIfNeeded: $0) })
        case .int8: return .int8(try checked(int32s, "int32_data").map { Int8(truncatingIfNeeded: $0) })
        case .uint16: return .uint16(try checked(int32s, "int32_data").map { UInt16(truncatingIfNeeded: $0) })
        case .uint8: return .uint8(try checked(int32s, "int32_data").map { UInt8(truncatingIfNeeded: $0) })
        case .bool: return .bool(try checked(int32s, "int32_data").map { $0 != 0 })
        case .float16: return .float16(try checked(int32s, "int32_data").map { UInt16(truncatingIfNeeded: $0) })
        case .bfloat16: return .bfloat16(try checked(int32s, "int32_data").map { UInt16(truncatingIfNeeded: $0) })
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            return .codes(try checked(int32s, "int32_data").map { UInt8(truncatingIfNeeded: $0) })
        case .float6e2m3, .float6e3m2:
            return .codes(try checked(int32s, "int32_data").map { UInt8(truncatingIfNeeded: $0) & 0x3F })
        default:
            let bits = type.bitWidth ?? 8
            let perEntry = 8 / bits
            let entries = try checked(int32s, "int32_data", elements: (count + perEntry - 1) / perEntry)
            let packed = entries.map { UInt8(truncatingIfNeeded: $0) }
            return .codes(packed.withUnsafeBytes { ONNXDecoder.unpack($0, bits: bits, count: count) })
        }
    }

    /// Values from little-endian raw bytes (raw_data or an external file), which must be exactly
    /// the size `count` elements take.
    private func decodeRaw(_ raw: UnsafeRawBufferPointer, type: ONNXDataType, count: Int, label: String) throws
        -> ONNXTensor.Storage {
        guard let bits = type.bitWidth else { throw fail("\(label): STRING tensors cannot be stored as raw data") }
        let (totalBits, overflow) = count.multipliedReportingOverflow(by: bits)
        guard !overflow else { throw fail("\(label): too many elements") }
        let expected = totalBits / 8 + (totalBits % 8 == 0 ? 0 : 1)
        guard raw.count == expected else {
            throw fail("\(label): \(raw.count) bytes of data, \(expected) expected")
        }
        switch type {
        case .float: return .float(ONNXDecoder.copy(raw, count))
        case .double: return .double(ONNXDecoder.copy(raw, count))
        case .float16: return .float16(ONNXDecoder.copy(raw, count))
        case .bfloat16: return .bfloat16(ONNXDecoder.copy(raw, count))
        case .int8: return .int8(ONNXDecoder.copy(raw, count))
        case .int16: return .int16(ONNXDecoder.copy(raw, count))
        case .int32: return .int32(ONNXDecoder.copy(raw, count))
        case .int64: return .int64(ONNXDecoder.copy(raw, count))
        case .uint8: return .uint8(ONNXDecoder.copy(raw, count))
        case .uint16: return .uint16(ONNXDecoder.copy(raw, count))
        case .uint32: return .uint32(ONNXDecoder.copy(raw, count))
        case .uint64: return .uint64(ONNXDecoder.copy(raw, count))
        case .complex64: return .complex64(ONNXDecoder.copy(raw, 2 * count))
        case .complex128: return .complex128(ONNXDecoder.copy(raw, 2 * count))
        case .bool: return .bool(raw.map { $0 != 0 })
        case .string: throw fail("\(label): STRING tensors cannot be stored as raw data")
        default: return .codes(ONNXDecoder.unpack(raw, bits: bits, count: count))
        }
    }

    #if !_endian(little)
    #error("raw tensor data is copied as little-endian bytes; big-endian hosts are not supported")
    #endif

    /// `count` values of a fixed-width numeric type copied from `raw`, whose size the caller checked.
    private static func copy<T>(_ raw: UnsafeRawBufferPointer, _ count: Int) -> [T] {
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw) }
            initialized = count
        }
    }

    /// Elements of `bits` bits (at most 8) from an LSB-first bitstream, one per byte.
    private static func unpack(_ raw: UnsafeRawBufferPointer, bits: Int, count: Int) -> [UInt8] {
        if bits == 8 { return [UInt8](raw.prefix(count)) }
        let mask = UInt16(1 << bits - 1)
        return (0..<count).map { index in
            let bit = index * bits
            let low = UInt16(raw[bit / 8])
            let high = bit / 8 + 1 < raw.count ? UInt16(raw[bit / 8 + 1]) : 0
            return UInt8(((low | high << 8) >> UInt16(bit % 8)) & mask)
        }
    }

    // MARK: External data

    /// The bytes an external-data tensor points at, after checking that the file stays inside the
    /// model's folder and that offset and length lie within it.
    private func externalData(_ entries: [String: String], label: String) throws -> Data {
        guard let location = entries["location"], !location.isEmpty else {
            throw fail("\(label): external data without a location")
        }
        guard let baseDirectory else {
            throw fail("\(label): external data '\(location)' needs the model's folder, and the model is not from a file")
        }
        let components = location.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        guard !location.hasPrefix("/"), !location.hasPrefix("\\"), !components.contains("..") else {
            throw fail("\(label): external data '\(location)' escapes the model folder")
        }
        let folder = URL(fileURLWithPath: baseDirectory).standardized.resolvingSymlinksInPath()
        let file = folder.appendingPathComponent(location).standardized.resolvingSymlinksInPath()
        // A symbolic link inside the folder may still point out of it.
        guard file.path.hasPrefix(folder.path.hasSuffix("/") ? folder.path : folder.path + "/") else {
            throw fail("\(label): external data '\(location)' escapes the model folder")
        }
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        } catch {
            throw fail("\(label): external data file '\(location)' not found")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular,
              let size = (attributes[.size] as? NSNumber)?.intValue else {
            throw fail("\(label): external data '\(location)' is not a regular file")
        }
        func number(_ key: String) throws -> Int? {
            guard let text = entries[key] else { return nil }
            guard let value = Int(text), value >= 0 else {
                throw fail("\(label): external data \(key) '\(text)' is not a byte count")
            }
            return value
        }
        let offset = try number("offset") ?? 0
        guard offset <= size else {
            throw fail("\(label): external data offset \(offset) is past the end of '\(location)' (\(size) bytes)")
        }
        let length = try number("length") ?? (size - offset)
        guard length <= size - offset else {
            let place = "offset \(offset) + length \(length)"
            throw fail("\(label): external data \(place) is past the end of '\(location)' (\(size) bytes)")
        }
        do {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: length) ?? Data()
            guard data.count == length else {
                throw fail("\(label): external data '\(location)' ended after \(data.count) of \(length) bytes")
            }
            return data
        } catch let error as ModelError {
            throw error
        } catch {
            throw fail("\(label): external data '\(location)' cannot be read (\(error.localizedDescription))")
        }
    }
}
