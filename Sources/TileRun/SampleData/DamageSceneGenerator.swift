import Foundation

/// Building-damage classes of the xBD data set's joint damage scale, with the colours tilerun's damage
/// demo gives them.
public enum DamageClass: UInt8, SampleLabelClass, Sendable {
    case background = 0, noDamage = 1, minorDamage = 2, majorDamage = 3, destroyed = 4

    /// The xBD name.
    public var name: String {
        switch self {
        case .background: return "background"
        case .noDamage: return "no-damage"
        case .minorDamage: return "minor-damage"
        case .majorDamage: return "major-damage"
        case .destroyed: return "destroyed"
        }
    }

    public var colour: PaletteColor {
        switch self {
        case .background: return PaletteColor(red: 0, green: 0, blue: 0)
        case .noDamage: return PaletteColor(red: 26, green: 152, blue: 80)
        case .minorDamage: return PaletteColor(red: 254, green: 224, blue: 139)
        case .majorDamage: return PaletteColor(red: 252, green: 141, blue: 89)
        case .destroyed: return PaletteColor(red: 215, green: 48, blue: 39)
        }
    }
}

/// Writes synthetic pre- and post-disaster aerial scene pairs (uint8 RGB, 0.5 m, UTM 15N, one grid)
/// of a residential neighbourhood hit by a storm, with an exact xBD damage label for every building
/// footprint.
///
/// A street grid with houses, driveways, lawns and trees is drawn twice, as two acquisitions would see
/// it (own sensor noise, colour balance and sun direction). Along a seeded storm track buildings are,
/// by seeded choice weighted by the distance to the track, undamaged, minor-damaged (blue tarps, missing
/// shingles), major-damaged (part of the roof gone, rafters and debris) or destroyed (rubble or a bare
/// slab, no roof, no shadow), with debris strewn around them. Where the scene has a flood, brown water
/// covers the low ground, and buildings standing in it are labelled major damage, as xBD labels
/// structures surrounded by water. The same seed gives the same bytes.
public struct DamageSceneGenerator: Sendable {
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

    public var geoReference: GeoReference {
        .northUp(epsg: 32615, originX: originX, originY: originY, pixelSize: pixelSize)
    }

    /// The damage class of every pixel, row-major: 0 off the building footprints.
    public func labels() -> [UInt8] { NeighbourhoodLayout(generator: self).labels }

    /// The pre-event (`post` false) or post-event RGB imagery, band after band.
    public func imagery(post: Bool) -> [UInt8] {
        NeighbourhoodLayout(generator: self).render(post: post)
    }

    /// Writes `NAME-pre.tif`, `NAME-post.tif` (uint8 RGB) and `NAME-labels.tif` (damage class map) into
    /// `directory`, all on one grid.
    public func write(to directory: String, name: String) throws -> (pre: String, post: String, labels: String) {
        let layout = NeighbourhoodLayout(generator: self)
        func path(_ suffix: String) -> String { (directory as NSString).appendingPathComponent("\(name)-\(suffix).tif") }
        for (suffix, post) in [("pre", false), ("post", true)] {
            let image = try RasterWriter(path: path(suffix), width: width, height: height, options: RasterWriterOptions(
                sampleType: .uint8, bandCount: 3, tileSize: 256, geo: geoReference, overviewResampling: .average))
            try image.write(rows: 0, height: height, values: layout.render(post: post))
            try image.finish()
        }
        let label = try RasterWriter(path: path("labels"), width: width, height: height, options: RasterWriterOptions(
            sampleType: .uint8, bandCount: 1, tileSize: 256, geo: geoReference, colorMap: DamageClass.palette))
        try label.write(rows: 0, height: height, values: layout.labels)
        try label.finish()
        return (path("pre"), path("post"), path("labels"))
    }
}

/// An RGB colour with components on the 0–255 scale, unclamped while it is being shaded.
private struct Colour {
    var r: Double, g: Double, b: Double
    init(_ r: Double, _ g: Double, _ b: Double) { self.r = r; self.g = g; self.b = b }
    static func * (c: Colour, f: Double) -> Colour { Colour(c.r * f, c.g * f, c.b * f) }
    static func + (c: Colour, d: Double) -> Colour { Colour(c.r + d, c.g + d, c.b + d) }
}

/// An axis-aligned pixel rectangle, `x0..<x1` × `y0..<y1`.
private struct PixelRect {
    var x0: Int, y0: Int, x1: Int, y1: Int
    func contains(_ x: Int, _ y: Int) -> Bool { x >= x0 && x < x1 && y >= y0 && y < y1 }
    func expanded(by d: Int) -> PixelRect { PixelRect(x0: x0 - d, y0: y0 - d, x1: x1 + d, y1: y1 + d) }
    var width: Int { x1 - x0 }
    var height: Int { y1 - y0 }
}

