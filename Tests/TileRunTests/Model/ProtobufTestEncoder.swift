import Foundation

/// Hand-encodes protobuf messages, so the ONNX tests can build their model files without Python.
struct ProtobufTestEncoder {
    private(set) var bytes: [UInt8] = []

    static func varintBytes(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    mutating func tag(_ field: Int, _ wireType: UInt8) {
        bytes += ProtobufTestEncoder.varintBytes(UInt64(field) << 3 | UInt64(wireType))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        tag(field, 0)
        bytes += ProtobufTestEncoder.varintBytes(value)
    }

    /// int32, int64 and enums: negative values as 10-byte two's complement, as protobuf writes them.
    mutating func int(_ field: Int, _ value: Int64) { varint(field, UInt64(bitPattern: value)) }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        tag(field, 5)
        bytes += withUnsafeBytes(of: value.littleEndian, Array.init)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, 1)
        bytes += withUnsafeBytes(of: value.littleEndian, Array.init)
    }

    mutating func float(_ field: Int, _ value: Float) { fixed32(field, value.bitPattern) }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        bytes += ProtobufTestEncoder.varintBytes(UInt64(value.count)) + value
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtobufTestEncoder) -> Void) {
        var sub = ProtobufTestEncoder()
        build(&sub)
        bytes(field, sub.bytes)
    }

    mutating func packedVarints(_ field: Int, _ values: [UInt64]) {
        bytes(field, values.flatMap(ProtobufTestEncoder.varintBytes))
    }

    mutating func packedInt64s(_ field: Int, _ values: [Int64]) {
        packedVarints(field, values.map { UInt64(bitPattern: $0) })
    }

    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        bytes(field, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }

    mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        bytes(field, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }
}

/// onnx.proto messages built with `ProtobufTestEncoder`, field numbers as in onnx.proto.
enum ONNXTestProto {
    /// A TensorProto; `data` writes its values fields.
    static func tensor(name: String, type: Int, dims: [Int64], _ data: @escaping (inout ProtobufTestEncoder) -> Void = { _ in })
        -> (inout ProtobufTestEncoder) -> Void {
        { e in
            e.packedInt64s(1, dims)
            e.int(2, Int64(type))
            e.string(8, name)
            data(&e)
        }
    }

    static func rawFloats(_ values: [Float]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    /// A ValueInfoProto of a float tensor; each dimension an Int (dim_value), a String (dim_param),
    /// or nil (neither).
    static func valueInfo(_ name: String, elemType: Int = 1, shape: [Any?]?) -> (inout ProtobufTestEncoder) -> Void {
        { e in
            e.string(1, name)
            e.message(2) { type in
                type.message(1) { tensor in
                    tensor.int(1, Int64(elemType))
                    // No shape message means unknown rank; an empty one means a scalar.
                    guard let shape else { return }
                    tensor.message(2) { s in
                        for dim in shape {
                            s.message(1) { d in
                                if let v = dim as? Int { d.int(1, Int64(v)) }
                                if let p = dim as? String { d.string(2, p) }
                            }
                        }
                    }
                }
            }
        }
    }

    static func attribute(_ name: String, type: Int, _ value: @escaping (inout ProtobufTestEncoder) -> Void)
        -> (inout ProtobufTestEncoder) -> Void {
        { e in
            e.string(1, name)
            value(&e)
            e.int(20, Int64(type))
        }
    }

    static func stringPair(_ key: String, _ value: String) -> (inout ProtobufTestEncoder) -> Void {
        { e in
            e.string(1, key)
            e.string(2, value)
        }
    }

    /// A ModelProto (IR 8) around `graph`, importing ai.onnx opset 13 unless told otherwise.
    static func model(opsets: [(String, Int64)] = [("", 13)], metadata: [(String, String)] = [],
                      graph: (inout ProtobufTestEncoder) -> Void) -> [UInt8] {
        var e = ProtobufTestEncoder()
        e.int(1, 8)
        e.string(2, "tilerun-tests")
        e.string(3, "1.0")
        e.message(7, graph)
        for (domain, version) in opsets {
            e.message(8) { o in
                o.string(1, domain)
                o.int(2, version)
            }
        }
        for (key, value) in metadata { e.message(14, stringPair(key, value)) }
        return e.bytes
    }
}
