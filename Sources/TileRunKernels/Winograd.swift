/// Which algorithm runs a convolution that Winograd F(4×4, 3×3) can compute (3×3, stride 1, ungrouped,
/// dilated alike on both axes with top and left pads that are multiples of the dilation); other
/// convolutions ignore it.
public enum ConvAlgorithm: Sendable {
    /// Winograd where the channel counts make it faster.
    case automatic
    case implicitGemm
    case winograd
}

/// A 3×3, stride-1, undilated, ungrouped convolution by Winograd's minimal filtering F(4×4, 3×3)
/// (Lavin & Gray, points 0, ±1, ±2, ∞): every 4×4 output tile is `Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A` with d
/// the tile's 6×6 input window, so each tile costs 36 multiply-adds per (input, output) channel pair
/// instead of 144.
///
/// Weights are transformed once at init, in Double, into 36 matrices `U[ξ]` (outChannels × inChannels)
/// packed as micro-panels for the 6×16 FMA kernel. A work item is a block of panels of 16 tiles of one
/// image (tiles numbered row-major over the output). It transforms the input windows, channel by channel,
/// into V; runs the 36 products `M[ξ] = U[ξ] V[ξ]` (outChannels × 16 per panel) on the micro-kernel with
/// the whole reduction in one pass; and transforms M back, with bias and activation, into NCHW output.
/// V and M keep the 36 values of one (channel, tile) together, so that the transforms read and write
/// them in sequence; the products read V through the kernel's per-step offsets.
/// The transforms run on SIMD8 vectors whose lanes are 8 tiles: groups of 8 tiles in one tile row read
/// and write whole rows (deinterleaved and interleaved in registers); groups that wrap to the next tile
/// row or pass the last tile gather and scatter lane by lane. Windows read zeros outside the input.
///
/// Threads split the work items only; each output element's arithmetic depends on its tile alone, so
/// results are bitwise identical for any thread count.
///
/// A dilated convolution (dilation d, DeepLab's atrous convolutions) splits into d² phases: output pixels
/// (a + d·i, b + d·j) read only input pixels (a + d·m, b + d·k) when the top and left pads are multiples of
/// d, so each phase is an undilated 3×3 convolution of its own pixels with the pads divided by d.
final class WinogradConvolution {
    let inChannels: Int
    let outChannels: Int
    private let blocks: [RowBlock]
    /// 36 packed `U[ξ]`, `positionStride` floats apart.
    private let weights: Scratch
    private let positionStride: Int

    /// Transform positions (6 × 6).
    static let positions = 36
    /// Work items hold about this many bytes of transformed input and products (at least one panel's):
    /// twice L2, which measured flat from 384 KiB to 1.5 MiB at 16 channels and better at the upper end for
    /// 128 (more tiles per pass over the transformed weights).
    static let itemBytes = 1 << 20

    /// Whether the convolution is one that this strategy computes: 3×3, stride 1, one group, the same
    /// dilation on both axes, top and left pads multiples of it.
    static func computes(_ g: Conv2DGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideY == 1 && g.strideX == 1 && g.groups == 1
            && g.dilationY == g.dilationX && g.padTop % g.dilationY == 0 && g.padLeft % g.dilationX == 0
    }

    /// Whether it beats the implicit GEMM at these channel counts: kernel-bench measured ~1.2× at 16 → 16
    /// on 512², ~2.5× from 128 channels; with 3 input channels the transforms cost more than they save.
    /// Dilated, only at dilation 2: phases of a quarter of the plane. DeepLab's 128² planes (2 threads):
    /// dilation 2, 64 → 64 channels, 12.5 → 9.0 ms; dilation 6 and 12, 64 → 32, 7.1 → 12.1 and 7.5 → 23.5 ms
    /// (phases of 22² and 11² pixels are mostly partial tiles and per-phase overhead).
    static func pays(_ g: Conv2DGeometry) -> Bool { g.inChannels >= 8 && g.outChannels >= 8 && g.dilationY <= 2 }

