import Foundation

/// How overlapping tile predictions are combined into one.
public enum Blending: String, Sendable, Codable, CaseIterable {
    /// A smooth crossfade (sin², the two halves of a Hann window) across each overlap.
    case hann
    /// Each pixel from the tile whose centre is nearest: a hard cut in the middle of each overlap.
    case center
}

/// Where the tiles of one scene go: square windows of `tileSize` stepping by at most `tileSize - overlap`,
/// evenly spread, the first and last flush with the scene's edges.
public struct TileGrid: Equatable, Sendable {
    /// The scene's size in pixels.
    public let width: Int
    public let height: Int
    public let tileSize: Int
    /// The least overlap between neighbouring tiles (the last ones may overlap more).
    public let overlap: Int
    /// Left columns of the tile columns, ascending.
    public let columns: [Int]
    /// Top rows of the tile rows, ascending.
    public let rows: [Int]

    /// The grid for a `width` × `height` scene; `overlap` must be smaller than `tileSize`.
    public init(width: Int, height: Int, tileSize: Int, overlap: Int) {
        precondition(width > 0 && height > 0 && tileSize > 0 && overlap >= 0 && overlap < tileSize)
        self.width = width
        self.height = height
        self.tileSize = tileSize
        self.overlap = overlap
        columns = TileGrid.positions(length: width, tileSize: tileSize, overlap: overlap)
        rows = TileGrid.positions(length: height, tileSize: tileSize, overlap: overlap)
    }

    /// Tile origins along one axis, spread evenly from 0 to `length - tileSize`, so that neighbours
    /// overlap by at least `overlap` and by about the same amount everywhere (a flush-last layout would
    /// leave one pair overlapping by almost a whole tile, and the blend would have to hold all of it).
    /// A scene shorter than a tile gets one tile at 0 that reaches past its end (the reader pads it by
    /// reflection); otherwise every tile lies inside the scene.
    public static func positions(length: Int, tileSize: Int, overlap: Int) -> [Int] {
        guard length > tileSize else { return [0] }
        let step = tileSize - overlap
        let span = length - tileSize
        let gaps = (span + step - 1) / step
        return (0...gaps).map { $0 * span / gaps }
    }

    /// Every tile window, row by row (the order predictions are blended in), `tileSize` square;
    /// windows may reach past the scene only where the scene is smaller than a tile.
    public var windows: [RasterWindow] {
        rows.flatMap { y in columns.map { x in RasterWindow(x: x, y: y, width: tileSize, height: tileSize) } }
    }

    /// The blend weight along one axis for the tile at `position`, one value per tile pixel.
    ///
    /// Edges on the scene's border keep weight 1, so border pixels are always covered. At an inner edge
    /// the outer `margin` pixels get weight 0: there the prediction sees the tile edge (padding) instead
    /// of the neighbouring pixels, so it would differ from a whole-scene prediction. The neighbour's
    /// weight is positive there, because the overlap is at least twice the margin.
    /// - Hann: margin = overlap / 4, then a sin² ramp over the middle half of the overlap, so two
    ///   neighbours' weights sum to 1 across a nominal overlap.
    /// - Center: weight 0 up to the middle of the overlap, 1 after.
    public func axisWeights(position: Int, sceneLength: Int, blending: Blending) -> [Float] {
        var weights = [Float](repeating: 1, count: tileSize)
        let innerStart = position > 0
        let innerEnd = position + tileSize < sceneLength
        switch blending {
        case .hann:
            let margin = overlap / 4
            let length = overlap - 2 * margin
            // The weight `i` pixels from an inner edge; the two edges mirror each other.
            func ramp(_ i: Int) -> Float {
                if i < margin { return 0 }
                if i >= margin + length { return 1 }
                let s = sin(Double.pi / 2 * (Double(i - margin) + 0.5) / Double(length))
                return Float(s * s)
            }
            for i in 0..<tileSize {
                if innerStart { weights[i] *= ramp(i) }
                if innerEnd { weights[i] *= ramp(tileSize - 1 - i) }
            }
        case .center:
            // Left edges drop overlap/2 (rounded down) pixels, right edges the rest, so they meet exactly.
            let leftCut = overlap / 2
            let rightCut = overlap - leftCut
            for i in 0..<tileSize {
                if innerStart && i < leftCut { weights[i] = 0 }
                if innerEnd && i >= tileSize - rightCut { weights[i] = 0 }
            }
        }
        return weights
    }
}
