/// How a protobuf field's value is laid out on the wire. The deprecated groups (3 and 4) are refused.
public enum ProtobufWireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Malformed protobuf: the problem, the absolute byte offset and the field being read.
public struct ProtobufError: Error, CustomStringConvertible, Equatable, Sendable {
    public let problem: String
    /// Offset from the start of the whole input, not of the nested message.
    public let offset: Int
    /// The field number being read; nil before the first field tag of a message.
    public let field: Int?
    /// The message type being read, e.g. "GraphProto".
    public let message: String

    /// "truncated protobuf at byte 1234 (field 7 of GraphProto)".
    public var description: String {
        "\(problem) at byte \(offset) (" + (field.map { "field \($0) of " } ?? "") + "\(message))"
    }
}

/// A bounds-checked reader of the protobuf wire format over a byte array.
///
/// Every read checks the bytes remaining in the current message first, so truncated or hostile input
/// throws a `ProtobufError` rather than trapping, and nothing is allocated that the input could not
/// hold: repeated scalars reserve at most what their encoded length allows. Nested messages are read
/// by sub-readers that share the array (no copy) and keep absolute offsets for error messages.
///
/// ```swift
/// var reader = ProtobufReader(bytes: bytes, message: "TensorProto")
/// while let (field, wire) = try reader.nextField() {
///     switch field {
///     case 1: try reader.appendInt64s(wire, to: &dims)
///     case 8: name = try reader.string(wire)
///     default: try reader.skip(wire)
///     }
/// }
/// ```
public struct ProtobufReader {
    /// Nesting deeper than this is refused (protobuf's own default limit), so hostile input cannot
    /// exhaust the stack through recursive messages such as subgraphs.
    public static let maxDepth = 100

    /// The whole input; the reader sees `offset..<end` of it.
    public let bytes: [UInt8]
    /// The next byte to read.
    public private(set) var offset: Int
    /// One past the last byte of the current message.
    public let end: Int
    /// The message type being read, for error messages.
    public let message: String
    /// The field number of the last tag read, for error messages.
    public private(set) var field: Int?
    /// How many messages enclose this one.
    public let depth: Int

    /// A reader of a whole input holding one `message`.
    public init(bytes: [UInt8], message: String) {
        self.init(bytes: bytes, range: 0..<bytes.count, message: message, depth: 0)
    }

    private init(bytes: [UInt8], range: Range<Int>, message: String, depth: Int) {
        self.bytes = bytes
        offset = range.lowerBound
        end = range.upperBound
        self.message = message
        self.depth = depth
    }

    public var isAtEnd: Bool { offset >= end }

    /// An error at `offset` (the current position by default) naming the current field and message.
    public func error(_ problem: String, at position: Int? = nil) -> ProtobufError {
        ProtobufError(problem: problem, offset: position ?? offset, field: field, message: message)
    }

    /// The next field's number and wire type, or nil at the end of the message.
    public mutating func nextField() throws -> (number: Int, wireType: ProtobufWireType)? {
        guard !isAtEnd else { return nil }
        let start = offset
        field = nil
        let tag = try varint()
        let number = tag >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else {
            throw error("invalid field number \(number)", at: start)
        }
        field = Int(number)
        guard let wire = ProtobufWireType(rawValue: UInt8(tag & 7)) else {
            throw error("unsupported wire type \(tag & 7)", at: start)
        }
        return (Int(number), wire)
    }

    // MARK: Raw wire values

