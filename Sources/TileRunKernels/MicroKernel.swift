// The register-blocked inner kernels shared by SGEMM and convolution.
//
// A tile of C is `rows` × 16: A comes packed as k-major micro-panels of 6 (or 5, 4) rows, and each k
// step is two vector loads of 16 B values, one broadcast per row of A and two FMAs per row. 6 × 16 uses
// 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers; 5 × 16 and 4 × 16 serve
// the row remainders (16 = 6 + 5 + 5) without computing padding rows.
//
// B is read through a `PanelLayout`: either a packed k-major panel (16 floats per k), or 16 floats at
// a per-k offset — rows of input read at tap offsets, in the stride-1 convolution.
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

/// Where the 16 B values of each of `k` steps are: consecutive in a packed panel, or at
/// `b + offsets[k]`.
struct PanelLayout {
    var k: Int
    var offsets: UnsafePointer<Int>?

    static func packed(_ k: Int) -> PanelLayout { PanelLayout(k: k, offsets: nil) }
}

/// A register tile of `height` × 16 accumulators.
protocol Accumulator {
    static var height: Int { get }
    init()
    /// One k step: `height` values of A (broadcast) times 16 values of B.
    mutating func step(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>)
    /// Stores rows `0 ..< rows` (the others are A's zero padding) through the epilogue.
    func store(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue)
}

/// 12 accumulators + 2 B vectors + 1 broadcast: 15 of the 16 ymm registers.
struct Accumulator6x16: Accumulator {
    static var height: Int { 6 }
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()

    @inline(__always)
    mutating func step(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) {
        let b0 = loadVector(b), b1 = loadVector(b + 8)
        var s = SIMD8<Float>(repeating: a[0])
        c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[1])
        c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[2])
        c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[3])
        c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[4])
        c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[5])
        c50.addProduct(s, b0); c51.addProduct(s, b1)
    }

    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
        e.store(c00, row: 0, c); e.store(c01, row: 0, c + 8)
        if rows > 1 { e.store(c10, row: 1, c + ldc); e.store(c11, row: 1, c + ldc + 8) }
        if rows > 2 { e.store(c20, row: 2, c + 2 * ldc); e.store(c21, row: 2, c + 2 * ldc + 8) }
        if rows > 3 { e.store(c30, row: 3, c + 3 * ldc); e.store(c31, row: 3, c + 3 * ldc + 8) }
        if rows > 4 { e.store(c40, row: 4, c + 4 * ldc); e.store(c41, row: 4, c + 4 * ldc + 8) }
        if rows > 5 { e.store(c50, row: 5, c + 5 * ldc); e.store(c51, row: 5, c + 5 * ldc + 8) }
        e.activate(c, ldc, rows: rows)
    }
}

/// 10 accumulators: still enough independent FMA chains to cover the FMA latency (4 cycles × 2 ports),
/// which 4 × 16 only just reaches.
struct Accumulator5x16: Accumulator {
    static var height: Int { 5 }
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()

    @inline(__always)
    mutating func step(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) {
        let b0 = loadVector(b), b1 = loadVector(b + 8)
        var s = SIMD8<Float>(repeating: a[0])
        c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[1])
        c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[2])
        c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[3])
        c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[4])
        c40.addProduct(s, b0); c41.addProduct(s, b1)
    }

    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
        e.store(c00, row: 0, c); e.store(c01, row: 0, c + 8)
        if rows > 1 { e.store(c10, row: 1, c + ldc); e.store(c11, row: 1, c + ldc + 8) }
        if rows > 2 { e.store(c20, row: 2, c + 2 * ldc); e.store(c21, row: 2, c + 2 * ldc + 8) }
        if rows > 3 { e.store(c30, row: 3, c + 3 * ldc); e.store(c31, row: 3, c + 3 * ldc + 8) }
        if rows > 4 { e.store(c40, row: 4, c + 4 * ldc); e.store(c41, row: 4, c + 4 * ldc + 8) }
        e.activate(c, ldc, rows: rows)
    }
}

/// For remainders that 6s and 5s cannot cover (m = 2, 3, 4, 8, 14, …).
struct Accumulator4x16: Accumulator {
    static var height: Int { 4 }
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()

    @inline(__always)
    mutating func step(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) {
        let b0 = loadVector(b), b1 = loadVector(b + 8)
        var s = SIMD8<Float>(repeating: a[0])
        c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[1])
        c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[2])
        c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = SIMD8<Float>(repeating: a[3])
        c30.addProduct(s, b0); c31.addProduct(s, b1)
    }

    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
        e.store(c00, row: 0, c); e.store(c01, row: 0, c + 8)
        if rows > 1 { e.store(c10, row: 1, c + ldc); e.store(c11, row: 1, c + ldc + 8) }
        if rows > 2 { e.store(c20, row: 2, c + 2 * ldc); e.store(c21, row: 2, c + 2 * ldc + 8) }
        if rows > 3 { e.store(c30, row: 3, c + 3 * ldc); e.store(c31, row: 3, c + 3 * ldc + 8) }
        e.activate(c, ldc, rows: rows)
    }
}