/// One house or commercial building and what the storm did to it.
private struct Building {
    var footprint: PixelRect
    var roof: Colour
    /// Whether the ridge of the gable roof runs east–west (along the longer side).
    var ridgeAlongX: Bool
    var damage: DamageClass
    /// Blue tarps on a minor-damaged roof.
    var tarps: [PixelRect] = []
    /// The part of a major-damaged roof that is gone.
    var missing: PixelRect?
    /// Share of a destroyed building's footprint that is rubble rather than a swept slab.
    var rubbleShare = 1.0
}

/// What covers a pixel of ground (off the buildings).
private enum Ground: UInt8 {
    case lawn, bare, road, paving, tree
}

/// The neighbourhood behind one seed: streets, buildings with their damage, trees, storm and flood.
private struct NeighbourhoodLayout {
    let width: Int, height: Int, seed: UInt64
    var ground: [Ground]
    /// Index into `buildings` for each pixel, -1 off the buildings.
    var buildingAt: [Int32]
    var buildings: [Building] = []
    /// Tree crowns (centre, radius), drawn into `ground` and casting shadows.
    var trees: [(x: Int, y: Int, r: Int)] = []
    /// Storm track: a point on it and its unit direction, and its half-width in pixels.
    let track: (x: Double, y: Double, dx: Double, dy: Double, width: Double)
    /// Flood water in the post image, per pixel (false everywhere when the scene has no flood).
    var flooded: [Bool]
    /// The damage class of every pixel.
    var labels: [UInt8] = []