    /// A base-128 varint of at most 10 bytes.
    public mutating func varint() throws -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw error("truncated protobuf", at: start) }
            let byte = bytes[offset]
            offset += 1
            // The tenth byte holds bit 63 only; anything more is not a 64-bit varint.
            if shift == 63, byte > 1 { throw error("varint longer than 64 bits", at: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    public mutating func fixed32() throws -> UInt32 {
        guard end - offset >= 4 else { throw error("truncated protobuf") }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << (8 * i) }
        offset += 4
        return value
    }

    public mutating func fixed64() throws -> UInt64 {
        guard end - offset >= 8 else { throw error("truncated protobuf") }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * i) }
        offset += 8
        return value
    }

    /// The byte range of a length-delimited value, checked against the bytes remaining, and skips it.
    public mutating func lengthDelimited() throws -> Range<Int> {
        let start = offset
        let length = try varint()
        guard length <= UInt64(end - offset) else {
            throw error("truncated protobuf", at: start)
        }
        let range = offset..<(offset + Int(length))
        offset = range.upperBound
        return range
    }

    /// Skips a field's value of any wire type.
    public mutating func skip(_ wire: ProtobufWireType) throws {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        }
    }

    // MARK: Typed singular values

    public mutating func int64(_ wire: ProtobufWireType) throws -> Int64 {
        try expect(wire, .varint)
        return Int64(bitPattern: try varint())
    }

    /// An int32 or enum; negative values are sign-extended 10-byte varints, truncated as protobuf does.
    public mutating func int32(_ wire: ProtobufWireType) throws -> Int32 {
        try expect(wire, .varint)
        return Int32(truncatingIfNeeded: try varint())
    }

    public mutating func float(_ wire: ProtobufWireType) throws -> Float {
        try expect(wire, .fixed32)
        return Float(bitPattern: try fixed32())
    }

    /// A string field; invalid UTF-8 is repaired with U+FFFD rather than refused.
    public mutating func string(_ wire: ProtobufWireType) throws -> String {
        try expect(wire, .lengthDelimited)
        let range = try lengthDelimited()
        return String(decoding: bytes[range], as: UTF8.self)
    }

    /// A bytes field, as a range of `bytes` (no copy).
    public mutating func bytesRange(_ wire: ProtobufWireType) throws -> Range<Int> {
        try expect(wire, .lengthDelimited)
        return try lengthDelimited()
    }

    /// A reader of an embedded message of type `name`.
    public mutating func message(_ wire: ProtobufWireType, _ name: String) throws -> ProtobufReader {
        try expect(wire, .lengthDelimited)
        guard depth < ProtobufReader.maxDepth else {
            throw error("messages nested more than \(ProtobufReader.maxDepth) deep")
        }
        let range = try lengthDelimited()
        return ProtobufReader(bytes: bytes, range: range, message: name, depth: depth + 1)
    }

    // MARK: Repeated scalars, packed or not (a parser must accept both)

    public mutating func appendInt64s(_ wire: ProtobufWireType, to values: inout [Int64]) throws {
        try appendVarints(wire, to: &values) { Int64(bitPattern: $0) }
    }

    public mutating func appendInt32s(_ wire: ProtobufWireType, to values: inout [Int32]) throws {
        try appendVarints(wire, to: &values) { Int32(truncatingIfNeeded: $0) }
    }

    public mutating func appendUInt64s(_ wire: ProtobufWireType, to values: inout [UInt64]) throws {
        try appendVarints(wire, to: &values) { $0 }
    }

    public mutating func appendFloats(_ wire: ProtobufWireType, to values: inout [Float]) throws {
        if wire == .lengthDelimited {
            try appendPacked(width: 4, to: &values) { reader in Float(bitPattern: try reader.fixed32()) }
        } else {
            values.append(try float(wire))
        }
    }

    public mutating func appendDoubles(_ wire: ProtobufWireType, to values: inout [Double]) throws {
        if wire == .lengthDelimited {
            try appendPacked(width: 8, to: &values) { reader in Double(bitPattern: try reader.fixed64()) }
        } else {
            try expect(wire, .fixed64)
            values.append(Double(bitPattern: try fixed64()))
        }
    }

    private mutating func appendVarints<T>(_ wire: ProtobufWireType, to values: inout [T],
                                          _ convert: (UInt64) -> T) throws {
        if wire == .lengthDelimited {
            let range = try lengthDelimited()
            // Each varint takes at least one byte, so the encoded length bounds the count.
            values.reserveCapacity(values.count + range.count)
            var packed = ProtobufReader(bytes: bytes, range: range, message: message, depth: depth)
            packed.field = field
            while !packed.isAtEnd { values.append(convert(try packed.varint())) }
        } else {
            try expect(wire, .varint)
            values.append(convert(try varint()))
        }
    }

    private mutating func appendPacked<T>(width: Int, to values: inout [T],
                                         _ read: (inout ProtobufReader) throws -> T) throws {
        let start = offset
        let range = try lengthDelimited()
        guard range.count % width == 0 else {
            throw error("packed field of \(range.count) bytes is not a whole number of \(width)-byte values", at: start)
        }
        values.reserveCapacity(values.count + range.count / width)
        var packed = ProtobufReader(bytes: bytes, range: range, message: message, depth: depth)
        packed.field = field
        while !packed.isAtEnd { values.append(try read(&packed)) }
    }

    private func expect(_ wire: ProtobufWireType, _ expected: ProtobufWireType) throws {
        guard wire == expected else { throw error("wire type \(wire.rawValue) where \(expected.rawValue) was expected") }
    }
}