/// C[0..<rows, 0..<16] ← epilogue(Σ_k A[k] ⊗ B[k]) over a packed B panel, A packed `height` per k.
@inline(__always)
func packedKernel<Tile: Accumulator>(_: Tile.Type, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    var acc = Tile()
    var pa = a, pb = b
    for _ in 0..<k {
        acc.step(pa, pb)
        pa += Tile.height
        pb += tileColumns
    }
    acc.store(c, ldc, rows: rows, e)
}

/// `packedKernel` with the B values of step k at `b + offsets[k]`: rows of input read at tap offsets,
/// where the taps of one input row need no copies of their own.
@inline(__always)
func offsetKernel<Tile: Accumulator>(_: Tile.Type, _ k: Int, _ offsets: UnsafePointer<Int>,
                                     _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    var acc = Tile()
    var pa = a
    for i in 0..<k {
        acc.step(pa, b + offsets[i])
        pa += Tile.height
    }
    acc.store(c, ldc, rows: rows, e)
}

// One out-of-line copy per tile height and B layout. Concrete (not generic) functions, because inside
// generic specializations the optimizer has been seen to leave `loadUnaligned` as a call per vector.

@inline(never)
func packedKernel6(_ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    packedKernel(Accumulator6x16.self, k, a, b, c, ldc, rows: rows, e)
}

@inline(never)
func packedKernel5(_ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    packedKernel(Accumulator5x16.self, k, a, b, c, ldc, rows: rows, e)
}

@inline(never)
func packedKernel4(_ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    packedKernel(Accumulator4x16.self, k, a, b, c, ldc, rows: rows, e)
}

@inline(never)
func offsetKernel6(_ k: Int, _ offsets: UnsafePointer<Int>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    offsetKernel(Accumulator6x16.self, k, offsets, a, b, c, ldc, rows: rows, e)
}

@inline(never)
func offsetKernel5(_ k: Int, _ offsets: UnsafePointer<Int>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    offsetKernel(Accumulator5x16.self, k, offsets, a, b, c, ldc, rows: rows, e)
}

@inline(never)
func offsetKernel4(_ k: Int, _ offsets: UnsafePointer<Int>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, _ e: Epilogue) {
    offsetKernel(Accumulator4x16.self, k, offsets, a, b, c, ldc, rows: rows, e)
}

/// One row block of packed A: `height` (6, 5 or 4) rows per k in the panel, of which `rows` are real,
/// stored `offset` floats into the packed A.
struct RowBlock {
    var start: Int
    var height: Int
    var rows: Int
    var offset: Int

    /// Cuts `m` rows into blocks of 6 and 5 where possible (every m ≥ 20), else of 6 and 4; only a few
    /// small m compute padding rows. Blocks are packed one after the other with `k` steps each.
    static func partition(_ m: Int, k: Int) -> [RowBlock] {
        let fives = (6 - m % 6) % 6
        var heights: [Int]
        if 5 * fives <= m {
            heights = Array(repeating: 6, count: (m - 5 * fives) / 6) + Array(repeating: 5, count: fives)
        } else if m % 6 == 2, m >= 8 {
            heights = Array(repeating: 6, count: m / 6 - 1) + [4, 4]
        } else {
            heights = Array(repeating: 6, count: m / 6) + [4]  // m % 6 is 1 … 4 here
        }
        var blocks: [RowBlock] = []
        var start = 0
        for h in heights {
            blocks.append(RowBlock(start: start, height: h, rows: min(h, m - start), offset: start * k))
            start += h
        }
        return blocks
    }
}

/// Runs the kernel for one row block over one 16-column tile of B; `columns` < 16 goes through a
/// scratch tile so that nothing outside C is read or written.
@inline(__always)
func runTile(_ block: RowBlock, _ layout: PanelLayout, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
             _ c: UnsafeMutablePointer<Float>, _ ldc: Int, columns: Int, _ e: Epilogue,
             scratch: UnsafeMutablePointer<Float>) {
    @inline(__always)
    func kernel(_ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        switch (block.height, layout.offsets) {
        case (6, nil): packedKernel6(layout.k, a, b, c, ldc, rows: block.rows, e)
        case (5, nil): packedKernel5(layout.k, a, b, c, ldc, rows: block.rows, e)
        case (_, nil): packedKernel4(layout.k, a, b, c, ldc, rows: block.rows, e)
        case (6, let offsets?): offsetKernel6(layout.k, offsets, a, b, c, ldc, rows: block.rows, e)
        case (5, let offsets?): offsetKernel5(layout.k, offsets, a, b, c, ldc, rows: block.rows, e)
        case (_, let offsets?): offsetKernel4(layout.k, offsets, a, b, c, ldc, rows: block.rows, e)
        }
    }
    if columns == tileColumns {
        kernel(c, ldc)
        return
    }
    if e.beta != 0 {
        for r in 0..<block.rows {
            for j in 0..<columns { scratch[r * tileColumns + j] = c[r * ldc + j] }
        }
    }
    kernel(scratch, tileColumns)
    for r in 0..<block.rows {
        for j in 0..<columns { c[r * ldc + j] = scratch[r * tileColumns + j] }
    }
}
