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
        precondition(plane > 0 && values.count % plane == 0 && displayBands.allSatisfy { $0 < values.count / plane },
                     "the window holds fewer bands than the display bands name")
        precondition(valid == nil || valid!.count == plane)
        let x0 = max(counted.x, window.x, 0), x1 = min(counted.maxX, window.maxX, grid.sceneWidth)
        let y0 = max(counted.y, window.y, 0), y1 = min(counted.maxY, window.maxY, grid.sceneHeight)
        guard x0 < x1, y0 < y1 else { return }
        let bands = displayBands.count
        let offsets = displayBands.map { $0 * plane }
        values.withUnsafeBufferPointer { v in
            for y in y0..<y1 {
                let cellRow = grid.cellRow(y) * grid.width
                let rowStart = (y - window.y) * window.width - window.x
                pixels: for x in x0..<x1 {
                    let p = rowStart + x
                    if let valid, valid[p] == 0 { continue }
                    for offset in offsets where v[offset + p].isNaN { continue pixels }
                    let cell = cellRow + grid.cellColumns[x]
                    for b in 0..<bands { sums[cell * bands + b] += Double(v[offsets[b] + p]) }
                    counts[cell] += 1
                }
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
