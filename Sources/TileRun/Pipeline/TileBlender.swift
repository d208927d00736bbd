import TileRunKernels

/// Blends tile predictions, tile by tile in grid order, and finishes every pixel as soon as no later
/// tile covers it.
///
/// Each tile's pixels split into a part that is final once the tile is added (above the next tile row,
/// left of the next tile) and parts that later tiles overlap. Only those overlaps are kept: a strip of
/// columns for the next tile of the row, and a strip of rows (the vertical overlap, full width) for the
/// next tile row. Memory is therefore about `overlap × width` sums, not a tile-high band of the scene.
///
/// Every pixel's weighted sum is accumulated in grid order, so the result does not depend on how
/// tiles were scheduled.
struct TileBlender {
    let grid: TileGrid
    let classes: Int
    let wantProbabilities: Bool
    private let columnWeights: [[Float]]
    private let rowWeights: [[Float]]
    /// Sums per class then the weight sum: `classes + 1` planes.
    private var planes: Int { classes + 1 }

    /// Carried sums of the rows the next tile row overlaps, full width: `planes` planes of
    /// `rowCarryCapacity` rows, row 0 being scene row `rowCarryTop`.
    private var rowCarry: [Float]
    private let rowCarryCapacity: Int
    private var rowCarryTop = 0
    /// Carried sums of the columns the next tile of this row overlaps: `planes` planes of
    /// `columnCarryRows × columnCarryCapacity`, column 0 being scene column `columnCarryLeft`.
    private var columnCarry: [Float]
    private let columnCarryCapacity: Int
    private var columnCarryLeft = 0
    private var columnCarryRows = 0
    /// The tile being blended, `planes × h × w`.
    private var accumulator: [Float]

    /// The finished rows of the current tile row: `band.rows` rows from scene row `band.top`.
    private(set) var band: FinishedBand

    /// A blender whose first tile is at tile row `firstTileRow` (a resumed scene's). Sums that earlier rows
    /// would have carried into it start at zero, so its bands are those of a run from row 0 only where no
    /// earlier row reaches them (see `TileGrid.firstTileRow(reaching:)`).
    init(grid: TileGrid, classes: Int, blending: Blending, probabilities: Bool, firstTileRow: Int = 0) {
        self.grid = grid
        rowCarryTop = firstTileRow < grid.rows.count ? grid.rows[firstTileRow] : 0
        self.classes = classes
        wantProbabilities = probabilities
        columnWeights = grid.columns.map { grid.axisWeights(position: $0, sceneLength: grid.width, blending: blending) }
        rowWeights = grid.rows.map { grid.axisWeights(position: $0, sceneLength: grid.height, blending: blending) }
        let t = grid.tileSize
        func largestOverlap(_ positions: [Int]) -> Int {
            zip(positions, positions.dropFirst()).map { $0 + t - $1 }.max() ?? 0
        }
        rowCarryCapacity = largestOverlap(grid.rows)
        columnCarryCapacity = largestOverlap(grid.columns)
        let planes = classes + 1
        rowCarry = [Float](repeating: 0, count: planes * rowCarryCapacity * grid.width)
        columnCarry = [Float](repeating: 0, count: planes * min(t, grid.height) * columnCarryCapacity)
        accumulator = [Float](repeating: 0, count: planes * min(t, grid.height) * min(t, grid.width))
        band = FinishedBand(top: 0, rows: 0, width: grid.width, classes: classes, probabilities: probabilities)
    }