    /// - Parameter weights: OIHW, `outChannels × inChannels × 3 × 3`.
    init(inChannels: Int, outChannels: Int, weights: UnsafePointer<Float>) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        blocks = RowBlock.partition(outChannels, k: inChannels)
        positionStride = blocks.map { $0.height * inChannels }.reduce(0, +)
        self.weights = Scratch(count: Self.positions * positionStride)
        // U[ξ] row-major (outChannels × inChannels), then packed like any A of the micro-kernel.
        let matrixSize = outChannels * inChannels
        var u = [Float](repeating: 0, count: Self.positions * matrixSize)
        let g: [(Double, Double, Double)] = [(1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
                                             (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)]
        var gw = [Double](repeating: 0, count: 18)  // G·w, 6 × 3
        for pair in 0..<matrixSize {
            let w = weights + pair * 9
            for i in 0..<6 {
                for c in 0..<3 {
                    gw[3 * i + c] = g[i].0 * Double(w[c]) + g[i].1 * Double(w[3 + c]) + g[i].2 * Double(w[6 + c])
                }
            }
            for i in 0..<6 {
                for j in 0..<6 {
                    let value = gw[3 * i] * g[j].0 + gw[3 * i + 1] * g[j].1 + gw[3 * i + 2] * g[j].2
                    u[(6 * i + j) * matrixSize + pair] = Float(value)
                }
            }
        }
        u.withUnsafeBufferPointer { u in
            for position in 0..<Self.positions {
                for block in blocks {
                    packA(false, u.baseAddress! + position * matrixSize, inChannels, row: block.start, block: block,
                          k0: 0, kc: inChannels, into: self.weights.pointer + position * positionStride + block.offset)
                }
            }
        }
    }

    deinit { weights.free() }

    /// A dilated convolution, phase by phase: each phase's input pixels are gathered into compact planes,
    /// convolved undilated, and the results scattered to their output pixels.
    private func runPhases(_ s: ConvShape, _ input: UnsafePointer<Float>, batch: Int, _ output: UnsafeMutablePointer<Float>,
                           bias: UnsafePointer<Float>, activation: FusedActivation, threads: Int) {
        let d = s.dy
        let geometry = Conv2DGeometry(inChannels: inChannels, outChannels: outChannels, kernelHeight: 3, kernelWidth: 3,
                                      padTop: s.padTop / d, padLeft: s.padLeft / d)
        // A phase with no input pixels (wide padding) convolves one zero pixel: the same as padding.
        let phaseInput = Scratch(count: batch * inChannels * max(1, (s.height + d - 1) / d) * max(1, (s.width + d - 1) / d))
        let phaseOutput = Scratch(count: batch * outChannels * ((s.outHeight + d - 1) / d) * ((s.outWidth + d - 1) / d))
        defer { phaseInput.free(); phaseOutput.free() }
        for a in 0..<min(d, s.outHeight) {
            for b in 0..<min(d, s.outWidth) {
                let rows = max(0, s.height - a + d - 1) / d, columns = max(0, s.width - b + d - 1) / d
                let (h, w) = (max(1, rows), max(1, columns))
                let (oh, ow) = ((s.outHeight - a + d - 1) / d, (s.outWidth - b + d - 1) / d)
                if rows == 0 || columns == 0 { phaseInput.pointer.update(repeating: 0, count: batch * inChannels * h * w) }
                runWorkers(items: batch * inChannels, threads: threads) { queue in
                    while let plane = queue.claim() {
                        let source = input + plane * s.height * s.width + a * s.width + b
                        let target = phaseInput.pointer + plane * h * w
                        for m in 0..<rows {
                            for k in 0..<columns { target[m * w + k] = source[d * (m * s.width + k)] }
                        }
                    }
                }
                run(ConvShape(geometry: geometry, height: h, width: w, outHeight: oh, outWidth: ow), phaseInput.pointer,
                    batch: batch, phaseOutput.pointer, bias: bias, activation: activation, threads: threads)
                runWorkers(items: batch * outChannels, threads: threads) { queue in
                    while let plane = queue.claim() {
                        let source = phaseOutput.pointer + plane * oh * ow
                        let target = output + plane * s.outHeight * s.outWidth + a * s.outWidth + b
                        for i in 0..<oh {
                            for j in 0..<ow { target[d * (i * s.outWidth + j)] = source[i * ow + j] }
                        }
                    }
                }
            }
        }
    }

