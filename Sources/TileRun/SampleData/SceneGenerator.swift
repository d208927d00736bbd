import Foundation

/// Land-cover classes of the synthetic scenes, with ESA WorldCover's codes and official colours.
public enum LandCoverClass: UInt8, SampleLabelClass, Sendable {
    case tree = 10, grassland = 30, cropland = 40, builtUp = 50, bare = 60, water = 80

    public var name: String {
        switch self {
        case .tree: return "Tree cover"
        case .grassland: return "Grassland"
        case .cropland: return "Cropland"
        case .builtUp: return "Built-up"
        case .bare: return "Bare / sparse vegetation"
        case .water: return "Permanent water bodies"
        }
    }

    public var colour: PaletteColor {
        switch self {
        case .tree: return PaletteColor(red: 0, green: 100, blue: 0)
        case .grassland: return PaletteColor(red: 255, green: 255, blue: 76)
        case .cropland: return PaletteColor(red: 240, green: 150, blue: 255)
        case .builtUp: return PaletteColor(red: 250, green: 0, blue: 0)
        case .bare: return PaletteColor(red: 180, green: 180, blue: 180)
        case .water: return PaletteColor(red: 0, green: 100, blue: 200)
        }
    }

}

/// The label classes of generated scenes: a one-byte code and its palette colour.
public protocol SampleLabelClass: CaseIterable, RawRepresentable where RawValue == UInt8 {
    var colour: PaletteColor { get }
}

extension SampleLabelClass {
    /// A 256-entry palette with the class colours at their codes, black elsewhere.
    public static var palette: [PaletteColor] {
        var p = [PaletteColor](repeating: PaletteColor(red: 0, green: 0, blue: 0), count: 256)
        for c in allCases { p[Int(c.rawValue)] = c.colour }
        return p
    }
}

/// Writes small synthetic aerial scenes (uint8 RGB or uint16 RGB+NIR reflectance, 0.5 m, UTM 15N) with
/// exact label rasters.
/// The same seed gives the same bytes: every value comes from a seeded SplitMix64 stream and pure
/// functions of the pixel position, and the writer is deterministic.
public struct SceneGenerator: Sendable {
    public var width: Int
    public var height: Int
    public var seed: UInt64
    /// Upper-left corner in EPSG:32615 metres.
    public var originX = 366_000.0
    public var originY = 4_104_000.0
    public var pixelSize = 0.5

    public init(width: Int = 1024, height: Int = 1024, seed: UInt64 = 1) {
        self.width = width
        self.height = height
        self.seed = seed
    }

