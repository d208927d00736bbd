import Foundation
@testable import TileRun
import XCTest

/// The accumulators against plain per-pixel versions of themselves: the same sums bit for bit, counts,
/// labels and shares, over windows in any order, masks, NaN, one or three display bands.
final class QuicklookAccumulatorTests: XCTestCase {
    /// Per-pixel sums and counts in the order the scene's pixels are added, as `ImageryAccumulator` must give.
    private struct ReferenceImagery {
        let grid: QuicklookGrid
        let displayBands: [Int]
        var sums: [Double]
        var counts: [UInt32]

        init(grid: QuicklookGrid, displayBands: [Int]) {
            self.grid = grid
            self.displayBands = displayBands
            sums = [Double](repeating: 0, count: grid.width * grid.height * displayBands.count)
            counts = [UInt32](repeating: 0, count: grid.width * grid.height)
        }

        mutating func add(_ values: [Float], window: RasterWindow, valid: [UInt8]?, counted: RasterWindow) {
            let plane = window.pixelCount, bands = displayBands.count
            let x0 = max(counted.x, window.x, 0), x1 = min(counted.maxX, window.maxX, grid.sceneWidth)
            let y0 = max(counted.y, window.y, 0), y1 = min(counted.maxY, window.maxY, grid.sceneHeight)
            guard x0 < x1, y0 < y1 else { return }
            for y in y0..<y1 {
                pixels: for x in x0..<x1 {
                    let p = (y - window.y) * window.width + x - window.x
                    if let valid, valid[p] == 0 { continue }
                    for band in displayBands where values[band * plane + p].isNaN { continue pixels }
                    let cell = grid.cellRow(y) * grid.width + grid.cellColumns[x]
                    for (b, band) in displayBands.enumerated() { sums[cell * bands + b] += Double(values[band * plane + p]) }
                    counts[cell] += 1
                }
            }
        }
    }

    func testImageryMatchesPerPixelSums() {
        var random = SplitMix64(seed: 7)
        for (width, height, maxSide) in [(37, 23, 1024), (300, 170, 64), (129, 257, 50)] {
            let grid = QuicklookGrid(sceneWidth: width, sceneHeight: height, maxSide: maxSide)
            for displayBands in [[0], [2], [0, 1, 2], [3, 1, 0]] {
                for masked in [false, true] {
                    var imagery = ImageryAccumulator(grid: grid, displayBands: displayBands)
                    var reference = ReferenceImagery(grid: grid, displayBands: displayBands)
                    for _ in 0..<12 {
                        let window = RasterWindow(x: random.below(width) - 3, y: random.below(height) - 3,
                                                  width: 1 + random.below(width / 2), height: 1 + random.below(height / 2))
                        let counted = RasterWindow(x: window.x + random.below(4), y: window.y + random.below(4),
                                                   width: window.width, height: window.height - random.below(3))
                        // Fractions of very different magnitudes make the sums' bits depend on the order of addition.
                        let values = (0..<(4 * window.pixelCount)).map { _ -> Float in
                            random.below(17) == 0 ? .nan : Float(random.below(1 << 20)) / Float(1 << random.below(24))
                        }
                        let valid = masked ? (0..<window.pixelCount).map { _ in UInt8(random.below(5) == 0 ? 0 : 1) } : nil
                        imagery.add(values, window: window, valid: valid, counted: counted)
                        reference.add(values, window: window, valid: valid, counted: counted)
                    }
                    for cell in 0..<(grid.width * grid.height) {
                        XCTAssertEqual(imagery.hasData(cell: cell), reference.counts[cell] != 0)
                        guard reference.counts[cell] != 0 else { continue }
                        for b in displayBands.indices {
                            let expected = reference.sums[cell * displayBands.count + b] / Double(reference.counts[cell])
                            XCTAssertEqual(imagery.mean(cell: cell, band: b).bitPattern, expected.bitPattern,
                                           "\(width)x\(height) bands \(displayBands) masked \(masked) cell \(cell)")
                        }
                    }
                }
            }
        }
    }

    func testLabelsMatchPerPixelCounts() {
        var random = SplitMix64(seed: 11)
        for (width, height, maxSide) in [(37, 23, 1024), (300, 170, 64), (129, 257, 50)] {
            let grid = QuicklookGrid(sceneWidth: width, sceneHeight: height, maxSide: maxSide)
            let classCount = 5
            // Patches of one class, as in class maps, and nodata here and there.
            let scene = (0..<(width * height)).map { p -> Int16 in
                random.below(9) == 0 ? -1 : Int16((p % width / 7 + p / width / 5 + random.below(2)) % classCount)
            }
            var labels = LabelAccumulator(grid: grid, classCount: classCount)
            var row = 0
            while row < height {
                let rows = min(1 + random.below(40), height - row)
                labels.add(rows: Array(scene[(row * width)..<((row + rows) * width)]), firstRow: row, nodata: -1)
                row += rows
                // Shares count every row added, also of a quicklook row not settled yet.
                let seen = scene[0..<(row * width)]
                XCTAssertEqual(labels.pixels, (0..<classCount).map { c in seen.filter { $0 == c }.count })
                XCTAssertEqual(labels.nodataPixels, seen.filter { $0 == -1 }.count)
            }
            for qy in 0..<grid.height {
                for qx in 0..<grid.width {
                    var counts = [Int](repeating: 0, count: classCount + 1)
                    for y in 0..<height where grid.cellRow(y) == qy {
                        for x in 0..<width where grid.cellColumns[x] == qx {
                            let label = Int(scene[y * width + x])
                            counts[label < 0 ? classCount : label] += 1
                        }
                    }
                    let best = counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) }!
                    XCTAssertEqual(labels.labels[qy * grid.width + qx], best == classCount ? -1 : Int32(best),
                                   "\(width)x\(height) quicklook pixel (\(qx), \(qy))")
                }
            }
        }
    }
}

private extension SplitMix64 {
    /// A number from 0 to `n - 1`.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