    /// Convolves `batch` images into `output` (NCHW), adding `bias` (`outChannels` values) and applying
    /// `activation`.
    func run(_ s: ConvShape, _ input: UnsafePointer<Float>, batch: Int, _ output: UnsafeMutablePointer<Float>,
             bias: UnsafePointer<Float>, activation: FusedActivation, threads: Int) {
        if s.dy > 1 {
            return runPhases(s, input, batch: batch, output, bias: bias, activation: activation, threads: threads)
        }
        let grid = TileGrid(s)
        let panels = (grid.count + tileColumns - 1) / tileColumns
        let panelBytes = Self.positions * tileColumns * (inChannels + outChannels) * 4
        // Fewer panels per item when that leaves < 4 items per thread.
        var itemPanels = max(1, min(panels, Self.itemBytes / panelBytes))
        while itemPanels > 1, batch * ((panels + itemPanels - 1) / itemPanels) < 4 * threads {
            itemPanels = (itemPanels + 1) / 2
        }
        let itemsPerImage = (panels + itemPanels - 1) / itemPanels
        // Per panel, V is [channel][ξ][16 tiles] and M is [output channel][ξ][16 tiles]: B of position ξ
        // is one row of 16 per channel, 36 · 16 floats apart.
        let channelOffsets = UnsafeMutablePointer<Int>.allocate(capacity: inChannels)
        defer { channelOffsets.deallocate() }
        for c in 0..<inChannels { channelOffsets[c] = c * Self.positions * tileColumns }
        runWorkers(items: batch * itemsPerImage, threads: threads) { queue in
            let v = Scratch(count: Self.positions * itemPanels * inChannels * tileColumns)
            let m = Scratch(count: Self.positions * itemPanels * outChannels * tileColumns)
            let lanes = Scratch(count: 40 * 8)  // a 6×6 window, or a 4×4 result and its 4×6 intermediate
            let rows = Scratch(count: 6 * (64 * itemPanels + 4))  // input rows, or clipped output rows
            let tile = Scratch(count: 6 * tileColumns)
            defer { v.free(); m.free(); lanes.free(); rows.free(); tile.free() }
            while let item = queue.claim() {
                let n = item / itemsPerImage
                let p0 = (item % itemsPerImage) * itemPanels, count = min(itemPanels, panels - p0)
                let image = input + n * inChannels * s.height * s.width
                // Channel by channel, so that the input is read a few rows at a time (planes a multiple of
                // 4 KiB apart thrash the caches when read in turn).
                for c in 0..<inChannels {
                    grid.transformChannel(image + c * s.height * s.width, first: p0 * tileColumns, groups: 2 * count,
                                          rows: rows.pointer, lanes: lanes.pointer,
                                          into: v.pointer + c * Self.positions * tileColumns,
                                          panelStride: inChannels * Self.positions * tileColumns, stride: tileColumns)
                }
                for position in 0..<Self.positions {
                    let a = weights.pointer + position * positionStride
                    for block in blocks {
                        for p in 0..<count {
                            runTile(block, PanelLayout(k: inChannels, offsets: channelOffsets), a + block.offset,
                                    v.pointer + (p * inChannels * Self.positions + position) * tileColumns,
                                    m.pointer + ((p * outChannels + block.start) * Self.positions + position) * tileColumns,
                                    Self.positions * tileColumns, columns: tileColumns, Epilogue(), scratch: tile.pointer)
                        }
                    }
                }
                let planeSize = s.outHeight * s.outWidth
                for oc in 0..<outChannels {
                    for group in 0..<2 * count {
                        let p = group / 2, half = group % 2
                        transformOutput(m.pointer + (p * outChannels + oc) * Self.positions * tileColumns + 8 * half,
                                        stride: tileColumns, bias: bias[oc], activation, into: lanes.pointer)
                        grid.storeTiles(lanes.pointer, firstTile: p0 * tileColumns + 8 * group,
                                        into: output + (n * outChannels + oc) * planeSize, rows: rows.pointer)
                    }
                }
            }
        }
    }
}

