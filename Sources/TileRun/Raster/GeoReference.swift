/// An affine map from pixel (column, row) to model coordinates, in GDAL's order:
/// `x = originX + col * pixelWidth + row * rowRotation`,
/// `y = originY + col * columnRotation + row * pixelHeight`.
/// Always in the pixel-is-area convention: (0, 0) is the outer corner of the first pixel.
public struct GeoTransform: Equatable, Sendable, Codable {
    public var originX: Double
    public var pixelWidth: Double
    public var rowRotation: Double
    public var originY: Double
    public var columnRotation: Double
    public var pixelHeight: Double

    public init(originX: Double, pixelWidth: Double, rowRotation: Double = 0,
                originY: Double, columnRotation: Double = 0, pixelHeight: Double) {
        self.originX = originX
        self.pixelWidth = pixelWidth
        self.rowRotation = rowRotation
        self.originY = originY
        self.columnRotation = columnRotation
        self.pixelHeight = pixelHeight
    }

    /// The six coefficients in GDAL's order.
    public var coefficients: [Double] { [originX, pixelWidth, rowRotation, originY, columnRotation, pixelHeight] }

    /// True when the grid is rotated or sheared relative to the model axes.
    public var isRotated: Bool { rowRotation != 0 || columnRotation != 0 }

    /// True for the usual orientation: rows run from north to south.
    public var isNorthUp: Bool { !isRotated && pixelHeight < 0 }

    /// True when rows run from south to north (positive pixel height).
    public var isSouthUp: Bool { !isRotated && pixelHeight > 0 }

    /// Model coordinates of a pixel-space point.
    public func apply(column: Double, row: Double) -> (x: Double, y: Double) {
        (originX + column * pixelWidth + row * rowRotation, originY + column * columnRotation + row * pixelHeight)
    }
}

/// How tiepoints relate to pixels (GTRasterTypeGeoKey).
public enum RasterSpace: String, Sendable, Codable {
    /// A tiepoint names the outer corner of a pixel (the common case).
    case pixelIsArea = "PixelIsArea"
    /// A tiepoint names the centre of a pixel.
    case pixelIsPoint = "PixelIsPoint"
}

/// The kind of coordinate reference system named by GTModelTypeGeoKey.
public enum ModelType: String, Sendable, Codable {
    case projected, geographic, geocentric, unknown
}

/// The coordinate reference system as the GeoKey directory states it.
public struct CoordinateSystem: Equatable, Sendable, Codable {
    public var modelType: ModelType
    /// EPSG code of the projected or geographic CRS; nil when user-defined or absent.
    public var epsg: Int?
    /// Citation keys (GTCitation, PCSCitation, GeogCitation) joined, for user-defined systems.
    public var citation: String?
    /// EPSG code of the linear unit (9001 metre, 9002 foot, 9003 US survey foot), when stated.
    public var linearUnitCode: Int?
    /// Metres per linear unit, when known.
    public var metresPerUnit: Double?

    /// "EPSG:32615", or the citation for a user-defined system.
    public var summary: String {
        if let epsg { return "EPSG:\(epsg)" + (citation.map { " (\($0))" } ?? "") }
        if let citation { return "user-defined \(modelType.rawValue) CRS: \(citation)" }
        return "user-defined \(modelType.rawValue) CRS"
    }
}

/// The georeferencing tags exactly as stored, so that outputs can carry them unchanged.
public struct GeoTIFFTags: Equatable, Sendable, Codable {
    public var modelPixelScale: [Double]?
    public var modelTiepoints: [Double]?
    public var modelTransformation: [Double]?
    public var keyDirectory: [UInt16]?
    public var doubleParams: [Double]?
    public var asciiParams: String?

    public init(modelPixelScale: [Double]? = nil, modelTiepoints: [Double]? = nil,
                modelTransformation: [Double]? = nil, keyDirectory: [UInt16]? = nil,
                doubleParams: [Double]? = nil, asciiParams: String? = nil) {
        self.modelPixelScale = modelPixelScale
        self.modelTiepoints = modelTiepoints
        self.modelTransformation = modelTransformation
        self.keyDirectory = keyDirectory
        self.doubleParams = doubleParams
        self.asciiParams = asciiParams
    }

    public var isEmpty: Bool {
        modelPixelScale == nil && modelTiepoints == nil && modelTransformation == nil && keyDirectory == nil
    }
}

