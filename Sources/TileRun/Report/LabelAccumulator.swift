/// The class of each quicklook pixel (the most frequent in its box) and each class's pixel count over
/// the whole scene, from finished class-map rows that arrive in row order.
struct LabelAccumulator: Sendable {
    let grid: QuicklookGrid
    let classCount: Int
    /// Per quicklook pixel, the channel index shown, or -1 for nodata.
    private(set) var labels: [Int32]
    /// Scene pixels per channel, then nodata, of the quicklook rows settled so far (the row being filled
    /// is still in `histogram`).
    private var settledPixels: [Int]
    /// The next scene row expected.
    private var nextRow = 0
    /// Counts per quicklook pixel of the quicklook row being filled: `classCount` channels, then nodata.
    private var histogram: [UInt32]
    /// The scene columns in runs that fall into one quicklook column, left to right.
    private let columnRuns: [(column: Int, columns: Range<Int>)]

    init(grid: QuicklookGrid, classCount: Int) {
        self.grid = grid
        self.classCount = classCount
        labels = [Int32](repeating: -1, count: grid.width * grid.height)
        settledPixels = [Int](repeating: 0, count: classCount + 1)
        histogram = [UInt32](repeating: 0, count: grid.width * (classCount + 1))
        columnRuns = grid.columnRuns(0..<grid.sceneWidth)
    }

    /// Scene pixels per channel.
    var pixels: [Int] { (0..<classCount).map(pixelCount) }
    var nodataPixels: Int { pixelCount(slot: classCount) }

    /// Scene pixels added with channel `slot` (`classCount`: nodata): the settled ones and the row being filled.
    private func pixelCount(slot: Int) -> Int {
        let slots = classCount + 1
        return (0..<grid.width).reduce(settledPixels[slot]) { $0 + Int(histogram[$1 * slots + slot]) }
    }

    /// Adds whole scene rows from `firstRow` on: channel indices, `nodata` where there is none,
    /// `sceneWidth` per row.
    mutating func add<Label: FixedWidthInteger>(rows rowLabels: [Label], firstRow: Int, nodata: Label) {
        guard !rowLabels.isEmpty else { return }
        precondition(firstRow == nextRow, "class rows must arrive in order: expected row \(nextRow), got \(firstRow)")
        let width = grid.sceneWidth
        precondition(rowLabels.count % width == 0 && firstRow + rowLabels.count / width <= grid.sceneHeight)
        let classCount = self.classCount, slots = classCount + 1, columnRuns = self.columnRuns
        rowLabels.withUnsafeBufferPointer { all in
            // Checked once here, so that below every label is a valid histogram slot.
            if !Self.allValid(all, nodata: nodata, classCount: classCount) {
                let label = all.first { $0 != nodata && !($0 >= 0 && $0 < classCount) }!
                preconditionFailure("label \(label) is not a channel of \(classCount)")
            }
            for r in 0..<(rowLabels.count / width) {
                let y = firstRow + r
                let row = all.baseAddress! + r * width
                histogram.withUnsafeMutableBufferPointer { histogram in
                    for run in columnRuns {
                        let counts = histogram.baseAddress! + run.column * slots
                        for x in run.columns {
                            let label = row[x]
                            counts[label == nodata ? classCount : Int(truncatingIfNeeded: label)] += 1
                        }
                    }
                }
                if y + 1 == grid.sceneHeight || grid.cellRow(y + 1) != grid.cellRow(y) { finishCellRow(grid.cellRow(y)) }
            }
        }
        nextRow = firstRow + rowLabels.count / width
    }

    /// Whether every label is `nodata` or a channel index below `classCount`.
    private static func allValid<Label: FixedWidthInteger>(_ labels: UnsafeBufferPointer<Label>, nodata: Label,
                                                         classCount: Int) -> Bool {
        // Labels of a type too narrow to hold classCount are all below it.
        guard let limit = Label(exactly: classCount) else { return labels.allSatisfy { $0 == nodata || $0 >= 0 } }
        // Flags combined with & and | rather than && and ||: a loop without branches, which vectorizes.
        var invalid: UInt8 = 0
        for i in 0..<labels.count {
            let label = labels[i]
            let isData: UInt8 = label != nodata ? 1 : 0
            let negative: UInt8 = label < 0 ? 1 : 0
            let tooLarge: UInt8 = label >= limit ? 1 : 0
            invalid |= isData & (negative | tooLarge)
        }
        return invalid == 0
    }

    /// Settles one quicklook row on its most frequent labels (ties: the lowest channel, nodata last),
    /// adds its counts to the settled pixels and clears the histogram for the next.
    private mutating func finishCellRow(_ row: Int) {
        let slots = classCount + 1, width = grid.width, classCount = self.classCount
        histogram.withUnsafeMutableBufferPointer { histogram in
            labels.withUnsafeMutableBufferPointer { labels in
                for column in 0..<width {
                    let counts = histogram.baseAddress! + column * slots
                    var best = 0
                    for slot in 0..<slots where counts[slot] > counts[best] { best = slot }
                    labels[row * width + column] = best == classCount ? -1 : Int32(best)
                }
            }
            settledPixels.withUnsafeMutableBufferPointer { settled in
                // No overflow: the sums count scene pixels.
                for column in 0..<width {
                    for slot in 0..<slots { settled[slot] &+= Int(histogram[column * slots + slot]) }
                }
            }
            histogram.update(repeating: 0)
        }
    }
}