/// The 4×4 output tiles of one image, numbered row-major, and their 6×6 input windows.
private struct TileGrid {
    let s: ConvShape
    let tilesX: Int
    let count: Int

    init(_ s: ConvShape) {
        self.s = s
        tilesX = (s.outWidth + 3) / 4
        count = tilesX * ((s.outHeight + 3) / 4)
    }

    /// Transforms one input channel plane for the groups of 8 tiles `first + 8g ..< first + 8g + 8`,
    /// g in `0 ..< groups`, into `V[ξ]` at `v + (g / 2)·panelStride + (g % 2)·8 + ξ·stride`.
    ///
    /// Per tile row, the six input rows under the groups that lie in it are first copied, zero-padded,
    /// into `rows` (long sequential reads that the prefetchers follow; reading each group's window
    /// straight from the plane stalls on memory), then each window is deinterleaved from there: columns
    /// 0–3 of the 8 tiles from 32 consecutive floats, 4–5 from the 32 floats 4 further on. Groups across
    /// two tile rows or past the last tile gather lane by lane. `rows` holds `6 · (32 · groups + 4)` floats.
    @inline(__always)
    func transformChannel(_ plane: UnsafePointer<Float>, first: Int, groups: Int, rows: UnsafeMutablePointer<Float>,
                          lanes: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>, panelStride: Int,
                          stride: Int) {
        @inline(__always) func output(_ g: Int) -> UnsafeMutablePointer<Float> { v + (g / 2) * panelStride + (g % 2) * 8 }
        let end = min(first + 8 * groups, count)
        var ty = first / tilesX
        while ty * tilesX < end {
            // Groups g0 ..< g1 lie in tile row ty.
            let rowStart = ty * tilesX
            let g0 = (max(first, rowStart) - first + 7) / 8, g1 = (min(end, rowStart + tilesX) - first) / 8
            if g0 < g1 {
                let length = 32 * (g1 - g0) + 4
                copyRows(plane, y: 4 * ty - s.padTop, x: 4 * (first + 8 * g0 - rowStart) - s.padLeft, length: length,
                         into: rows)
                for g in g0..<g1 {
                    var row = UnsafePointer(rows + 32 * (g - g0))
                    for r in 0..<6 {
                        let a = UnsafeRawPointer(row).loadUnaligned(as: SIMD32<Float>.self)
                        let b = UnsafeRawPointer(row + 4).loadUnaligned(as: SIMD32<Float>.self)
                        let even = a.evenHalf, odd = a.oddHalf
                        let d = lanes + 48 * r
                        storeVector(even.evenHalf, d)
                        storeVector(odd.evenHalf, d + 8)
                        storeVector(even.oddHalf, d + 16)
                        storeVector(odd.oddHalf, d + 24)
                        storeVector(b.evenHalf.evenHalf, d + 32)
                        storeVector(b.oddHalf.evenHalf, d + 40)
                        row += length
                    }
                    transformInput(lanes, into: output(g), stride: stride)
                }
            }
            ty += 1
        }
        for g in 0..<groups {
            let t = first + 8 * g
            if t / tilesX == (t + 7) / tilesX, t + 8 <= count { continue }
            gatherWindows(plane, firstTile: t, into: lanes)
            transformInput(lanes, into: output(g), stride: stride)
        }
    }