    /// Adds the tile at grid position (`row`, `column`) — `classes` planes of `tileSize`² probabilities,
    /// or nil for a tile left out (all nodata) — and finishes the pixels no later tile covers.
    /// `valid` is the data mask of the tile's window inside the scene (`h × w`, row-major).
    /// Tiles must come in grid order; the first tile of a row starts a new `band`.
    mutating func add(row r: Int, column c: Int, probabilities: UnsafePointer<Float>?, valid: [UInt8]) {
        let t = grid.tileSize
        let width = grid.width
        let y = grid.rows[r], x = grid.columns[c]
        let h = min(t, grid.height - y), w = min(t, width - x)
        let rowsDone = grid.finishedRows(tileRow: r), columnsDone = grid.finishedColumns(tileColumn: c)
        if c == 0 { band.reset(top: y, rows: rowsDone.count) }
        // Columns [x, leftEnd) come from the previous tile of this row; rows [y, topEnd) from the tile row above.
        let leftEnd = c > 0 ? min(grid.columns[c - 1] + t, width) : x
        let topEnd = r > 0 ? min(grid.rows[r - 1] + t, grid.height) : y
        let planes = self.planes, classes = self.classes
        let plane = h * w
        let rowPlane = rowCarryCapacity * width
        let columnPlane = columnCarryRows * columnCarryCapacity
        let columnWeights = self.columnWeights[c], rowWeights = self.rowWeights[r]
        let (carryTop, carryLeft) = (rowCarryTop, columnCarryLeft)

        accumulator.withUnsafeMutableBufferPointer { a in
            rowCarry.withUnsafeMutableBufferPointer { rows in
                columnCarry.withUnsafeMutableBufferPointer { columns in
                    for k in 0..<planes {
                        for j in 0..<h {
                            let out = a.baseAddress! + k * plane + j * w
                            let carriedColumns = leftEnd - x
                            if carriedColumns > 0 {
                                let from = columns.baseAddress! + k * columnPlane + j * columnCarryCapacity + (x - carryLeft)
                                out.update(from: from, count: carriedColumns)
                            }
                            let rest = out + carriedColumns
                            if y + j < topEnd {
                                rest.update(from: rows.baseAddress! + k * rowPlane + (y + j - carryTop) * width + leftEnd, count: w - carriedColumns)
                            } else {
                                rest.update(repeating: 0, count: w - carriedColumns)
                            }
                        }
                    }
                }
            }
            if let probabilities {
                columnWeights.withUnsafeBufferPointer { cw in
                    for j in 0..<h where rowWeights[j] > 0 {
                        let row = a.baseAddress! + j * w
                        addRowWeights(row + classes * plane, columnWeights: cw.baseAddress!, rowWeight: rowWeights[j], count: w)
                        for k in 0..<classes {
                            addWeightedRow(row + k * plane, probabilities + k * t * t + j * t, columnWeights: cw.baseAddress!,
                                           rowWeight: rowWeights[j], count: w)
                        }
                    }
                }
            }
        }
        finish(rows: rowsDone, columns: columnsDone, x: x, y: y, w: w, plane: plane, valid: valid)

        // Keep what later tiles overlap: the columns right of this tile's finished part, and the rows
        // below the finished band for this tile's finished columns (the row carry's columns there have
        // all been read by now, so they are overwritten in place).
        let nextLeft = columnsDone.upperBound, nextTop = rowsDone.upperBound
        columnCarryLeft = nextLeft
        columnCarryRows = h
        let keptColumns = x + w - nextLeft
        let newColumnPlane = h * columnCarryCapacity
        accumulator.withUnsafeBufferPointer { a in
            columnCarry.withUnsafeMutableBufferPointer { columns in
                rowCarry.withUnsafeMutableBufferPointer { rows in
                    for k in 0..<planes {
                        for j in 0..<h {
                            let source = a.baseAddress! + k * plane + j * w
                            if keptColumns > 0 {
                                (columns.baseAddress! + k * newColumnPlane + j * columnCarryCapacity)
                                    .update(from: source + (nextLeft - x), count: keptColumns)
                            }
                            if y + j >= nextTop {
                                (rows.baseAddress! + k * rowPlane + (y + j - nextTop) * width + x)
                                    .update(from: source, count: columnsDone.count)
                            }
                        }
                    }
                }
            }
        }
        if c + 1 == grid.columns.count { self.rowCarryTop = nextTop }
    }

    /// Writes the labels (and probabilities) of the finished rows × columns of the tile at (`x`, `y`).
    private mutating func finish(rows: Range<Int>, columns: Range<Int>, x: Int, y: Int, w: Int, plane: Int, valid: [UInt8]) {
        let classes = self.classes
        let bandTop = band.top, width = band.width, bandPlane = band.rows * width
        accumulator.withUnsafeBufferPointer { a in
            band.labels.withUnsafeMutableBufferPointer { labels in
                for row in rows {
                    for column in columns {
                        let p = (row - y) * w + (column - x)
                        let out = (row - bandTop) * width + column
                        let weight = a[classes * plane + p]
                        guard valid[p] != 0, weight > 0 else { continue }
                        var best = 0
                        var bestSum = a[p]
                        for k in 1..<max(classes, 1) where a[k * plane + p] > bestSum {
                            best = k
                            bestSum = a[k * plane + p]
                        }
                        labels[out] = UInt8(best)
                    }
                }
            }
            guard wantProbabilities else { return }
            band.probabilities!.withUnsafeMutableBufferPointer { probabilities in
                for row in rows {
                    for column in columns {
                        let p = (row - y) * w + (column - x)
                        let out = (row - bandTop) * width + column
                        let weight = a[classes * plane + p]
                        guard valid[p] != 0, weight > 0 else { continue }
                        for k in 0..<classes { probabilities[k * bandPlane + out] = a[k * plane + p] / weight }
                    }
                }
            }
        }
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
}