    /// The label of every pixel, row-major.
    public func labels() -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let elevation = ValueNoise(seed: rng.next(), cell: 180)
        let moisture = ValueNoise(seed: rng.next(), cell: 90)
        let detail = ValueNoise(seed: rng.next(), cell: 24)
        var out = [UInt8](repeating: 0, count: width * height)
        // Fields: a grid of rectangular parcels in one part of the scene.
        let fieldSize = 96
        for y in 0..<height {
            for x in 0..<width {
                let e = 0.7 * elevation.value(x, y) + 0.3 * detail.value(x, y)
                let m = moisture.value(x, y)
                let cls: LandCoverClass
                if e < 0.3 { cls = .water }
                else if m > 0.62 { cls = .tree }
                else if e > 0.78 { cls = .bare }
                else if (x / fieldSize + y / fieldSize) % 3 == 0 && m < 0.5 { cls = .cropland }
                else { cls = .grassland }
                out[y * width + x] = cls.rawValue
            }
        }
        // Roads: straight lines across the scene; buildings: rectangles beside them, on dry land.
        let roadCount = 2 + Int(rng.next() % 2)
        for r in 0..<roadCount {
            let horizontal = r % 2 == 0
            let at = 80 + Int(rng.next() % UInt64(max(1, (horizontal ? height : width) - 160)))
            for t in 0..<(horizontal ? width : height) {
                for d in -3...3 {
                    let x = horizontal ? t : at + d, y = horizontal ? at + d : t
                    if x >= 0, y >= 0, x < width, y < height, out[y * width + x] != LandCoverClass.water.rawValue {
                        out[y * width + x] = LandCoverClass.builtUp.rawValue
                    }
                }
            }
            var t = Int(rng.next() % 40)
            while t < (horizontal ? width : height) - 30 {
                let w = 14 + Int(rng.next() % 16), h = 12 + Int(rng.next() % 14)
                let side = rng.next() % 2 == 0 ? -1 : 1
                let gap = 8 + Int(rng.next() % 6)
                let x0 = horizontal ? t : (side < 0 ? at - gap - w : at + gap)
                let y0 = horizontal ? (side < 0 ? at - gap - h : at + gap) : t
                if x0 >= 0, y0 >= 0, x0 + w <= width, y0 + h <= height {
                    var dry = true
                    for y in y0..<(y0 + h) where dry {
                        for x in x0..<(x0 + w) where out[y * width + x] == LandCoverClass.water.rawValue { dry = false }
                    }
                    if dry {
                        for y in y0..<(y0 + h) { for x in x0..<(x0 + w) { out[y * width + x] = LandCoverClass.builtUp.rawValue } }
                    }
                }
                t += w + 10 + Int(rng.next() % 30)
            }
        }
        return out
    }

    /// RGB imagery for `labels`, band after band: class colour plus texture and shading.
    public func imagery(labels: [UInt8]) -> [UInt8] {
        var rng = SplitMix64(seed: seed ^ 0x5EED_1A6E)
        let texture = ValueNoise(seed: rng.next(), cell: 6)
        let shade = ValueNoise(seed: rng.next(), cell: 60)
        let plane = width * height
        var out = [UInt8](repeating: 0, count: plane * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                let base: (Double, Double, Double)
                switch LandCoverClass(rawValue: labels[i]) ?? .bare {
                case .water: base = (40, 70, 95)
                case .tree: base = (45, 85, 40)
                case .grassland: base = (120, 150, 80)
                case .cropland: base = ((x / 96 + y / 96) % 2 == 0 ? 170 : 140, 160, 95)
                case .builtUp: base = (150, 145, 140)
                case .bare: base = (165, 150, 125)
                }
                let t = (texture.value(x, y) - 0.5) * 40 + (shade.value(x, y) - 0.5) * 30
                let rgb = [base.0 + t, base.1 + t, base.2 + t * 0.8]
                for b in 0..<3 { out[b * plane + i] = UInt8(max(0, min(255, rgb[b].rounded()))) }
            }
        }
        return out
    }

    /// Surface reflectance × 10000 for `labels`, band after band: red, green, blue, near-infrared.
    /// Each class has a typical spectrum (vegetation bright in the near-infrared, water dark), varied by
    /// the same texture and shading fields as `imagery`, applied as a factor as illumination would be.
    public func reflectance(labels: [UInt8]) -> [UInt16] {
        var rng = SplitMix64(seed: seed ^ 0x5EED_1A6E)
        let texture = ValueNoise(seed: rng.next(), cell: 6)
        let shade = ValueNoise(seed: rng.next(), cell: 60)
        let plane = width * height
        var out = [UInt16](repeating: 0, count: plane * 4)
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                let spectrum: [Double]
                switch LandCoverClass(rawValue: labels[i]) ?? .bare {
                case .water: spectrum = [300, 500, 650, 150]
                case .tree: spectrum = [280, 550, 330, 3400]
                case .grassland: spectrum = [600, 900, 480, 2900]
                // Alternate parcels hold a green crop and a ripening one, as the RGB imagery's colours do.
                case .cropland: spectrum = (x / 96 + y / 96) % 2 == 0 ? [1100, 1050, 650, 2500] : [700, 1000, 520, 4100]
                case .builtUp: spectrum = [1600, 1550, 1500, 1900]
                case .bare: spectrum = [2200, 1900, 1500, 2600]
                }
                let factor = 1 + (texture.value(x, y) - 0.5) * 0.35 + (shade.value(x, y) - 0.5) * 0.25
                for b in 0..<4 { out[b * plane + i] = UInt16(max(0, min(10000, (spectrum[b] * factor).rounded()))) }
            }
        }
        return out
    }

    public var geoReference: GeoReference {
        .northUp(epsg: 32615, originX: originX, originY: originY, pixelSize: pixelSize)
    }

    /// Writes `NAME.tif` (uint8 RGB) and `NAME-labels.tif` (WorldCover class map) into `directory`.
    public func write(to directory: String, name: String) throws -> (image: String, labels: String) {
        let classes = labels()
        let imagePath = (directory as NSString).appendingPathComponent(name + ".tif")
        let image = try RasterWriter(path: imagePath, width: width, height: height, options: RasterWriterOptions(
            sampleType: .uint8, bandCount: 3, tileSize: 256, geo: geoReference, overviewResampling: .average))
        try image.write(rows: 0, height: height, values: imagery(labels: classes))
        try image.finish()
        return (imagePath, try writeLabels(classes, to: directory, name: name))
    }

    /// Writes `NAME.tif` (uint16 red, green, blue, near-infrared reflectance × 10000) and
    /// `NAME-labels.tif` (the same class map as `write` gives for this seed) into `directory`.
    public func writeReflectance(to directory: String, name: String) throws -> (image: String, labels: String) {
        let classes = labels()
        let imagePath = (directory as NSString).appendingPathComponent(name + ".tif")
        let image = try RasterWriter(path: imagePath, width: width, height: height, options: RasterWriterOptions(
            sampleType: .uint16, bandCount: 4, tileSize: 256, geo: geoReference, overviewResampling: .average))
        try image.write(rows: 0, height: height, values: reflectance(labels: classes))
        try image.finish()
        return (imagePath, try writeLabels(classes, to: directory, name: name))
    }

    private func writeLabels(_ classes: [UInt8], to directory: String, name: String) throws -> String {
        let labelPath = (directory as NSString).appendingPathComponent(name + "-labels.tif")
        let label = try RasterWriter(path: labelPath, width: width, height: height, options: RasterWriterOptions(
            sampleType: .uint8, bandCount: 1, tileSize: 256, geo: geoReference, colorMap: LandCoverClass.palette))
        try label.write(rows: 0, height: height, values: classes)
        try label.finish()
        return labelPath
    }
}

/// SplitMix64: a tiny, well-mixed, seedable generator whose output is the same on every platform.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Smooth noise in [0, 1]: hashed lattice values, bilinearly interpolated with a smoothstep.
struct ValueNoise {
    let seed: UInt64
    let cell: Int

    func lattice(_ i: Int, _ j: Int) -> Double {
        var h = SplitMix64(seed: seed ^ (UInt64(bitPattern: Int64(i)) &* 0x9E37_79B9) ^ (UInt64(bitPattern: Int64(j)) &* 0x85EB_CA6B))
        return Double(h.next() >> 11) / Double(1 << 53)
    }

    func value(_ x: Int, _ y: Int) -> Double {
        let i = x / cell, j = y / cell
        let fx = Double(x % cell) / Double(cell), fy = Double(y % cell) / Double(cell)
        let sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy)
        let a = lattice(i, j), b = lattice(i + 1, j), c = lattice(i, j + 1), d = lattice(i + 1, j + 1)
        return (a + (b - a) * sx) * (1 - sy) + (c + (d - c) * sx) * sy
    }
}
