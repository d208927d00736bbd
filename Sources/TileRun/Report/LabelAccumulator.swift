/// The class of each quicklook pixel (the most frequent in its box) and each class's pixel count over
/// the whole scene, from finished class-map rows that arrive in row order.
struct LabelAccumulator: Sendable {
    let grid: QuicklookGrid
    let classCount: Int
    /// Per quicklook pixel, the channel index shown, or -1 for nodata.
    private(set) var labels: [Int32]
    /// Scene pixels per channel.
    private(set) var pixels: [Int]
    private(set) var nodataPixels = 0
    /// The next scene row expected.
    private var nextRow = 0
    /// Counts per quicklook pixel of the quicklook row being filled: `classCount` channels, then nodata.
    private var histogram: [UInt32]

    init(grid: QuicklookGrid, classCount: Int) {
        self.grid = grid
        self.classCount = classCount
        labels = [Int32](repeating: -1, count: grid.width * grid.height)
        pixels = [Int](repeating: 0, count: classCount)
        histogram = [UInt32](repeating: 0, count: grid.width * (classCount + 1))
    }

    /// Adds whole scene rows from `firstRow` on: channel indices, `nodata` where there is none,
    /// `sceneWidth` per row.
    mutating func add<Label: FixedWidthInteger>(rows rowLabels: [Label], firstRow: Int, nodata: Label) {
        guard !rowLabels.isEmpty else { return }
        precondition(firstRow == nextRow, "class rows must arrive in order: expected row \(nextRow), got \(firstRow)")
        precondition(rowLabels.count % grid.sceneWidth == 0 && firstRow + rowLabels.count / grid.sceneWidth <= grid.sceneHeight)
        let slots = classCount + 1
        for r in 0..<(rowLabels.count / grid.sceneWidth) {
            let y = firstRow + r
            for x in 0..<grid.sceneWidth {
                let label = rowLabels[r * grid.sceneWidth + x]
                let slot: Int
                if label == nodata {
                    slot = classCount
                    nodataPixels += 1
                } else {
                    slot = Int(label)
                    precondition(slot >= 0 && slot < classCount, "label \(label) is not a channel of \(classCount)")
                    pixels[slot] += 1
                }
                histogram[grid.cellColumns[x] * slots + slot] += 1
            }
            if y + 1 == grid.sceneHeight || grid.cellRow(y + 1) != grid.cellRow(y) { finishCellRow(grid.cellRow(y)) }
        }
        nextRow = firstRow + rowLabels.count / grid.sceneWidth
    }

    /// Settles one quicklook row on its most frequent labels (ties: the lowest channel, nodata last)
    /// and clears the histogram for the next.
    private mutating func finishCellRow(_ row: Int) {
        let slots = classCount + 1
        for column in 0..<grid.width {
            let counts = histogram[(column * slots)..<((column + 1) * slots)]
            var best = counts.startIndex
            for slot in counts.indices where counts[slot] > counts[best] { best = slot }
            let channel = best - counts.startIndex
            labels[row * grid.width + column] = channel == classCount ? -1 : Int32(channel)
        }
        histogram.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
}
