import Foundation
import TileRunKernels

/// Blends tile predictions, tile by tile in grid order, and finishes every pixel as soon as no later
/// tile covers it.
///
/// Each tile's pixels split into a part that is final once the tile is added (above the next tile row,
/// left of the next tile) and parts that later tiles overlap. Only those overlaps are kept: a strip of
/// columns for the next tile of the row, and a strip of rows (the vertical overlap, full width) for the
/// next tile row. Memory is therefore about `overlap × width` sums, not a tile-high band of the scene.
///
/// Pixels that one tile alone covers need no blending: their class is the tile's own argmax, and the
/// model's output is read there directly. Only overlaps are turned into probabilities and weighted
/// (unless the probabilities are written, which blends every pixel). Every pixel's weighted sum is
/// accumulated in grid order, so the result does not depend on how tiles were scheduled; the rows of a
/// tile are blended on `threads` threads, each row's arithmetic the same whichever thread does it.
final class TileBlender {
    let grid: TileGrid
    let classes: Int
    let threads: Int
    let wantProbabilities: Bool
    /// Whether the model's output is already probabilities (else logits, turned into probabilities here).
    let outputIsProbabilities: Bool
    private let columnWeights: [[Float]]
    private let rowWeights: [[Float]]
    /// Sums per class then the weight sum.
    private let planes: Int

    /// Carried sums of the rows the next tile row overlaps, full width: `planes` planes of
    /// `rowCarryCapacity` rows, row 0 being scene row `rowCarryTop`.
    private let rowCarry: UnsafeMutablePointer<Float>
    private let rowCarryPlane: Int
    private var rowCarryTop: Int
    /// Carried sums of the columns the next tile of this row overlaps: `planes` planes of
    /// `min(tileSize, height)` rows of `columnCarryCapacity`, column 0 being scene column `columnCarryLeft`.
    /// A tile reads `columnCarry` and fills `nextColumnCarry`; the two then swap.
    private var columnCarry: UnsafeMutablePointer<Float>
    private var nextColumnCarry: UnsafeMutablePointer<Float>
    private let columnCarryCapacity: Int
    private let columnCarryPlane: Int
    private var columnCarryLeft = 0
    /// Per worker, the sums of one row of a tile to finish (`planes` rows of `tileSize`), then its
    /// probabilities (`classes` rows): `rowScratch` floats each.
    private let scratch: UnsafeMutablePointer<Float>
    private let rowScratch: Int

    /// The finished rows of the current tile row: `band.rows` rows from scene row `band.top`.
    private(set) var band: FinishedBand

