import Foundation

/// Pixels and area per class of one class map, as written to `NAME-statistics.json` and `.csv`.
public struct SceneStatistics: Codable, Equatable, Sendable {
    /// One class's pixels and area.
    public struct ClassTotal: Codable, Equatable, Sendable {
        /// The value in the class map.
        public var value: Int
        public var name: String?
        public var pixels: Int
        /// Nil when the scene has no usable georeferencing.
        public var areaSquareMetres: Double?
        public var areaHectares: Double?
    }

    /// The input scene's path.
    public var scene: String
    /// The scene's size in pixels.
    public var width: Int
    public var height: Int
    /// "EPSG:32615" or a user-defined CRS's description; nil without georeferencing.
    public var crs: String?
    /// How areas were computed, or why there are none.
    public var areaMethod: String
    /// Every output class, in model channel order, including classes with no pixels.
    public var classes: [ClassTotal]
    /// Pixels that are nodata in the input, and so in the class map.
    public var nodataPixels: Int

    /// The JSON document (keys sorted, so the same statistics give the same bytes).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// One line per class: `value,name,pixels,area_m2,area_ha` (areas empty when unknown).
    public func csv() -> String {
        var lines = ["value,name,pixels,area_m2,area_ha"]
        for c in classes {
            let name = c.name.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" } ?? ""
            let m2 = c.areaSquareMetres.map { String(format: "%.2f", $0) } ?? ""
            let ha = c.areaHectares.map { String(format: "%.4f", $0) } ?? ""
            lines.append("\(c.value),\(name),\(c.pixels),\(m2),\(ha)")
        }
        lines.append("nodata,,\(nodataPixels),,")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The ground area of one pixel, row by row: constant for projected CRSs (in metres via the CRS's
/// linear unit), latitude-dependent for geographic ones (on the WGS84 ellipsoid).
public struct PixelArea: Sendable {
    /// Square metres per pixel of `row`, or nil when it cannot be known.
    public let squareMetres: @Sendable (Int) -> Double?
    /// How the area is computed, or why it is not.
    public let method: String

    public init(geo: GeoReference?) {
        guard let geo, let t = geo.transform, let crs = geo.coordinateSystem else {
            squareMetres = { _ in nil }
            method = "none: the scene has no georeferencing"
            return
        }
        switch crs.modelType {
        case .projected:
            guard let unit = crs.metresPerUnit else {
                squareMetres = { _ in nil }
                method = "none: the projected CRS's linear unit is unknown"
                return
            }
            let area = abs(t.pixelWidth * t.pixelHeight - t.rowRotation * t.columnRotation) * unit * unit
            squareMetres = { _ in area }
            method = "projected: pixel size × metres per unit (\(unit))"
        case .geographic:
            guard !t.isRotated else {
                squareMetres = { _ in nil }
                method = "none: rotated geographic grids are not supported"
                return
            }
            squareMetres = { row in
                let lat0 = t.originY + Double(row) * t.pixelHeight
                return PixelArea.ellipsoidalArea(latitude0: lat0, latitude1: lat0 + t.pixelHeight,
                                                 longitudeSpan: abs(t.pixelWidth))
            }
            method = "geographic: latitude-dependent pixel area on the WGS84 ellipsoid"
        default:
            squareMetres = { _ in nil }
            method = "none: \(crs.modelType.rawValue) CRS"
        }
    }

    /// The area in m² between two latitudes and over a span of longitude (degrees) on the WGS84 ellipsoid,
    /// from the authalic q function: A = a²(1−e²)/2 · Δλ · |q(φ1) − q(φ0)|.
    public static func ellipsoidalArea(latitude0: Double, latitude1: Double, longitudeSpan: Double) -> Double {
        let a = 6_378_137.0
        let f = 1 / 298.257223563
        let e2 = f * (2 - f)
        let e = e2.squareRoot()
        func q(_ latitude: Double) -> Double {
            let s = sin(max(-90, min(90, latitude)) * .pi / 180)
            return s / (1 - e2 * s * s) + log((1 + e * s) / (1 - e * s)) / (2 * e)
        }
        return a * a * (1 - e2) / 2 * (longitudeSpan * .pi / 180) * abs(q(latitude1) - q(latitude0))
    }
}
