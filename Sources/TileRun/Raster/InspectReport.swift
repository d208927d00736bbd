import Foundation

/// What `tilerun inspect` says about one file: the facts of `RasterInfo` in reporting form.
public struct InspectReport: Codable, Sendable {
    public struct Band: Codable, Sendable {
        public var index: Int
        public var statistics: BandStatistics?
        public var checksum: Int?
    }

    public var path: String
    public var width: Int
    public var height: Int
    public var bandCount: Int
    public var dataType: String
    public var bitsPerSample: Int
    public var layout: String
    public var blockWidth: Int
    public var blockHeight: Int
    public var planar: String
    public var compression: String
    public var predictor: Int
    public var photometric: String
    public var byteOrder: String
    public var bigTIFF: Bool
    public var crs: String?
    public var epsg: Int?
    public var rasterSpace: String?
    public var geoTransform: [Double]?
    public var pixelSize: [Double]?
    /// [minX, minY, maxX, maxY] in CRS units.
    public var bounds: [Double]?
    public var orientation: String?
    public var groundControlPoints: Int?
    public var noData: String?
    public var overviews: [[Int]]
    public var internalMask: Bool
    public var alphaBand: Int?
    public var colorTableEntries: Int?
    public var notes: [String]
    public var bands: [Band]?

    public init(info: RasterInfo, analysis: RasterAnalysis? = nil) {
        path = info.path
        width = info.width
        height = info.height
        bandCount = info.bandCount
        dataType = info.sampleType.rawValue
        bitsPerSample = info.bitsPerSample
        layout = info.layout.isTiled ? "tiled" : "strips"
        blockWidth = info.blockWidth
        blockHeight = info.blockHeight
        planar = info.planar.rawValue
        compression = info.compression
        predictor = info.predictor
        photometric = info.photometric
        byteOrder = info.isBigEndian ? "big-endian" : "little-endian"
        bigTIFF = info.isBigTIFF
        crs = info.geo?.coordinateSystem?.summary
        epsg = info.geo?.coordinateSystem?.epsg
        rasterSpace = info.geo?.rasterSpace.rawValue
        if let t = info.geo?.transform {
            geoTransform = t.coefficients
            pixelSize = [t.pixelWidth, t.pixelHeight]
            let corners = [(0.0, 0.0), (Double(info.width), 0.0), (0.0, Double(info.height)),
                           (Double(info.width), Double(info.height))].map { t.apply(column: $0.0, row: $0.1) }
            bounds = [corners.map(\.x).min()!, corners.map(\.y).min()!, corners.map(\.x).max()!, corners.map(\.y).max()!]
            orientation = t.isRotated ? "rotated" : (t.isSouthUp ? "south-up" : "north-up")
        }
        if let g = info.geo, g.groundControlPointCount > 0 { groundControlPoints = g.groundControlPointCount }
        noData = info.noData?.text
        overviews = info.overviews.map { [$0.width, $0.height] }
        internalMask = info.hasInternalMask
        alphaBand = info.alphaBand.map { $0 + 1 }
        colorTableEntries = info.colorMap?.count
        notes = info.notes
        if let analysis {
            bands = (0..<info.bandCount).map { b in
                Band(index: b + 1, statistics: analysis.statistics?[b], checksum: analysis.checksums?[b])
            }
        }
    }

    /// A gdalinfo-like plain-text rendering.
    public var text: String {
        var lines = [path]
        lines.append("  Size: \(width) x \(height), \(bandCount) band\(bandCount == 1 ? "" : "s"), \(dataType)"
                     + (bitsPerSample != storedBitsOfType ? " (stored as \(bitsPerSample)-bit)" : ""))
        lines.append("  Layout: \(layout) \(blockWidth)x\(blockHeight), \(planar), compression \(compression)"
                     + (predictor > 1 ? ", predictor \(predictor)" : ""))
        lines.append("  Photometric: \(photometric); \(byteOrder)\(bigTIFF ? "; BigTIFF" : "")")
        lines.append("  CRS: \(crs ?? "none")")
        if let rasterSpace { lines.append("  Raster space: \(rasterSpace)") }
        if let t = geoTransform, let px = pixelSize, let b = bounds {
            lines.append("  Geotransform: [\(t.map(Self.format).joined(separator: ", "))]")
            lines.append("  Origin: (\(Self.format(t[0])), \(Self.format(t[3])))")
            lines.append("  Pixel size: (\(Self.format(px[0])), \(Self.format(px[1])))")
            lines.append("  Bounds: min (\(Self.format(b[0])), \(Self.format(b[1]))) max (\(Self.format(b[2])), \(Self.format(b[3])))")
            if let orientation, orientation != "north-up" { lines.append("  Orientation: \(orientation)") }
        } else {
            lines.append("  Geotransform: none" + (groundControlPoints.map { " (\($0) ground control points)" } ?? ""))
        }
        lines.append("  NoData: \(noData ?? "none")")
        lines.append("  Overviews: " + (overviews.isEmpty ? "none" : overviews.map { "\($0[0])x\($0[1])" }.joined(separator: ", ")))
        if internalMask { lines.append("  Mask: internal mask IFD") }
        if let alphaBand { lines.append("  Alpha: band \(alphaBand)") }
        if let colorTableEntries { lines.append("  Color table: \(colorTableEntries) entries") }
        for note in notes { lines.append("  Note: \(note)") }
        for band in bands ?? [] {
            var parts = ["  Band \(band.index):"]
            if let s = band.statistics {
                if let lo = s.minimum, let hi = s.maximum, let m = s.mean, let sd = s.standardDeviation {
                    parts.append("min \(Self.format(lo)) max \(Self.format(hi)) mean \(Self.format(m)) std \(Self.format(sd)) valid \(s.validCount)")
                } else {
                    parts.append("no valid pixels")
                }
            }
            if let c = band.checksum { parts.append("checksum \(c)") }
            lines.append(parts.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }

    private var storedBitsOfType: Int { (SampleType(rawValue: dataType)?.byteSize ?? 1) * 8 }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(format: "%.1f", v) }
        return String(format: "%.15g", v)
    }
}