    init(generator: DamageSceneGenerator) {
        width = generator.width
        height = generator.height
        seed = generator.seed
        let n = width * height
        ground = [Ground](repeating: .lawn, count: n)
        buildingAt = [Int32](repeating: -1, count: n)
        var rng = SplitMix64(seed: seed ^ 0xDA3A_6E00)
        let angle = rng.unit() * .pi
        track = (rng.unit() * Double(width), rng.unit() * Double(height), cos(angle), sin(angle), 110 + rng.unit() * 120)
        let floodField = ValueNoise(seed: rng.next(), cell: 220)
        let floodLevel = rng.unit() < 0.35 ? 1.1 : 0.62 + rng.unit() * 0.12
        let bareField = ValueNoise(seed: rng.next(), cell: 70)
        flooded = [Bool](repeating: false, count: n)
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                flooded[i] = floodField.value(x, y) > floodLevel
                if bareField.value(x, y) > 0.8 { ground[i] = .bare }
            }
        }
        layStreets(&rng)
        placeTrees(&rng)
        assignDamage(&rng)
        labels = [UInt8](repeating: 0, count: n)
        for (k, b) in buildings.enumerated() {
            fill(b.footprint) { i in labels[i] = b.damage.rawValue; buildingAt[i] = Int32(k) }
        }
    }

    /// Calls `body` with the index of every pixel of `rect` inside the scene.
    func fill(_ rect: PixelRect, _ body: (Int) -> Void) {
        let (xs, ys) = clipped(rect)
        for y in ys {
            for x in xs { body(y * width + x) }
        }
    }

    /// A street grid with jittered spacing; houses along both sides of every east–west street, facing
    /// it with a driveway, and now and then a larger flat-roofed building.
    private mutating func layStreets(_ rng: inout SplitMix64) {
        let roadHalf = 6
        var rows: [Int] = [], columns: [Int] = []
        var at = 40 + Int(rng.below(60))
        while at < height - 20 { rows.append(at); at += 130 + Int(rng.below(40)) }
        at = 30 + Int(rng.below(80))
        while at < width - 20 { columns.append(at); at += 220 + Int(rng.below(120)) }
        for r in rows { fill(PixelRect(x0: 0, y0: r - roadHalf, x1: width, y1: r + roadHalf)) { ground[$0] = .road } }
        for c in columns { fill(PixelRect(x0: c - roadHalf, y0: 0, x1: c + roadHalf, y1: height)) { ground[$0] = .road } }
        let roofs = [Colour(78, 78, 84), Colour(118, 116, 112), Colour(108, 82, 64), Colour(136, 72, 58),
                     Colour(182, 178, 168), Colour(88, 98, 110), Colour(60, 62, 60)]
        for r in rows {
            for side in [-1, 1] {
                var x = Int(rng.below(20))
                while x < width - 20 {
                    let large = rng.below(12) == 0
                    let w = large ? 50 + Int(rng.below(40)) : 20 + Int(rng.below(18))
                    let h = large ? 36 + Int(rng.below(20)) : 18 + Int(rng.below(14))
                    let setback = roadHalf + 8 + Int(rng.below(8))
                    let y0 = side < 0 ? r - setback - h : r + setback
                    let rect = PixelRect(x0: x, y0: y0, x1: x + w, y1: y0 + h)
                    x += w + 8 + Int(rng.below(18))
                    guard rect.x0 >= 0, rect.y0 >= 0, rect.x1 <= width, rect.y1 <= height, isFree(rect.expanded(by: 3)) else { continue }
                    let roof = large ? Colour(160, 160, 156) : roofs[Int(rng.below(UInt64(roofs.count)))]
                    buildings.append(Building(footprint: rect, roof: roof, ridgeAlongX: !large && w >= h, damage: .noDamage))
                    fill(rect) { ground[$0] = .paving }  // placeholder under the roof, so later shapes avoid it
                    let driveX = rect.x0 + Int(rng.below(UInt64(max(1, w - 8))))
                    let drive = side < 0 ? PixelRect(x0: driveX, y0: rect.y1, x1: driveX + 7, y1: r - roadHalf)
                                         : PixelRect(x0: driveX, y0: r + roadHalf, x1: driveX + 7, y1: rect.y0)
                    fill(drive) { if ground[$0] != .road { ground[$0] = .paving } }
                }
            }
        }
    }

    /// The columns and rows of `rect` inside the scene (empty ranges when it lies outside).
    func clipped(_ rect: PixelRect) -> (columns: Range<Int>, rows: Range<Int>) {
        let x0 = max(0, rect.x0), y0 = max(0, rect.y0)
        return (x0..<max(x0, min(width, rect.x1)), y0..<max(y0, min(height, rect.y1)))
    }

    /// Whether `rect` lies on lawn or bare ground only (no road, paving or building).
    private func isFree(_ rect: PixelRect) -> Bool {
        let (xs, ys) = clipped(rect)
        for y in ys {
            for x in xs where ground[y * width + x] != .lawn && ground[y * width + x] != .bare {
                return false
            }
        }
        return true
    }

    /// Round tree crowns in the yards, never over a road, driveway or building.
    private mutating func placeTrees(_ rng: inout SplitMix64) {
        let attempts = width * height / 900
        for _ in 0..<attempts {
            let r = 4 + Int(rng.below(8))
            let cx = Int(rng.below(UInt64(width))), cy = Int(rng.below(UInt64(height)))
            guard isFree(PixelRect(x0: cx - r - 2, y0: cy - r - 2, x1: cx + r + 3, y1: cy + r + 3)) else { continue }
            trees.append((cx, cy, r))
            fill(PixelRect(x0: cx - r, y0: cy - r, x1: cx + r + 1, y1: cy + r + 1)) { i in
                let dx = i % width - cx, dy = i / width - cy
                if dx * dx + dy * dy <= r * r { ground[i] = .tree }
            }
        }
    }

    /// The storm's strength at a point: 1 on the track, falling off across it.
    func storm(_ x: Double, _ y: Double) -> Double {
        let across = (x - track.x) * track.dy - (y - track.y) * track.dx
        return exp(-(across * across) / (track.width * track.width))
    }

    /// Picks each building's damage from the storm's strength at its centre, then floods it.
    private mutating func assignDamage(_ rng: inout SplitMix64) {
        for k in buildings.indices {
            let f = buildings[k].footprint
            let s = storm(Double(f.x0 + f.x1) / 2, Double(f.y0 + f.y1) / 2)
            // Cumulative chances of destroyed, major and minor damage; the rest is undamaged.
            let chances: (Double, Double, Double) =
                s > 0.7 ? (0.6, 0.85, 0.95) : s > 0.35 ? (0.2, 0.55, 0.85) : s > 0.1 ? (0.05, 0.2, 0.55) : (0, 0.02, 0.12)
            let u = rng.unit()
            var b = buildings[k]
            b.damage = u < chances.0 ? .destroyed : u < chances.1 ? .majorDamage : u < chances.2 ? .minorDamage : .noDamage
            switch b.damage {
            case .minorDamage:
                for _ in 0..<(1 + Int(rng.below(2))) {
                    let w = max(4, Int(Double(f.width) * (0.25 + 0.3 * rng.unit())))
                    let h = max(4, Int(Double(f.height) * (0.25 + 0.3 * rng.unit())))
                    let x0 = f.x0 + 1 + Int(rng.below(UInt64(max(1, f.width - w - 1))))
                    let y0 = f.y0 + 1 + Int(rng.below(UInt64(max(1, f.height - h - 1))))
                    b.tarps.append(PixelRect(x0: x0, y0: y0, x1: x0 + w, y1: y0 + h))
                }
            case .majorDamage:
                let share = 0.35 + 0.3 * rng.unit()
                let fromStart = rng.below(2) == 0
                if b.ridgeAlongX || f.width >= f.height {
                    let cut = Int(Double(f.width) * share)
                    b.missing = fromStart ? PixelRect(x0: f.x0, y0: f.y0, x1: f.x0 + cut, y1: f.y1)
                                          : PixelRect(x0: f.x1 - cut, y0: f.y0, x1: f.x1, y1: f.y1)
                } else {
                    let cut = Int(Double(f.height) * share)
                    b.missing = fromStart ? PixelRect(x0: f.x0, y0: f.y0, x1: f.x1, y1: f.y0 + cut)
                                          : PixelRect(x0: f.x0, y0: f.y1 - cut, x1: f.x1, y1: f.y1)
                }
            case .destroyed:
                b.rubbleShare = rng.below(4) == 0 ? 0.3 + 0.3 * rng.unit() : 1
            case .background, .noDamage:
                break
            }
            let centre = (f.y0 + f.y1) / 2 * width + (f.x0 + f.x1) / 2
            if flooded[centre] && (b.damage == .noDamage || b.damage == .minorDamage) {
                b.damage = .majorDamage
                b.tarps = []
            }
            buildings[k] = b
        }
    }

    /// Debris density on the ground after the storm: strewn along the track and around damaged buildings.
    private func debrisDensity() -> [Float] {
        var density = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let s = storm(Double(x), Double(y))
                if s > 0.3 { density[y * width + x] = Float(0.12 * s) }
            }
        }
        for b in buildings {
            let (reach, peak): (Int, Float) = switch b.damage {
            case .destroyed: (14, 0.6)
            case .majorDamage where b.missing != nil: (9, 0.35)
            case .minorDamage: (4, 0.08)
            default: (0, 0)
            }
            guard reach > 0 else { continue }
            let f = b.footprint
            fill(f.expanded(by: reach)) { i in
                let x = i % width, y = i / width
                let dx = max(f.x0 - x, 0, x - f.x1 + 1), dy = max(f.y0 - y, 0, y - f.y1 + 1)
                let d = Float(max(dx, dy))
                density[i] = max(density[i], peak * (1 - d / Float(reach + 1)))
            }
        }
        return density
    }

    /// Pixels in the shadow of buildings and trees for a sun in the direction (`sx`, `sy`) pixels per
    /// metre of height; destroyed buildings cast none after the storm.
    private func shadows(sx: Double, sy: Double, post: Bool) -> [Bool] {
        var shadow = [Bool](repeating: false, count: width * height)
        func cast(_ x: Int, _ y: Int, length: Int) {
            for step in 1...max(1, length) {
                let px = x + Int((Double(step) * sx).rounded()), py = y + Int((Double(step) * sy).rounded())
                if px >= 0, py >= 0, px < width, py < height { shadow[py * width + px] = true }
            }
        }
        for b in buildings where !(post && b.damage == .destroyed) {
            let length = b.footprint.width > 45 ? 9 : 6
            fill(b.footprint) { i in cast(i % width, i / width, length: length) }
        }
        for t in trees {
            fill(PixelRect(x0: t.x - t.r, y0: t.y - t.r, x1: t.x + t.r + 1, y1: t.y + t.r + 1)) { i in
                let dx = i % width - t.x, dy = i / width - t.y
                if dx * dx + dy * dy <= t.r * t.r { cast(i % width, i / width, length: t.r) }
            }
        }
        return shadow
    }

    /// The RGB imagery of one acquisition, band after band.
    func render(post: Bool) -> [UInt8] {
        var rng = SplitMix64(seed: seed ^ (post ? 0x9057_0001 : 0x09E0_0001))
        let grain = ValueNoise(seed: rng.next(), cell: 1)
        let fine = ValueNoise(seed: rng.next(), cell: 3)
        // Ground patterns belong to the place, so both acquisitions share them.
        var place = SplitMix64(seed: seed ^ 0x9_1ACE)
        let lawnPatches = ValueNoise(seed: place.next(), cell: 40)
        let crowns = ValueNoise(seed: place.next(), cell: 3)
        let rubble = ValueNoise(seed: place.next(), cell: 2)
        let scatter = ValueNoise(seed: place.next(), cell: 1)
        let sunAngle = (post ? 0.9 : 1.25) * .pi + rng.unit() * 0.3
        let shadow = shadows(sx: cos(sunAngle), sy: sin(sunAngle), post: post)
        let gain = post ? Colour(0.92 + 0.16 * rng.unit(), 0.92 + 0.16 * rng.unit(), 0.9 + 0.16 * rng.unit()) : Colour(1, 1, 1)
        let haze = post ? 12 * rng.unit() : 4 * rng.unit()
        let debris = post ? debrisDensity() : []
        let debrisColours = [Colour(150, 122, 88), Colour(92, 72, 52), Colour(205, 203, 196), Colour(125, 125, 122),
                             Colour(112, 96, 78), Colour(178, 150, 140)]
        let plane = width * height
        var out = [UInt8](repeating: 0, count: plane * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                let pieceIndex = Int(scatter.lattice(x / 2, y / 2 + 7919) * Double(debrisColours.count))
                var c: Colour
                var isGround = true
                if buildingAt[i] >= 0 {
                    isGround = false
                    c = roofColour(buildings[Int(buildingAt[i])], x, y, post: post, rubble: rubble,
                                   piece: debrisColours[pieceIndex])
                } else {
                    switch ground[i] {
                    case .lawn:
                        let p = lawnPatches.value(x, y)
                        c = Colour(88 + 50 * p, 122 + 18 * p, 62 + 20 * p)
                        if post { c = c * (1 - 0.25 * storm(Double(x), Double(y))) + 10 * storm(Double(x), Double(y)) }
                    case .bare: c = Colour(150, 134, 108)
                    case .road: c = Colour(92, 92, 96)
                    case .paving: c = Colour(168, 166, 158)
                    case .tree:
                        c = Colour(46, 76, 40) * (0.7 + 0.6 * crowns.value(x, y))
                        // Trees near the track are stripped to bare, brown branches.
                        if post && storm(Double(x), Double(y)) > 0.6 { c = Colour(98, 88, 70) * (0.7 + 0.6 * crowns.value(x, y)) }
                    }
                    if post && flooded[i] {
                        c = Colour(122, 102, 72) * (0.92 + 0.1 * fine.value(x, y))
                    } else if post && scatter.value(x, y) < Double(debris[i]) {
                        c = debrisColours[pieceIndex] * (0.85 + 0.3 * rubble.value(x, y))
                    }
                }
                if isGround && shadow[i] { c = c * 0.55 }
                c = c * (0.94 + 0.12 * fine.value(x, y)) + (grain.value(x, y) - 0.5) * 8 + haze
                let rgb = [c.r * gain.r, c.g * gain.g, c.b * gain.b]
                for b in 0..<3 { out[b * plane + i] = UInt8(max(0, min(255, rgb[b].rounded()))) }
            }
        }
        return out
    }

    /// The colour of a roof pixel: a lit and a shaded gable face with dark eaves before the storm;
    /// tarps, exposed rafters or rubble after it.
    private func roofColour(_ b: Building, _ x: Int, _ y: Int, post: Bool, rubble: ValueNoise, piece: Colour) -> Colour {
        let f = b.footprint
        if post && b.damage == .destroyed {
            let slab = Colour(176, 174, 166) * (0.9 + 0.15 * rubble.value(x, y))
            let rubbleEnds = f.x0 + Int(Double(f.width) * b.rubbleShare)
            return x < rubbleEnds ? piece * (0.75 + 0.5 * rubble.value(x, y)) : slab
        }
        if post, let missing = b.missing, missing.contains(x, y) {
            let along = b.ridgeAlongX ? x : y
            let rafter = Colour(168, 138, 98), interior = Colour(58, 48, 42)
            return along % 4 == 0 ? rafter : (rubble.value(x, y) > 0.7 ? piece : interior)
        }
        if post, b.tarps.contains(where: { $0.contains(x, y) }) {
            return Colour(44, 96, 178) * (0.9 + 0.2 * rubble.value(x, y))
        }
        if post && b.damage == .minorDamage && rubble.lattice(x, y) < 0.06 {
            return Colour(70, 60, 52)  // patches of missing shingles
        }
        if x == f.x0 || y == f.y0 || x == f.x1 - 1 || y == f.y1 - 1 { return b.roof * 0.7 }
        guard f.width <= 45 else { return b.roof }  // flat commercial roof
        let litFace = b.ridgeAlongX ? y < (f.y0 + f.y1) / 2 : x >= (f.x0 + f.x1) / 2
        return b.roof * (litFace ? 1.12 : 0.84)
    }
}

extension SplitMix64 {
    /// A uniform number in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A uniform integer in 0..<bound (bound > 0); the tiny modulo bias does not matter here.
    mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }
}
