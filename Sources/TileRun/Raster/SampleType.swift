/// The numeric type of one sample as stored in a raster.
public enum SampleType: String, CaseIterable, Sendable, Codable {
    case uint8, int8, uint16, int16, uint32, int32, float32, float64

    /// Bytes per sample in memory (sub-byte samples are unpacked to `uint8`).
    public var byteSize: Int {
        switch self {
        case .uint8, .int8: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .float64: return 8
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// The range of values the type holds, for checking nodata values against it.
    public var valueRange: ClosedRange<Double> {
        switch self {
        case .uint8: return 0...255
        case .int8: return -128...127
        case .uint16: return 0...65535
        case .int16: return -32768...32767
        case .uint32: return 0...4_294_967_295
        case .int32: return -2_147_483_648...2_147_483_647
        case .float32: return -Double(Float.greatestFiniteMagnitude)...Double(Float.greatestFiniteMagnitude)
        case .float64: return -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude
        }
    }

    /// The TIFF SampleFormat and BitsPerSample for this type.
    var tiffFormat: (sampleFormat: UInt16, bitsPerSample: UInt16) {
        switch self {
        case .uint8: return (1, 8)
        case .int8: return (2, 8)
        case .uint16: return (1, 16)
        case .int16: return (2, 16)
        case .uint32: return (1, 32)
        case .int32: return (2, 32)
        case .float32: return (3, 32)
        case .float64: return (3, 64)
        }
    }

    /// Maps TIFF's SampleFormat (1 unsigned, 2 signed, 3 IEEE float) and BitsPerSample to a type;
    /// 1, 2 and 4-bit unsigned samples are unpacked to `uint8`.
    init?(sampleFormat: UInt16, bitsPerSample: UInt16) {
        switch (sampleFormat, bitsPerSample) {
        case (1, 1), (1, 2), (1, 4), (1, 8), (4, 8): self = .uint8
        case (2, 8): self = .int8
        case (1, 16), (4, 16): self = .uint16
        case (2, 16): self = .int16
        case (1, 32), (4, 32): self = .uint32
        case (2, 32): self = .int32
        case (3, 32): self = .float32
        case (3, 64): self = .float64
        default: return nil
        }
    }
}
