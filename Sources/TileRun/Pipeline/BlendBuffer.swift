/// Weighted sums of tile predictions for the rows of a scene that are still open (at most one tile
/// high), so memory depends on the scene's width and the tile size, never on its height.
///
/// Tiles are added in grid order, and each pixel's sum is accumulated in that order, so the result
/// does not depend on how tiles were scheduled.
struct BlendBuffer {
    let width: Int
    let capacity: Int
    let classes: Int
    /// The scene row held in buffer row 0.
    private(set) var top = 0
    /// Per class, `capacity` rows of `width` weighted probability sums.
    private var sums: [Float]
    private var weights: [Float]
    /// 1 where the input pixel holds data.
    private var valid: [UInt8]

    init(width: Int, rows: Int, classes: Int) {
        self.width = width
        capacity = rows
        self.classes = classes
        sums = [Float](repeating: 0, count: classes * rows * width)
        weights = [Float](repeating: 0, count: rows * width)
        valid = [UInt8](repeating: 0, count: rows * width)
    }

    /// Adds one tile's probabilities (`classes` planes of `tileSize`²) at scene column `x`, row `y`,
    /// weighted by `columnWeights[i] × rowWeights[j]`; the parts outside the scene are dropped.
    mutating func add(tile probabilities: UnsafePointer<Float>, tileSize: Int, x: Int, y: Int, sceneHeight: Int,
                      columnWeights: [Float], rowWeights: [Float]) {
        precondition(y >= top && min(y + tileSize, sceneHeight) - top <= capacity, "tile rows outside the open band")
        let plane = capacity * width
        let tilePlane = tileSize * tileSize
        let columns = min(tileSize, width - x)
        sums.withUnsafeMutableBufferPointer { sums in
            weights.withUnsafeMutableBufferPointer { weights in
                for j in 0..<min(tileSize, sceneHeight - y) where rowWeights[j] > 0 {
                    let row = (y + j - top) * width + x
                    for i in 0..<columns {
                        let w = columnWeights[i] * rowWeights[j]
                        if w == 0 { continue }
                        weights[row + i] += w
                        for k in 0..<classes {
                            sums[k * plane + row + i] += w * probabilities[k * tilePlane + j * tileSize + i]
                        }
                    }
                }
            }
        }
    }

    /// Marks the pixels of `window` (inside the scene and the open band) whose `mask` entry is nonzero as data.
    mutating func markValid(_ window: RasterWindow, mask: [UInt8]) {
        for j in 0..<window.height {
            let row = (window.y + j - top) * width + window.x
            for i in 0..<window.width where mask[j * window.width + i] != 0 { valid[row + i] = 1 }
        }
    }

    /// The finished rows `top..<row`: for each pixel the winning channel (first of equal maxima), or nil
    /// for nodata; and, when asked, the blended probabilities, class after class, NaN for nodata.
    /// The band then moves down so that `row` becomes its first row.
    mutating func finish(through row: Int, probabilities wantProbabilities: Bool) -> (labels: [Int32], probabilities: [Float]?) {
        let count = row - top
        precondition(count >= 0 && count <= capacity)
        let plane = capacity * width
        let pixels = count * width
        var labels = [Int32](repeating: -1, count: pixels)
        var probabilities = wantProbabilities ? [Float](repeating: .nan, count: classes * pixels) : nil
        for p in 0..<pixels where valid[p] != 0 && weights[p] > 0 {
            var best = 0
            var bestSum = sums[p]
            for k in 1..<max(classes, 1) where sums[k * plane + p] > bestSum {
                best = k
                bestSum = sums[k * plane + p]
            }
            labels[p] = Int32(best)
            if probabilities != nil {
                for k in 0..<classes { probabilities![k * pixels + p] = sums[k * plane + p] / weights[p] }
            }
        }
        shift(by: count)
        top = row
        return (labels, probabilities)
    }

    /// Moves rows `count...` to the start and clears the rows freed at the end.
    private mutating func shift(by count: Int) {
        guard count > 0 else { return }
        let kept = (capacity - count) * width
        let moved = count * width
        // In place: slicing the array to copy from it would make copy-on-write duplicate the whole buffer.
        func slide<T: Numeric>(_ array: inout [T], planes: Int) {
            let plane = capacity * width
            array.withUnsafeMutableBufferPointer { a in
                for k in 0..<planes {
                    let base = a.baseAddress! + k * plane
                    if kept > 0 { base.update(from: base + moved, count: kept) }
                    (base + kept).update(repeating: 0, count: moved)
                }
            }
        }
        slide(&sums, planes: classes)
        slide(&weights, planes: 1)
        slide(&valid, planes: 1)
    }
}