/// Where a raster sits on the Earth: its transform (when it has one), CRS and the raw tags.
public struct GeoReference: Equatable, Sendable, Codable {
    /// Pixel-to-model transform; nil when the file has only ground control points or no georeferencing.
    public var transform: GeoTransform?
    /// Number of ground control points when the tiepoints are GCPs rather than one anchor.
    public var groundControlPointCount: Int
    public var rasterSpace: RasterSpace
    public var coordinateSystem: CoordinateSystem?
    public var tags: GeoTIFFTags

    public init(transform: GeoTransform?, groundControlPointCount: Int = 0, rasterSpace: RasterSpace = .pixelIsArea,
                coordinateSystem: CoordinateSystem?, tags: GeoTIFFTags) {
        self.transform = transform
        self.groundControlPointCount = groundControlPointCount
        self.rasterSpace = rasterSpace
        self.coordinateSystem = coordinateSystem
        self.tags = tags
    }

    /// A north-up georeference in an EPSG CRS, with the tags a GeoTIFF needs to state it.
    public static func northUp(epsg: Int, originX: Double, originY: Double, pixelSize: Double,
                               projected: Bool = true) -> GeoReference {
        let modelType: UInt16 = projected ? 1 : 2
        let crsKey: UInt16 = projected ? GeoKey.projectedCSType : GeoKey.geographicType
        let keys: [UInt16] = [1, 1, 0, 3,
                              GeoKey.modelType, 0, 1, modelType,
                              GeoKey.rasterType, 0, 1, 1,
                              crsKey, 0, 1, UInt16(clamping: epsg)]
        let tags = GeoTIFFTags(modelPixelScale: [pixelSize, pixelSize, 0],
                               modelTiepoints: [0, 0, 0, originX, originY, 0],
                               keyDirectory: keys)
        return GeoReference(
            transform: GeoTransform(originX: originX, pixelWidth: pixelSize, originY: originY, pixelHeight: -pixelSize),
            coordinateSystem: CoordinateSystem(modelType: projected ? .projected : .geographic, epsg: epsg,
                                               linearUnitCode: projected ? 9001 : nil,
                                               metresPerUnit: projected ? 1 : nil),
            tags: tags)
    }

    /// The transform from the stored tags, as GDAL derives it; pixel-is-point files are shifted by
    /// half a pixel so the result is always in the pixel-is-area convention.
    static func transform(from tags: GeoTIFFTags, rasterSpace: RasterSpace) -> (GeoTransform?, gcps: Int) {
        var transform: GeoTransform?
        var gcps = 0
        if let m = tags.modelTransformation, m.count >= 16 {
            transform = GeoTransform(originX: m[3], pixelWidth: m[0], rowRotation: m[1],
                                     originY: m[7], columnRotation: m[4], pixelHeight: m[5])
        } else if let tp = tags.modelTiepoints, tp.count >= 6 {
            if tp.count == 6, let scale = tags.modelPixelScale, scale.count >= 2 {
                let sx = scale[0], sy = scale[1]
                transform = GeoTransform(originX: tp[3] - tp[0] * sx, pixelWidth: sx,
                                         originY: tp[4] + tp[1] * sy, pixelHeight: -sy)
            } else {
                gcps = tp.count / 6
            }
        }
        if var t = transform, rasterSpace == .pixelIsPoint {
            t.originX -= (t.pixelWidth + t.rowRotation) * 0.5
            t.originY -= (t.columnRotation + t.pixelHeight) * 0.5
            transform = t
        }
        if let t = transform, !(t.coefficients.allSatisfy { $0.isFinite }) { transform = nil }
        return (transform, gcps)
    }
}

/// GeoKey identifiers from the GeoTIFF 1.1 specification.
enum GeoKey {
    static let modelType: UInt16 = 1024
    static let rasterType: UInt16 = 1025
    static let citation: UInt16 = 1026
    static let geographicType: UInt16 = 2048
    static let geogCitation: UInt16 = 2049
    static let geogAngularUnits: UInt16 = 2054
    static let projectedCSType: UInt16 = 3072
    static let pcsCitation: UInt16 = 3073
    static let projLinearUnits: UInt16 = 3076
    static let projLinearUnitSize: UInt16 = 3077
    static let userDefined = 32767

    /// Metres per unit for the EPSG linear unit codes GeoTIFFs use.
    static func metres(perLinearUnit code: Int) -> Double? {
        switch code {
        case 9001: return 1
        case 9002: return 0.3048
        case 9003: return 1200.0 / 3937.0
        case 9005: return 0.3047972654
        case 9014: return 1.8288
        case 9030: return 1852
        case 9036: return 1000
        case 9096: return 0.9144
        default: return nil
        }
    }
}
