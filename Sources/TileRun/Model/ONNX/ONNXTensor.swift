import Foundation

/// ONNX element types, with TensorProto.DataType's codes.
public enum ONNXDataType: Int, Sendable, CustomStringConvertible {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9
    case float16 = 10, double = 11, uint32 = 12, uint64 = 13, complex64 = 14, complex128 = 15, bfloat16 = 16
    case float8e4m3fn = 17, float8e4m3fnuz = 18, float8e5m2 = 19, float8e5m2fnuz = 20
    case uint4 = 21, int4 = 22, float4e2m1 = 23, float8e8m0 = 24, uint2 = 25, int2 = 26
    case float6e2m3 = 27, float6e3m2 = 28

    /// Bits per element as stored in raw_data; nil for strings.
    public var bitWidth: Int? {
        switch self {
        case .string: return nil
        case .uint2, .int2: return 2
        case .uint4, .int4, .float4e2m1: return 4
        case .float6e2m3, .float6e3m2: return 6
        case .uint8, .int8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: return 8
        case .uint16, .int16, .float16, .bfloat16: return 16
        case .float, .int32, .uint32: return 32
        case .int64, .uint64, .double, .complex64: return 64
        case .complex128: return 128
        }
    }

    /// The name as onnx.proto spells it ("FLOAT", "INT64"), for messages.
    public var description: String { ONNXDataType.names[rawValue] }

    private static let names = [
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL", "FLOAT16",
        "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ",
        "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2",
        "FLOAT6E2M3", "FLOAT6E3M2",
    ]
}

/// A constant tensor (TensorProto): an initializer, an attribute value, or a backend-test input or
/// output. Values are decoded to typed arrays in row-major order, whichever field or external file
/// held them.
public struct ONNXTensor: Equatable, Sendable {
    /// Decoded values, one case per element type.
    public enum Storage: Equatable, Sendable {
        case float([Float])
        case double([Double])
        /// IEEE half-precision bit patterns; `floatValues()` widens them.
        case float16([UInt16])
        /// bfloat16 bit patterns (the upper half of a float32); `floatValues()` widens them.
        case bfloat16([UInt16])
        case int8([Int8])
        case int16([Int16])
        case int32([Int32])
        case int64([Int64])
        case uint8([UInt8])
        case uint16([UInt16])
        case uint32([UInt32])
        case uint64([UInt64])
        case bool([Bool])
        /// Strings; bytes that are not UTF-8 are repaired with U+FFFD.
        case string([String])
        /// Real and imaginary parts interleaved: two values per element.
        case complex64([Float])
        case complex128([Double])
        /// Types tilerun does not compute with (8-bit floats, 4-, 6- and 2-bit types): each element's
        /// bit code, unpacked to one byte (low bits).
        case codes([UInt8])
    }

    public var name: String
    public var dataType: ONNXDataType
    public var dims: [Int]
    public var storage: Storage

    public init(name: String, dataType: ONNXDataType, dims: [Int], storage: Storage) {
        self.name = name
        self.dataType = dataType
        self.dims = dims
        self.storage = storage
    }

    /// Reads a standalone serialized TensorProto, as the ONNX backend tests store their inputs and
    /// outputs (`test_data_set_0/input_0.pb`); external data is resolved relative to its folder.
    public static func load(path: String) throws -> ONNXTensor {
        let bytes = try ONNXFile.read(path)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try ONNXDecoder(bytes: bytes, baseDirectory: folder, source: path).standaloneTensor()
    }

    /// The number of elements the dims describe (1 for a scalar).
    public var count: Int { dims.reduce(1, *) }

    /// The values as Float: float, double, half and bfloat16 widened or rounded, integers and bools
    /// converted; nil for strings, complex numbers and codes.
    public func floatValues() -> [Float]? {
        switch storage {
        case .float(let v): return v
        case .double(let v): return v.map { Float($0) }
        case .float16(let v): return v.map(ONNXTensor.floatFromHalf)
        case .bfloat16(let v): return v.map { Float(bitPattern: UInt32($0) << 16) }
        case .int8(let v): return v.map { Float($0) }
        case .int16(let v): return v.map { Float($0) }
        case .int32(let v): return v.map { Float($0) }
        case .int64(let v): return v.map { Float($0) }
        case .uint8(let v): return v.map { Float($0) }
        case .uint16(let v): return v.map { Float($0) }
        case .uint32(let v): return v.map { Float($0) }
        case .uint64(let v): return v.map { Float($0) }
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        case .string, .complex64, .complex128, .codes: return nil
        }
    }

    /// The values as Int64, for shapes, axes and indices: integer types and bools; nil otherwise
    /// (and for uint64 values above Int64.max).
    public func int64Values() -> [Int64]? {
        switch storage {
        case .int8(let v): return v.map { Int64($0) }
        case .int16(let v): return v.map { Int64($0) }
        case .int32(let v): return v.map { Int64($0) }
        case .int64(let v): return v
        case .uint8(let v): return v.map { Int64($0) }
        case .uint16(let v): return v.map { Int64($0) }
        case .uint32(let v): return v.map { Int64($0) }
        case .uint64(let v): return v.allSatisfy { $0 <= UInt64(Int64.max) } ? v.map { Int64($0) } : nil
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        default: return nil
        }
    }

    /// IEEE half precision to single, exactly (every half is a float).
    public static func floatFromHalf(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa × 2⁻²⁴.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }
}
