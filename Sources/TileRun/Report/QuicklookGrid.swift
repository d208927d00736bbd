/// How scene pixels fall into quicklook pixels: the scene shrinks, keeping its aspect, until its longer
/// side is at most `maxSide`; each quicklook pixel covers the box of scene pixels that map to it.
struct QuicklookGrid: Equatable, Sendable {
    let sceneWidth: Int
    let sceneHeight: Int
    /// The quicklook's size in pixels.
    let width: Int
    let height: Int
    /// The quicklook column of each scene column.
    let cellColumns: [Int]

    init(sceneWidth: Int, sceneHeight: Int, maxSide: Int) {
        precondition(sceneWidth > 0 && sceneHeight > 0 && maxSide > 0)
        self.sceneWidth = sceneWidth
        self.sceneHeight = sceneHeight
        let longer = max(sceneWidth, sceneHeight)
        if longer <= maxSide {
            width = sceneWidth
            height = sceneHeight
        } else {
            width = max(1, (sceneWidth * maxSide + longer / 2) / longer)
            height = max(1, (sceneHeight * maxSide + longer / 2) / longer)
        }
        cellColumns = (0..<sceneWidth).map { [width] in $0 * width / sceneWidth }
    }

    /// The quicklook row of scene row `y`.
    func cellRow(_ y: Int) -> Int { y * height / sceneHeight }

    /// The scene columns `columns` in runs that fall into one quicklook column, left to right.
    func columnRuns(_ columns: Range<Int>) -> [(column: Int, columns: Range<Int>)] {
        var runs: [(column: Int, columns: Range<Int>)] = []
        for x in columns {
            let column = cellColumns[x]
            if let last = runs.last, last.column == column {
                runs[runs.count - 1].columns = last.columns.lowerBound..<(x + 1)
            } else {
                runs.append((column, x..<(x + 1)))
            }
        }
        return runs
    }
}
