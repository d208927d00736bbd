/// A rectangle of pixels: column `x`, row `y`, `width` × `height`.
public struct RasterWindow: Equatable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var pixelCount: Int { width * height }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }

    /// The overlap of two windows, or nil when they do not meet.
    public func intersection(_ other: RasterWindow) -> RasterWindow? {
        let x0 = max(x, other.x), y0 = max(y, other.y)
        let x1 = min(maxX, other.maxX), y1 = min(maxY, other.maxY)
        guard x1 > x0, y1 > y0 else { return nil }
        return RasterWindow(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
}

/// How pixel data is cut into independently compressed blocks.
public enum BlockLayout: Equatable, Sendable, Codable {
    case strips(rowsPerStrip: Int)
    case tiles(width: Int, height: Int)

    public var isTiled: Bool { if case .tiles = self { return true } else { return false } }
}

/// Whether a block holds all bands interleaved (contiguous) or one band (separate).
public enum PlanarConfiguration: String, Sendable, Codable {
    case contiguous, separate
}

/// One palette entry, 8 bits per channel.
public struct PaletteColor: Equatable, Hashable, Sendable, Codable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }
}

/// Everything about one raster that can be known without decoding its pixels.
public struct RasterInfo: Sendable, Codable {
    public var path: String
    public var width: Int
    public var height: Int
    /// Bands as served by the reader (after YCbCr/LogLuv/old-JPEG conversion to RGB where that applies).
    public var bandCount: Int
    public var sampleType: SampleType
    /// Bits per sample as stored (1, 2 and 4-bit samples are served unpacked as `uint8`).
    public var bitsPerSample: Int
    public var layout: BlockLayout
    public var planar: PlanarConfiguration
    public var compression: String
    public var predictor: Int
    public var photometric: String
    public var isBigEndian: Bool
    public var isBigTIFF: Bool
    /// Reduced-resolution images (overview IFDs), largest first.
    public var overviews: [RasterWindow]
    /// True when an internal transparency mask IFD is present.
    public var hasInternalMask: Bool { internalMaskDirectory != nil }
    /// The IFD index of the full-resolution internal mask (GDAL's per-dataset mask), when there is one.
    public var internalMaskDirectory: Int?
    /// Zero-based index of the alpha band, when ExtraSamples declares one.
    public var alphaBand: Int?
    /// The palette for palette-colour images.
    public var colorMap: [PaletteColor]?
    public var geo: GeoReference?
    public var noData: NoData?
    /// Things worth knowing that are not errors (an unusable nodata value, an odd orientation).
    public var notes: [String]

    public var blockWidth: Int {
        switch layout {
        case .strips: return width
        case .tiles(let w, _): return w
        }
    }

    public var blockHeight: Int {
        switch layout {
        case .strips(let rows): return rows
        case .tiles(_, let h): return h
        }
    }

    public var bounds: RasterWindow { RasterWindow(x: 0, y: 0, width: width, height: height) }
}