    /// Input rows `y ..< y + 6`, columns `x ..< x + length` into `rows` (row r at `r · length`), zero
    /// outside the plane.
    private func copyRows(_ plane: UnsafePointer<Float>, y: Int, x: Int, length: Int, into rows: UnsafeMutablePointer<Float>) {
        let left = min(length, max(0, -x)), right = max(left, min(length, s.width - x))
        for r in 0..<6 {
            let dst = rows + r * length
            guard y + r >= 0, y + r < s.height else {
                dst.update(repeating: 0, count: length)
                continue
            }
            dst.update(repeating: 0, count: left)
            (dst + left).update(from: plane + (y + r) * s.width + x + left, count: right - left)
            (dst + right).update(repeating: 0, count: length - right)
        }
    }

    /// Window element (r, c) of tiles `firstTile ..< firstTile + 8` into lane i of vector `6r + c` of
    /// `lanes`, zero outside the plane and for tiles past the last.
    private func gatherWindows(_ plane: UnsafePointer<Float>, firstTile: Int, into lanes: UnsafeMutablePointer<Float>) {
        for i in 0..<8 {
            let t = firstTile + i
            let y = 4 * (t / tilesX) - s.padTop, x = 4 * (t % tilesX) - s.padLeft
            for r in 0..<6 {
                let inRow = t < count && y + r >= 0 && y + r < s.height
                for c in 0..<6 {
                    let inside = inRow && x + c >= 0 && x + c < s.width
                    lanes[(6 * r + c) * 8 + i] = inside ? plane[(y + r) * s.width + x + c] : 0
                }
            }
        }
    }

    /// Stores output tile element (r, c) of tiles `firstTile ..< firstTile + 8` from lane i of vector
    /// `4r + c` of `lanes`, except outside the plane. `rows` is scratch for 4 × 32 floats.
    @inline(__always)
    func storeTiles(_ lanes: UnsafeMutablePointer<Float>, firstTile: Int, into plane: UnsafeMutablePointer<Float>,
                    rows: UnsafeMutablePointer<Float>) {
        let ty = firstTile / tilesX, tx = firstTile % tilesX
        guard tx + 8 <= tilesX, firstTile < count else {
            scatterTiles(lanes, firstTile: firstTile, into: plane)
            return
        }
        // 8 tiles side by side make rows of 32 floats: stored in place, or the part inside the plane copied.
        let y0 = 4 * ty, x0 = 4 * tx
        let inside = y0 + 4 <= s.outHeight && x0 + 32 <= s.outWidth
        for r in 0..<4 {
            let y = lanes + 32 * r
            let row = interleave(loadVector(y), loadVector(y + 8), loadVector(y + 16), loadVector(y + 24))
            UnsafeMutableRawPointer(inside ? plane + (y0 + r) * s.outWidth + x0 : rows + 32 * r)
                .storeBytes(of: row, as: SIMD32<Float>.self)
        }
        if inside { return }
        for r in 0..<min(4, s.outHeight - y0) {
            (plane + (y0 + r) * s.outWidth + x0).update(from: rows + 32 * r, count: min(32, s.outWidth - x0))
        }
    }

    /// `storeTiles` lane by lane, for groups of tiles that wrap to the next tile row or end the grid.
    private func scatterTiles(_ lanes: UnsafeMutablePointer<Float>, firstTile: Int, into plane: UnsafeMutablePointer<Float>) {
        for i in 0..<8 {
            let t = firstTile + i
            guard t < count else { break }
            let y = 4 * (t / tilesX), x = 4 * (t % tilesX)
            for r in 0..<min(4, s.outHeight - y) {
                for c in 0..<min(4, s.outWidth - x) {
                    plane[(y + r) * s.outWidth + x + c] = lanes[(4 * r + c) * 8 + i]
                }
            }
        }
    }
}

