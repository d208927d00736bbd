/// Box averages of the display bands per quicklook pixel, from imagery windows in any order.
///
/// Sums are kept in Double: exact for integer samples and for float samples of similar magnitude, so the
/// result does not depend on the order windows arrive in.
struct ImageryAccumulator: Sendable {
    let grid: QuicklookGrid
    /// Indices into each window's bands: one (grey) or three (red, green, blue).
    let displayBands: [Int]
    /// Per quicklook pixel, one sum per display band.
    private var sums: [Double]
    /// Per quicklook pixel, the valid scene pixels summed.
    private var counts: [UInt32]

    init(grid: QuicklookGrid, displayBands: [Int]) {
        precondition(displayBands.count == 1 || displayBands.count == 3, "the quicklook shows one band (grey) or three (RGB)")
        self.grid = grid
        self.displayBands = displayBands
        sums = [Double](repeating: 0, count: grid.width * grid.height * displayBands.count)
        counts = [UInt32](repeating: 0, count: grid.width * grid.height)
    }

    /// Adds the pixels of `window` inside `counted`. `values` holds the window's bands one after another;
    /// `valid` is 1 where a pixel holds data (nil: everywhere). A pixel that is NaN in a display band is
    /// left out too.
    mutating func add(_ values: [Float], window: RasterWindow, valid: [UInt8]?, counted: RasterWindow) {
        let plane = window.pixelCount
        precondition(plane > 0 && values.count % plane == 0 && displayBands.allSatisfy { $0 >= 0 && $0 < values.count / plane },
                     "the window holds fewer bands than the display bands name")
        precondition(valid == nil || valid!.count == plane)
        let x0 = max(counted.x, window.x, 0), x1 = min(counted.maxX, window.maxX, grid.sceneWidth)
        let y0 = max(counted.y, window.y, 0), y1 = min(counted.maxY, window.maxY, grid.sceneHeight)
        guard x0 < x1, y0 < y1 else { return }
        let area = Area(grid: grid, window: window, rows: y0..<y1, runs: grid.columnRuns(x0..<x1))
        let offsets = displayBands.map { $0 * plane }
        let rgb = offsets.count == 3
        values.withUnsafeBufferPointer { v in
            let band = (v.baseAddress! + offsets[0], v.baseAddress! + offsets[rgb ? 1 : 0],
                        v.baseAddress! + offsets[rgb ? 2 : 0])
            sums.withUnsafeMutableBufferPointer { sums in
                counts.withUnsafeMutableBufferPointer { counts in
                    let target = (sums: sums.baseAddress!, counts: counts.baseAddress!)
                    // Constant arguments let each case compile to its own loop, without the tests it does not need.
                    switch (rgb, valid) {
                    case (false, nil): Self.accumulate(area, band, valid: nil, rgb: false, into: target)
                    case (true, nil): Self.accumulate(area, band, valid: nil, rgb: true, into: target)
                    case (false, let valid?):
                        valid.withUnsafeBufferPointer { Self.accumulate(area, band, valid: $0.baseAddress!, rgb: false, into: target) }
                    case (true, let valid?):
                        valid.withUnsafeBufferPointer { Self.accumulate(area, band, valid: $0.baseAddress!, rgb: true, into: target) }
                    }
                }
            }
        }
    }

    /// The scene pixels one `add` call counts, of a window's plane: `rows`, and in each the scene columns of
    /// `runs`, each run inside one quicklook `column`.
    private struct Area {
        let grid: QuicklookGrid
        let window: RasterWindow
        let rows: Range<Int>
        let runs: [(column: Int, columns: Range<Int>)]
    }

    /// Adds the pixels of `area` to the sums and counts of their quicklook pixels, row after row and left
    /// to right, as one addition per pixel and band in that order (the Double sums are the same bits as
    /// adding pixel by pixel). `band` points at the display bands' planes (all three the same plane for
    /// grey); `valid` is nil when every pixel holds data.
    @inline(__always)
    private static func accumulate(_ area: Area, _ band: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                                   valid: UnsafePointer<UInt8>?, rgb: Bool,
                                   into target: (sums: UnsafeMutablePointer<Double>, counts: UnsafeMutablePointer<UInt32>)) {
        let bands = rgb ? 3 : 1
        let grid = area.grid
        for y in area.rows {
            let cellRow = grid.cellRow(y) * grid.width
            // Index into the window's plane of scene column 0 in row y.
            let rowStart = (y - area.window.y) * area.window.width - area.window.x
            for run in area.runs {
                // A run's pixels all go to one quicklook pixel: its sums stay in registers meanwhile (red
                // holds grey).
                let cell = cellRow + run.column
                let sum = target.sums + cell * bands
                var red = sum[0], green = rgb ? sum[1] : 0, blue = rgb ? sum[2] : 0
                var count: UInt32 = 0
                for p in (rowStart + run.columns.lowerBound)..<(rowStart + run.columns.upperBound) {
                    if let valid, valid[p] == 0 { continue }
                    let r = band.0[p]
                    if rgb {
                        let g = band.1[p], b = band.2[p]
                        if r.isNaN || g.isNaN || b.isNaN { continue }
                        red += Double(r)
                        green += Double(g)
                        blue += Double(b)
                    } else {
                        if r.isNaN { continue }
                        red += Double(r)
                    }
                    count += 1
                }
                sum[0] = red
                if rgb {
                    sum[1] = green
                    sum[2] = blue
                }
                target.counts[cell] += count
            }
        }
    }

    /// Whether any valid scene pixel fell into quicklook pixel `cell`.
    func hasData(cell: Int) -> Bool { counts[cell] != 0 }

    /// The mean of display band `band` in quicklook pixel `cell`, which must have data.
    func mean(cell: Int, band: Int) -> Double {
        sums[cell * displayBands.count + band] / Double(counts[cell])
    }

    /// The means of display band `band` over the quicklook pixels with data.
    func means(band: Int) -> [Double] {
        counts.indices.filter { counts[$0] != 0 }.map { mean(cell: $0, band: band) }
    }
}
