/// `C[m×n] = alpha·op(A)·op(B) + beta·C`, row-major, where `op(X)` is `Xᵀ` when `transX`.
/// `op(A)` is m×k (A is m×lda or, transposed, k×lda), `op(B)` is k×n. `beta == 0` never reads C.
///
/// Threads split C into blocks of rows and columns, never the k dimension, so the result is bitwise
/// the same for any `threads` (1 runs inline on the caller's thread).
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 || alpha == 0 {
        for i in 0..<m {
            let row = c + i * ldc
            for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
        }
        return
    }
    let grid = GemmGrid(m: m, n: n, threads: threads)
    runWorkers(items: grid.rowItems * grid.columnItems, threads: threads) { queue in
        let aPanel = Scratch(count: (GemmGrid.mc + 6) * GemmGrid.kc)
        let bPanel = Scratch(count: GemmGrid.kc * grid.itemColumns)
        let tile = Scratch(count: 6 * tileColumns)
        defer { aPanel.free(); bPanel.free(); tile.free() }
        while let item = queue.claim() {
            let m0 = (item / grid.columnItems) * grid.itemRows, n0 = (item % grid.columnItems) * grid.itemColumns
            let m1 = min(m, m0 + grid.itemRows), n1 = min(n, n0 + grid.itemColumns)
            let panels = (n1 - n0 + tileColumns - 1) / tileColumns
            var p0 = 0
            while p0 < k {
                let kc = min(GemmGrid.kc, k - p0)
                packB(transB, b, ldb, columns: n0..<n1, k0: p0, kc: kc, into: bPanel.pointer)
                let epilogue = Epilogue(alpha: alpha, beta: p0 == 0 ? beta : 1)
                var i0 = m0
                while i0 < m1 {
                    let blocks = RowBlock.partition(min(GemmGrid.mc, m1 - i0), k: kc)
                    for block in blocks {
                        packA(transA, a, lda, row: i0 + block.start, block: block, k0: p0, kc: kc,
                              into: aPanel.pointer + block.offset)
                    }
                    for p in 0..<panels {
                        let j0 = n0 + p * tileColumns
                        for block in blocks {
                            runTile(block, .packed(kc), aPanel.pointer + block.offset, bPanel.pointer + p * kc * tileColumns,
                                    c + (i0 + block.start) * ldc + j0, ldc, columns: min(tileColumns, n1 - j0),
                                    epilogue, scratch: tile.pointer)
                        }
                    }
                    i0 += GemmGrid.mc
                }
                p0 += kc
            }
        }
    }
}

/// How SGEMM cuts C into work items and caches.
struct GemmGrid {
    /// k per pass: a 16-column B micro-panel (16 KiB) stays in L1.
    static let kc = 256
    /// Rows of A packed per pass: 192 × 256 floats (192 KiB) stay in L2.
    static let mc = 192

    let rowItems: Int, columnItems: Int
    let itemRows: Int, itemColumns: Int

    /// Items of at most 1024 rows × 512 columns, split further (down to 48 × 64) with several threads
    /// until there are about four per thread for load balance (each item packs its own A and B).
    /// Depends on `threads` only through item sizes, which never change any element's arithmetic.
    init(m: Int, n: Int, threads: Int) {
        var rows = min(m, 1024), columns = min(roundUp(n, tileColumns), 512)
        func count(_ rows: Int, _ columns: Int) -> Int { ((m + rows - 1) / rows) * ((n + columns - 1) / columns) }
        while threads > 1, count(rows, columns) < 4 * threads {
            if rows >= columns, rows >= 96 {
                rows = roundUp(rows / 2, 6)
            } else if columns >= 128 {
                columns = roundUp(columns / 2, tileColumns)
            } else {
                break
            }
        }
        itemRows = rows
        itemColumns = columns
        rowItems = (m + rows - 1) / rows
        columnItems = (n + columns - 1) / columns
    }
}

@inline(__always)
func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

/// Packs rows `row ..< row + block.rows`, k `k0 ..< k0 + kc` of op(A) as k-major groups of
/// `block.height`, zero-filling padding rows.
func packA(_ trans: Bool, _ a: UnsafePointer<Float>, _ lda: Int, row: Int, block: RowBlock, k0: Int, kc: Int,
           into dst: UnsafeMutablePointer<Float>) {
    let h = block.height
    if trans {
        for kk in 0..<kc {
            let src = a + (k0 + kk) * lda + row
            for r in 0..<block.rows { dst[kk * h + r] = src[r] }
            for r in block.rows..<h { dst[kk * h + r] = 0 }
        }
    } else {
        // k outermost: contiguous writes, and one sequential read stream per row.
        let src = a + row * lda + k0
        for kk in 0..<kc {
            for r in 0..<block.rows { dst[kk * h + r] = src[r * lda + kk] }
            for r in block.rows..<h { dst[kk * h + r] = 0 }
        }
    }
}

/// Packs columns `columns`, k `k0 ..< k0 + kc` of op(B) as consecutive k-major panels of 16 columns
/// (`kc · 16` floats each), zero-filling the last panel's missing columns. Reads B along its rows, which
/// are often a multiple of 4 KiB apart: walking down a 16-column strip instead thrashes the caches.
func packB(_ trans: Bool, _ b: UnsafePointer<Float>, _ ldb: Int, columns: Range<Int>, k0: Int, kc: Int,
           into dst: UnsafeMutablePointer<Float>) {
    let panelSize = kc * tileColumns
    let full = columns.count / tileColumns
    let rest = columns.count % tileColumns
    if rest > 0 { (dst + full * panelSize).update(repeating: 0, count: panelSize) }
    if trans {
        // Row j of B is column j of op(B): contiguous in k.
        for j in 0..<columns.count {
            let src = b + (columns.lowerBound + j) * ldb + k0
            let d = dst + (j / tileColumns) * panelSize + j % tileColumns
            for kk in 0..<kc { d[kk * tileColumns] = src[kk] }
        }
        return
    }
    for kk in 0..<kc {
        let src = b + (k0 + kk) * ldb + columns.lowerBound
        var d = dst + kk * tileColumns
        for p in 0..<full {
            storeVector(loadVector(src + p * tileColumns), d)
            storeVector(loadVector(src + p * tileColumns + 8), d + 8)
            d += panelSize
        }
        for j in 0..<rest { d[j] = src[full * tileColumns + j] }
    }
}