/// `[a0 b0 c0 d0 a1 b1 c1 d1 …]`: row r of 8 tiles side by side, from their columns 0–3.
@inline(__always)
private func interleave(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) -> SIMD32<Float> {
    var row = SIMD32<Float>()
    for i in 0..<8 {
        row[4 * i] = a[i]; row[4 * i + 1] = b[i]; row[4 * i + 2] = c[i]; row[4 * i + 3] = d[i]
    }
    return row
}

/// `Bᵀ x` for one column (or row) of a 6×6 window.
@inline(__always)
private func inputColumn(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>,
                         _ x4: SIMD8<Float>, _ x5: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let a = x4 - 4 * x2, b = x3 - 4 * x1
    let c = x4 - x2, d = 2 * (x3 - x1)
    return (x4 + 4 * x0 - 5 * x2, a + b, a - b, c + d, c - d, x5 + 4 * x1 - 5 * x3)
}

/// `V = Bᵀ d B` for 8 tiles: `lanes` holds d (36 vectors, row-major), overwritten; V[ξ] goes to
/// `v + ξ·stride`.
@inline(__always)
private func transformInput(_ lanes: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>, stride: Int) {
    for c in 0..<6 {
        let d = lanes + 8 * c
        let t = inputColumn(loadVector(d), loadVector(d + 48), loadVector(d + 96), loadVector(d + 144),
                            loadVector(d + 192), loadVector(d + 240))
        storeVector(t.0, d); storeVector(t.1, d + 48); storeVector(t.2, d + 96)
        storeVector(t.3, d + 144); storeVector(t.4, d + 192); storeVector(t.5, d + 240)
    }
    for r in 0..<6 {
        let d = lanes + 48 * r, out = v + 6 * r * stride
        let t = inputColumn(loadVector(d), loadVector(d + 8), loadVector(d + 16), loadVector(d + 24),
                            loadVector(d + 32), loadVector(d + 40))
        storeVector(t.0, out); storeVector(t.1, out + stride); storeVector(t.2, out + 2 * stride)
        storeVector(t.3, out + 3 * stride); storeVector(t.4, out + 4 * stride); storeVector(t.5, out + 5 * stride)
    }
}

/// `Aᵀ x` for one column (or row) of 6 products.
@inline(__always)
private func outputColumn(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>,
                          _ x4: SIMD8<Float>, _ x5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let s12 = x1 + x2, d12 = x1 - x2, s34 = x3 + x4, d34 = x3 - x4
    return (x0 + s12 + s34, d12 + 2 * d34, s12 + 4 * s34, x5 + d12 + 8 * d34)
}

/// `Y = Aᵀ M A + bias`, activated, for 8 tiles: M[ξ] at `m + ξ·stride`; Y (16 vectors, row-major) goes
/// to `lanes`.
@inline(__always)
private func transformOutput(_ m: UnsafePointer<Float>, stride: Int, bias: Float, _ activation: FusedActivation,
                             into lanes: UnsafeMutablePointer<Float>) {
    // Columns first (into rows 0–3 of a 4×6 intermediate at lanes), then rows.
    let t = lanes + 128
    for c in 0..<6 {
        let x = m + c * stride
        let y = outputColumn(loadVector(x), loadVector(x + 6 * stride), loadVector(x + 12 * stride),
                             loadVector(x + 18 * stride), loadVector(x + 24 * stride), loadVector(x + 30 * stride))
        storeVector(y.0, t + 8 * c); storeVector(y.1, t + 48 + 8 * c)
        storeVector(y.2, t + 96 + 8 * c); storeVector(y.3, t + 144 + 8 * c)
    }
    for r in 0..<4 {
        let x = t + 48 * r
        let y = outputColumn(loadVector(x), loadVector(x + 8), loadVector(x + 16), loadVector(x + 24),
                             loadVector(x + 32), loadVector(x + 40))
        let out = lanes + 32 * r
        storeVector(y.0 + bias, out); storeVector(y.1 + bias, out + 8)
        storeVector(y.2 + bias, out + 16); storeVector(y.3 + bias, out + 24)
    }
    activation.apply(to: lanes, count: 128)
}
