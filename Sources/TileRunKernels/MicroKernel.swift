// The register-blocked inner kernels shared by SGEMM and convolution.
//
// A tile of C is `rows` × 16: A comes packed as k-major micro-panels of 6 (or 4) rows, B as k-major
// micro-panels of 16 columns, so each k step is two vector loads of B, one broadcast per row of A and
// two FMAs per row. 6 × 16 uses 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm
// registers; 4 × 16 serves the row remainders (16 = 6 + 6 + 4) without computing padding rows.
//
// Every element of C is one FMA chain over k in order, whichever kernel or thread computes it, which is
// what makes results independent of the thread count.

/// Columns in one micro-tile.
let tileColumns = 16

/// What happens to an accumulated tile on its way to memory: `c = act(alpha·acc + beta·c + bias[row])`.
/// `beta == 0` never reads C, so C may hold garbage then. Relu and Clip are applied in registers as a
/// clamp; the other activations run over the tile just stored, while it is in L1.
struct Epilogue {
    var alpha: Float = 1
    var beta: Float = 0
    var bias: UnsafePointer<Float>?
    private var low = -Float.infinity, high = Float.infinity
    private var activation = FusedActivation.none

    init(alpha: Float = 1, beta: Float = 0, bias: UnsafePointer<Float>? = nil, activation: FusedActivation = .none) {
        self.alpha = alpha
        self.beta = beta
        self.bias = bias
        switch activation {
        case .relu: low = 0
        case let .clip(lo, hi): (low, high) = (lo, hi)
        default: self.activation = activation
        }
    }

    @inline(__always)
    func store(_ acc: SIMD8<Float>, row: Int, _ c: UnsafeMutablePointer<Float>) {
        var v = acc
        if alpha != 1 { v = v * alpha }
        if beta == 1 { v = v + loadVector(c) } else if beta != 0 { v = v + loadVector(c) * beta }
        if let bias { v = v + bias[row] }
        // The same comparisons as FusedActivation.apply, so results match it bitwise (NaN passes).
        v = v.replacing(with: low, where: v .< low)
        storeVector(v.replacing(with: high, where: v .> high), c)
    }

    @inline(__always)
    func activate(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int) {
        if activation == .none { return }
        for r in 0..<rows { activation.apply(to: c + r * ldc, count: tileColumns) }
    }
}

/// C[0..<rows, 0..<16] ← epilogue(Σ_k A[k] ⊗ B[k]) for A packed 6 per k, B packed 16 per k;
/// rows 6 − rows … 5 of A are zero padding and are not stored.
@inline(never)
func kernel6x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = loadVector(pb), b1 = loadVector(pb + 8)
        var s = SIMD8<Float>(repeating: pa[0])
        c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[1])
        c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[2])
        c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[3])
        c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[4])
        c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[5])
        c50.addProduct(s, b0); c51.addProduct(s, b1)
        pa += 6
        pb += 16
    }
    e.store(c00, row: 0, c); e.store(c01, row: 0, c + 8)
    if rows > 1 { e.store(c10, row: 1, c + ldc); e.store(c11, row: 1, c + ldc + 8) }
    if rows > 2 { e.store(c20, row: 2, c + 2 * ldc); e.store(c21, row: 2, c + 2 * ldc + 8) }
    if rows > 3 { e.store(c30, row: 3, c + 3 * ldc); e.store(c31, row: 3, c + 3 * ldc + 8) }
    if rows > 4 { e.store(c40, row: 4, c + 4 * ldc); e.store(c41, row: 4, c + 4 * ldc + 8) }
    if rows > 5 { e.store(c50, row: 5, c + 5 * ldc); e.store(c51, row: 5, c + 5 * ldc + 8) }
    e.activate(c, ldc, rows: rows)
}

/// `kernel6x16` for A packed 4 per k.
@inline(never)
func kernel4x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = loadVector(pb), b1 = loadVector(pb + 8)
        var s = SIMD8<Float>(repeating: pa[0])
        c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[1])
        c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[2])
        c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = SIMD8<Float>(repeating: pa[3])
        c30.addProduct(s, b0); c31.addProduct(s, b1)
        pa += 4
        pb += 16
    }
    e.store(c00, row: 0, c); e.store(c01, row: 0, c + 8)
    if rows > 1 { e.store(c10, row: 1, c + ldc); e.store(c11, row: 1, c + ldc + 8) }
    if rows > 2 { e.store(c20, row: 2, c + 2 * ldc); e.store(c21, row: 2, c + 2 * ldc + 8) }
    if rows > 3 { e.store(c30, row: 3, c + 3 * ldc); e.store(c31, row: 3, c + 3 * ldc + 8) }
    e.activate(c, ldc, rows: rows)
}

/// One row block of packed A: `height` (6 or 4) rows per k in the panel, of which `rows` are real.
struct RowBlock {
    var start: Int
    var height: Int
    var rows: Int

    /// Cuts `m` rows into blocks of 6, using blocks of 4 for remainders of 2 and 4 so that only odd
    /// remainders compute padding rows.
    static func partition(_ m: Int) -> [RowBlock] {
        var heights: [Int]
        switch m % 6 {
        case 4: heights = Array(repeating: 6, count: m / 6) + [4]
        case 2 where m >= 8: heights = Array(repeating: 6, count: m / 6 - 1) + [4, 4]
        default: heights = Array(repeating: 6, count: (m + 5) / 6)
        }
        var blocks: [RowBlock] = []
        var start = 0
        for h in heights {
            blocks.append(RowBlock(start: start, height: h, rows: min(h, m - start)))
            start += h
        }
        return blocks
    }
}

/// Runs the kernel for one row block over one 16-column B micro-panel; `columns` < 16 goes through a
/// scratch tile so that nothing outside C is read or written.
@inline(__always)
func runTile(_ block: RowBlock, _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
             _ c: UnsafeMutablePointer<Float>, _ ldc: Int, columns: Int, _ e: Epilogue,
             scratch: UnsafeMutablePointer<Float>) {
    if columns == tileColumns {
        if block.height == 6 {
            kernel6x16(kc, a, b, c, ldc, rows: block.rows, e)
        } else {
            kernel4x16(kc, a, b, c, ldc, rows: block.rows, e)
        }
        return
    }
    if e.beta != 0 {
        for r in 0..<block.rows {
            for j in 0..<columns { scratch[r * tileColumns + j] = c[r * ldc + j] }
        }
    }
    if block.height == 6 {
        kernel6x16(kc, a, b, scratch, tileColumns, rows: block.rows, e)
    } else {
        kernel4x16(kc, a, b, scratch, tileColumns, rows: block.rows, e)
    }
    for r in 0..<block.rows {
        for j in 0..<columns { c[r * ldc + j] = scratch[r * tileColumns + j] }
    }
}