    /// A blender whose first tile is at tile row `firstTileRow` (a resumed scene's). Sums that earlier rows
    /// would have carried into it start at zero, so its bands are those of a run from row 0 only where no
    /// earlier row reaches them (see `TileGrid.firstTileRow(reaching:)`).
    init(grid: TileGrid, classes: Int, blending: Blending, probabilities: Bool, outputIsProbabilities: Bool,
         firstTileRow: Int = 0, threads: Int = 1) {
        self.grid = grid
        self.threads = max(1, min(threads, grid.tileSize))
        rowCarryTop = firstTileRow < grid.rows.count ? grid.rows[firstTileRow] : 0
        self.classes = classes
        wantProbabilities = probabilities
        self.outputIsProbabilities = outputIsProbabilities
        columnWeights = grid.columns.map { grid.axisWeights(position: $0, sceneLength: grid.width, blending: blending) }
        rowWeights = grid.rows.map { grid.axisWeights(position: $0, sceneLength: grid.height, blending: blending) }
        let t = grid.tileSize
        func largestOverlap(_ positions: [Int]) -> Int {
            zip(positions, positions.dropFirst()).map { $0 + t - $1 }.max() ?? 0
        }
        planes = classes + 1
        rowCarryPlane = largestOverlap(grid.rows) * grid.width
        columnCarryCapacity = largestOverlap(grid.columns)
        columnCarryPlane = min(t, grid.height) * columnCarryCapacity
        func zeros(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        rowCarry = zeros(planes * rowCarryPlane)
        columnCarry = zeros(planes * columnCarryPlane)
        nextColumnCarry = zeros(planes * columnCarryPlane)
        rowScratch = (planes + classes) * t
        scratch = zeros(self.threads * rowScratch)
        band = FinishedBand(top: 0, rows: 0, width: grid.width, classes: classes, probabilities: probabilities)
    }

    deinit {
        for p in [rowCarry, columnCarry, nextColumnCarry, scratch] { p.deallocate() }
    }

    /// Adds the tile at grid position (`row`, `column`) — the model's output for it, `classes` planes of
    /// `tileSize`² logits (or probabilities), or nil for a tile left out (all nodata) — and finishes the
    /// pixels no later tile covers. `valid` is the data mask of the tile's window inside the scene
    /// (`h × w`, row-major). Tiles must come in grid order; the first tile of a row starts a new `band`.
    func add(row r: Int, column c: Int, output: UnsafePointer<Float>?, valid: [UInt8]) {
        let t = grid.tileSize
        let y = grid.rows[r], x = grid.columns[c]
        let h = min(t, grid.height - y), w = min(t, grid.width - x)
        let rowsDone = grid.finishedRows(tileRow: r), columnsDone = grid.finishedColumns(tileColumn: c)
        if c == 0 { band.reset(top: y, rows: rowsDone.count) }
        // Scene rows [y, topEnd) carry sums from the tile row above; tile columns [0, carriedEnd) from the
        // previous tile of this row. Rows from nextTop and tile columns from keptStart are carried on.
        let topEnd = r > 0 ? min(grid.rows[r - 1] + t, grid.height) : y
        let carriedEnd = c > 0 ? min(grid.columns[c - 1] + t, grid.width) - x : 0
        let nextTop = rowsDone.upperBound, keptStart = columnsDone.upperBound - x
        let cuts = [0, min(carriedEnd, keptStart), max(carriedEnd, keptStart), w]
        let columnWeights = self.columnWeights[c], rowWeights = self.rowWeights[r]
        let width = grid.width, bandTop = band.top, bandPlane = band.rows * width
        columnWeights.withUnsafeBufferPointer { columnWeights in
            // Whether every tile column of span s has weight: the same for every row of the tile.
            let weightedSpans = (0..<3).map { s in (cuts[s]..<cuts[s + 1]).allSatisfy { columnWeights[$0] > 0 } }
            valid.withUnsafeBufferPointer { valid in
                band.withBuffers { labels, probabilities in
                    // Row j's sums carried to the next tile row go where row j - (nextTop - y) read those
                    // carried from the row above: rows are blended in parallel in phases of that many rows,
                    // so that each such row has read its sums before they are overwritten.
                    let phaseRows = nextTop - y
                    for phase in Swift.stride(from: 0, to: h, by: phaseRows) {
                        parallelChunks(of: phase..<min(phase + phaseRows, h), threads: threads) { part, worker in
                            let rowSums = scratch + worker * rowScratch, rowProbabilities = rowSums + planes * t
                            for j in part {
                                let sceneRow = y + j
                                let row = Row(tile: j, weight: rowWeights[j], columnWeights: columnWeights.baseAddress!,
                                              valid: valid.baseAddress! + j * w, sums: rowSums, probabilities: rowProbabilities)
                                let offset = (sceneRow - bandTop) * width + x
                                for s in 0..<3 where cuts[s] < cuts[s + 1] {
                                    let span = cuts[s]..<cuts[s + 1]
                                    let fromColumnCarry = span.lowerBound < carriedEnd
                                    let fromRowCarry = !fromColumnCarry && sceneRow < topEnd
                                    let toColumnCarry = span.lowerBound >= keptStart
                                    let toRowCarry = !toColumnCarry && sceneRow >= nextTop
                                    if !(fromColumnCarry || fromRowCarry || toColumnCarry || toRowCarry || wantProbabilities) {
                                        if let output { label(row, span, weighted: weightedSpans[s], output: output, into: labels + offset) }
                                        continue
                                    }
                                    let source: UnsafePointer<Float>?, sourceStride: Int
                                    if fromColumnCarry {
                                        (source, sourceStride) = (UnsafePointer(columnCarry + j * columnCarryCapacity + (x - columnCarryLeft)), columnCarryPlane)
                                    } else if fromRowCarry {
                                        (source, sourceStride) = (UnsafePointer(rowCarry + (sceneRow - rowCarryTop) * width + x), rowCarryPlane)
                                    } else {
                                        (source, sourceStride) = (nil, 0)
                                    }
                                    if toColumnCarry {
                                        blend(row, span, from: source, stride: sourceStride, output: output,
                                              into: nextColumnCarry + j * columnCarryCapacity - keptStart, stride: columnCarryPlane)
                                    } else if toRowCarry {
                                        blend(row, span, from: source, stride: sourceStride, output: output,
                                              into: rowCarry + (sceneRow - nextTop) * width + x, stride: rowCarryPlane)
                                    } else {
                                        blend(row, span, from: source, stride: sourceStride, output: output, into: rowSums, stride: t)
                                        finish(row, span, labels: labels + offset, probabilities: probabilities.map { $0 + offset }, bandPlane: bandPlane)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        swap(&columnCarry, &nextColumnCarry)
        columnCarryLeft = columnsDone.upperBound
        if c + 1 == grid.columns.count { rowCarryTop = nextTop }
    }

    /// One row of the tile being added.
    private struct Row {
        /// Row in the tile.
        let tile: Int
        /// The tile's blend weight for this row; the weight of tile column `i` is `columnWeights[i] × weight`.
        let weight: Float
        let columnWeights: UnsafePointer<Float>
        /// The data mask of this row of the tile's window.
        let valid: UnsafePointer<UInt8>
        /// The worker's scratch rows: sums to finish (`planes` rows of `tileSize`), probabilities (`classes` rows).
        let sums: UnsafeMutablePointer<Float>
        let probabilities: UnsafeMutablePointer<Float>
    }

    /// Labels the tile columns `span` of `row`, which this tile alone covers: the argmax of its output
    /// (softmax and a positive weight do not change the order), where there is data and weight.
    /// `weighted`: every column of `span` has a positive weight.
    private func label(_ row: Row, _ span: Range<Int>, weighted: Bool, output: UnsafePointer<Float>,
                       into labels: UnsafeMutablePointer<UInt8>) {
        guard row.weight > 0 else { return }
        let t = grid.tileSize, plane = t * t
        let values = output + row.tile * t
        // Usually every pixel of the span has data and weight: then the labels are stored eight at a time.
        let everywhere = weighted && memchr(row.valid + span.lowerBound, 0, span.count) == nil
        var i = span.lowerBound
        while i + 8 <= span.upperBound {
            let index = argmax8(values + i, planeStride: plane)
            if everywhere {
                UnsafeMutableRawPointer(labels + i).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: index), as: SIMD8<UInt8>.self)
            } else {
                for lane in 0..<8 where row.valid[i + lane] != 0 && row.columnWeights[i + lane] > 0 {
                    labels[i + lane] = UInt8(truncatingIfNeeded: index[lane])
                }
            }
            i += 8
        }
        for i in i..<span.upperBound where row.valid[i] != 0 && row.columnWeights[i] > 0 {
            labels[i] = UInt8(argmax(values + i, planeStride: plane))
        }
    }

    /// Writes the sums of the tile columns `span` of `row` to `sums` (planes `sumsStride` apart, indexed
    /// by tile column): the carried sums at `source` (planes `stride` apart, indexed by tile column; nil:
    /// none) plus the tile's weighted probabilities.
    private func blend(_ row: Row, _ span: Range<Int>, from source: UnsafePointer<Float>?, stride: Int,
                       output: UnsafePointer<Float>?, into sums: UnsafeMutablePointer<Float>, stride sumsStride: Int) {
        let t = grid.tileSize, classes = self.classes, first = span.lowerBound
        guard let output, row.weight > 0 else {
            for k in 0..<planes {
                let target = sums + k * sumsStride + first
                if let source { target.update(from: source + k * stride + first, count: span.count) } else { target.update(repeating: 0, count: span.count) }
            }
            return
        }
        var probabilities = UnsafePointer(output + row.tile * t), planeStride = t * t
        if !outputIsProbabilities {
            // The softmax runs on whole groups of eight tile columns, so each pixel's arithmetic depends only
            // on its place in the tile, as when the whole tile is converted at once.
            let start = first & ~7, end = min(t, (span.upperBound + 7) & ~7)
            softmaxChannels(probabilities, sourcePlane: planeStride, into: row.probabilities, items: 1, channels: classes,
                            plane: t, pixels: start..<end)
            (probabilities, planeStride) = (UnsafePointer(row.probabilities), t)
        }
        for k in 0..<planes {
            blendRow(into: sums + k * sumsStride + first, carried: source.map { $0 + k * stride + first },
                     values: k < classes ? probabilities + k * planeStride + first : nil,
                     columnWeights: row.columnWeights + first, rowWeight: row.weight, count: span.count)
        }
    }

    /// Writes the labels (and probabilities, class planes `bandPlane` apart) of the tile columns `span` of
    /// `row` from their sums in `row.sums`.
    private func finish(_ row: Row, _ span: Range<Int>, labels: UnsafeMutablePointer<UInt8>, probabilities: UnsafeMutablePointer<Float>?,
                        bandPlane: Int) {
        let t = grid.tileSize, classes = self.classes
        let rowSums = row.sums, weights = rowSums + classes * t
        var i = span.lowerBound
        while i + 8 <= span.upperBound {
            let index = argmax8(rowSums + i, planeStride: t)
            for lane in 0..<8 where row.valid[i + lane] != 0 && weights[i + lane] > 0 {
                labels[i + lane] = UInt8(truncatingIfNeeded: index[lane])
            }
            i += 8
        }
        for i in i..<span.upperBound where row.valid[i] != 0 && weights[i] > 0 {
            labels[i] = UInt8(argmax(rowSums + i, planeStride: t))
        }
        guard let probabilities else { return }
        for i in span where row.valid[i] != 0 && weights[i] > 0 {
            for k in 0..<classes { probabilities[k * bandPlane + i] = rowSums[k * t + i] / weights[i] }
        }
    }

    /// For eight pixels in a row, the first class (of `classes` planes `planeStride` apart from `values`)
    /// with the largest value.
    @inline(__always)
    private func argmax8(_ values: UnsafePointer<Float>, planeStride: Int) -> SIMD8<Int32> {
        var best = loadVector(values)
        var index = SIMD8<Int32>(repeating: 0)
        for k in 1..<max(classes, 1) {
            let v = loadVector(values + k * planeStride)
            let better = v .> best
            best.replace(with: v, where: better)
            index.replace(with: Int32(k), where: better)
        }
        return index
    }

    /// The first class (of `classes` values `planeStride` apart from `values`) with the largest value:
    /// `argmax8` for one pixel.
    @inline(__always)
    private func argmax(_ values: UnsafePointer<Float>, planeStride: Int) -> Int {
        var best = 0
        for k in 1..<max(classes, 1) where values[k * planeStride] > values[best * planeStride] { best = k }
        return best
    }
}

extension TileGrid {
    /// The scene rows that no tile row after `row` covers: those it finishes.
    func finishedRows(tileRow row: Int) -> Range<Int> {
        rows[row]..<(row + 1 < rows.count ? rows[row + 1] : height)
    }

    /// The first tile row whose tiles reach scene row `row`: the earliest that contributes to it.
    func firstTileRow(reaching row: Int) -> Int {
        rows.firstIndex { $0 + tileSize > row }!
    }

    /// The scene columns that no tile column after `column` covers.
    func finishedColumns(tileColumn column: Int) -> Range<Int> {
        columns[column]..<(column + 1 < columns.count ? columns[column + 1] : width)
    }
}

/// Finished rows of a scene: the winning output channel per pixel (`FinishedBand.nodata` where the input
/// holds no data; models have at most 255 output channels) and, when asked for, the blended probabilities class after class (NaN for nodata).
struct FinishedBand {
    static let nodata = UInt8.max
    private(set) var top: Int
    private(set) var rows: Int
    let width: Int
    let classes: Int
    var labels: [UInt8]
    var probabilities: [Float]?

    init(top: Int, rows: Int, width: Int, classes: Int, probabilities: Bool) {
        self.top = top
        self.rows = rows
        self.width = width
        self.classes = classes
        labels = [UInt8](repeating: FinishedBand.nodata, count: rows * width)
        self.probabilities = probabilities ? [Float](repeating: .nan, count: classes * rows * width) : nil
    }

    /// Starts the band of `rows` rows from scene row `top`, all nodata, reusing the buffers: bands are
    /// width-sized, and allocating one per tile row would fragment the heap on wide scenes.
    mutating func reset(top: Int, rows: Int) {
        self.top = top
        self.rows = rows
        labels.removeAll(keepingCapacity: true)
        labels.append(contentsOf: repeatElement(FinishedBand.nodata, count: rows * width))
        if probabilities != nil {
            probabilities!.removeAll(keepingCapacity: true)
            probabilities!.append(contentsOf: repeatElement(Float.nan, count: classes * rows * width))
        }
    }

    /// Calls `body` with the labels and the probabilities (nil when not kept).
    mutating func withBuffers<R>(_ body: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<Float>?) -> R) -> R {
        labels.withUnsafeMutableBufferPointer { labels in
            guard probabilities != nil else { return body(labels.baseAddress!, nil) }
            return probabilities!.withUnsafeMutableBufferPointer { body(labels.baseAddress!, $0.baseAddress!) }
        }
    }
}
