/// A 2-D convolution with its weights packed once at model load and run many times. NCHW float32.
///
/// Three strategies, chosen from the geometry:
/// - one input channel per group (depthwise, any multiplier): a direct SIMD loop over a zero-padded
///   copy of each input plane (`DepthwisePlanes`);
/// - 3×3, stride 1, ungrouped (dilated too, in phases), with at least 8 input and output channels: Winograd
///   F(4×4, 3×3) (`WinogradConvolution`), 36 instead of 144 multiply-adds per 4×4 output tile and
///   channel pair (`ConvAlgorithm` can force either choice);
/// - everything else: an implicit GEMM per group, `out[oc, pixel] = Σ_k W[oc, k] · patch[k, pixel]`
///   with k = (input channel, ky, kx), on the 6×16 FMA micro-kernel. Weights are packed as 6/5/4-row
///   micro-panels at init. No im2col matrix is ever materialized; B comes from small buffers:
///   - stride 1 along x (the 3×3 hot path): input rows are copied, zero-padded, into a ring buffer as
///     a band of output rows moves down (each row once per band and pass), and the kernel reads tap
///     (ky, kx) of 16 outputs as 16 contiguous floats at offset kx·dilation of the ring row for ky: no
///     per-tap copies at all, and whole input rows read sequentially (planes a multiple of 4 KiB apart
///     make per-pixel patch gathers thrash the caches);
///   - otherwise (strides, very narrow planes, pointwise): patches of 16 output pixels are gathered into
///     k-major panels, a band of pixels at a time. A 1×1, stride-1, unpadded convolution is a plain GEMM
///     on the input, whose panels are straight copies.
///   Each 16-pixel tile stays in L1 while every output-channel block runs over it; the reduction is cut
///   into passes of whole input channels so that one pass of weights stays in L2.
///
/// Threads split output pixels (and batch images), never the reduction, and every output element is
/// summed in a fixed order, so results are bitwise identical for any thread count. `run` keeps its
/// scratch per call, so one kernel may run on several threads at once.
public final class Conv2DKernel: @unchecked Sendable {
    public let geometry: Conv2DGeometry
    public let activation: FusedActivation

    /// `outChannels` values (zeros when none were given).
    private let bias: Scratch
    /// Depthwise: OIHW weights as given. GEMM: per group, the row blocks' k-major micro-panels. Winograd:
    /// none (`winograd` holds its transformed weights).
    private let weights: Scratch
    private let blocks: UnsafeMutableBufferPointer<RowBlock>
    /// Floats of packed weights per group.
    private let groupStride: Int
    private let isDirect: Bool
    /// Set when the convolution runs as Winograd F(4×4, 3×3), which then owns the weights.
    private let winograd: WinogradConvolution?

    /// Reduction length per pass of the GEMM paths, in taps of whole input channels: one pass of packed
    /// weights for up to 256 output channels stays in L2, and a tile's B values in L1.
    static let reductionBlock = 320
    /// Patch panels packed per work item of the patch path.
    static let bandBytes = 128 << 10
    /// Input-row ring buffer of the row path, per pass.
    static let ringBytes = 192 << 10
    /// Output kept in L2 across the passes of one band of the row path.
    static let bandOutputBytes = 128 << 10

    /// - Parameters:
    ///   - weights: OIHW, `[outChannels, inChannels / groups, kernelHeight, kernelWidth]`.
    ///   - bias: `outChannels` values, or nil for none.
    ///   - algorithm: for 3×3 stride-1 convolutions, whether to use Winograd F(4×4, 3×3).
    public init(geometry: Conv2DGeometry, weights: [Float], bias: [Float]?, activation: FusedActivation,
                algorithm: ConvAlgorithm = .automatic) {
        precondition(geometry.isValid, "invalid convolution geometry \(geometry)")
        let g = geometry
        let k = g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth
        precondition(weights.count == g.outChannels * k, "expected \(g.outChannels * k) weights, got \(weights.count)")
        precondition(bias == nil || bias!.count == g.outChannels, "expected \(g.outChannels) bias values")
        self.geometry = g
        self.activation = activation
        self.bias = Scratch(count: g.outChannels)
        self.bias.pointer.initialize(repeating: 0, count: g.outChannels)
        if let bias { self.bias.pointer.update(from: bias, count: g.outChannels) }
        isDirect = g.inChannelsPerGroup == 1
        let useWinograd = WinogradConvolution.computes(g)
            && (algorithm == .winograd || algorithm == .automatic && WinogradConvolution.pays(g))
        winograd = useWinograd
            ? weights.withUnsafeBufferPointer { WinogradConvolution(inChannels: g.inChannels, outChannels: g.outChannels,
                                                                    weights: $0.baseAddress!) }
            : nil
        if isDirect || winograd != nil {
            blocks = .allocate(capacity: 0)
            groupStride = 0
            self.weights = Scratch(count: isDirect ? weights.count : 0)
            if isDirect { self.weights.pointer.update(from: weights, count: weights.count) }
            return
        }
        let m = g.outChannelsPerGroup
        let partition = RowBlock.partition(m, k: k)
        blocks = .allocate(capacity: partition.count)
        _ = blocks.initialize(from: partition)
        groupStride = partition.map { $0.height * k }.reduce(0, +)
        self.weights = Scratch(count: groupStride * g.groups)
        weights.withUnsafeBufferPointer { w in
            for group in 0..<g.groups {
                for block in partition {
                    packA(false, w.baseAddress! + group * m * k, k, row: block.start, block: block, k0: 0, kc: k,
                          into: self.weights.pointer + group * groupStride + block.offset)
                }
            }
        }
    }

    deinit {
        bias.free()
        weights.free()
        blocks.deallocate()
    }

    /// Multiply-adds × 2 for one image of `height` × `width` (bias and activation not counted).
    public func flops(height: Int, width: Int) -> Double {
        let out = geometry.outputSize(height: height, width: width)
        return 2 * Double(out.height * out.width) * Double(geometry.outChannels)
            * Double(geometry.inChannelsPerGroup * geometry.kernelHeight * geometry.kernelWidth)
    }

    /// Convolves `batch` images of `inChannels` × `height` × `width` into `output`, which holds
    /// `batch` × `outChannels` × `outputSize(height:width:)`. `threads` 1 runs on the caller's thread.
    public func run(input: UnsafePointer<Float>, batch: Int, height: Int, width: Int,
                    output: UnsafeMutablePointer<Float>, threads: Int) {
        let out = geometry.outputSize(height: height, width: width)
        guard batch > 0, out.height > 0, out.width > 0 else { return }
        let s = ConvShape(geometry: geometry, height: height, width: width, outHeight: out.height, outWidth: out.width)
        // Row tiles waste the lanes past the row's end: fine up to 1/8 of them (a 14-wide plane).
        let rowTileWidth = roundUp(s.outWidth, tileColumns)
        if let winograd {
            winograd.run(s, input, batch: batch, output, bias: bias.pointer, activation: activation, threads: threads)
        } else if isDirect {
            runDirect(s, input, batch, output, threads)
        } else if s.sx == 1, !s.isPointwise, (rowTileWidth - s.outWidth) * 8 <= rowTileWidth {
            runRows(s, input, batch, output, threads)
        } else {
            runPatches(s, input, batch, output, threads)
        }
    }

    /// Whole input channels per reduction pass: equal passes of at most `limit` channels.
    private static func channelsPerPass(_ channels: Int, limit: Int) -> Int {
        let passes = (channels + max(1, limit) - 1) / max(1, limit)
        return (channels + passes - 1) / passes
    }

    /// Every output-channel block of `group` over one tile of B, for input channels `c0 ..< c1` of
    /// the group's: the first pass overwrites the output, the last adds bias and applies the activation.
    @inline(__always)
    private func multiplyTile(group: Int, c0: Int, c1: Int, _ layout: PanelLayout, _ b: UnsafePointer<Float>,
                              _ out: UnsafeMutablePointer<Float>, _ ldc: Int, columns: Int,
                              scratch: UnsafeMutablePointer<Float>) {
        let m = geometry.outChannelsPerGroup
        let taps = geometry.kernelHeight * geometry.kernelWidth
        let last = c1 == geometry.inChannelsPerGroup
        let groupWeights = weights.pointer + group * groupStride
        for block in blocks {
            let epilogue = Epilogue(beta: c0 == 0 ? 0 : 1, bias: last ? bias.pointer + group * m + block.start : nil,
                                    activation: last ? activation : .none)
            runTile(block, layout, groupWeights + block.offset + c0 * taps * block.height, b, out + block.start * ldc,
                    ldc, columns: columns, epilogue, scratch: scratch)
        }
    }

    /// The stride-1 path. Items are bands of output rows; per pass, the band's input rows go through a
    /// ring of `(kh − 1)·dy + 1` rows per channel, and step (c, ky, kx) reads ring row (c, ky) at column
    /// x + kx·dx.
    private func runRows(_ s: ConvShape, _ input: UnsafePointer<Float>, _ batch: Int,
                         _ output: UnsafeMutablePointer<Float>, _ threads: Int) {
        let g = geometry
        let m = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
        let taps = s.kh * s.kw
        let pixels = s.outHeight * s.outWidth
        // A ring row covers every 16-wide tile of the output row plus the kernel's reach.
        let rowLength = roundUp(s.outWidth, tileColumns) + (s.kw - 1) * s.dx
        let ringRows = (s.kh - 1) * s.dy + 1
        let channelBlock = Self.channelsPerPass(cg, limit: min(Self.reductionBlock / taps,
                                                               Self.ringBytes / (4 * ringRows * rowLength)))
        let k = channelBlock * taps
        // Step offsets for each phase of the ring (the slot of the band's current top row).
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: ringRows * k)
        defer { offsets.deallocate() }
        for phase in 0..<ringRows {
            for c in 0..<channelBlock {
                for ky in 0..<s.kh {
                    for kx in 0..<s.kw {
                        offsets[phase * k + (c * s.kh + ky) * s.kw + kx] =
                            (c * ringRows + (phase + ky * s.dy) % ringRows) * rowLength + kx * s.dx
                    }
                }
            }
        }
        // Bands of 8 rows or more (at least 8 tiles); with several passes, no more output than stays in
        // L2 between them; fewer rows when that leaves < 4 items per thread.
        var bandRows = max(8, (8 * tileColumns + s.outWidth - 1) / s.outWidth)
        if channelBlock < cg { bandRows = min(bandRows, max(1, Self.bandOutputBytes / (4 * g.outChannels * s.outWidth))) }
        bandRows = min(bandRows, s.outHeight)
        while bandRows > 1, batch * ((s.outHeight + bandRows - 1) / bandRows) < 4 * threads { bandRows = (bandRows + 1) / 2 }
        let bandsPerImage = (s.outHeight + bandRows - 1) / bandRows
        runWorkers(items: batch * bandsPerImage, threads: threads) { queue in
            let ring = Scratch(count: channelBlock * ringRows * rowLength)
            let tile = Scratch(count: 6 * tileColumns)
            defer { ring.free(); tile.free() }
            while let item = queue.claim() {
                let n = item / bandsPerImage
                let y0 = (item % bandsPerImage) * bandRows, y1 = min(s.outHeight, y0 + bandRows)
                let image = input + n * g.inChannels * s.height * s.width
                for group in 0..<g.groups {
                    let groupInput = image + group * cg * s.height * s.width
                    let groupOutput = output + (n * g.outChannels + group * m) * pixels
                    var c0 = 0
                    while c0 < cg {
                        let c1 = min(cg, c0 + channelBlock)
                        var next = Int.min  // first input row the ring does not hold yet
                        for y in y0..<y1 {
                            let top = y * s.sy - s.padTop
                            let phase = ((top % ringRows) + ringRows) % ringRows
                            for iy in max(top, next)..<(top + ringRows) {
                                let slot = ((iy % ringRows) + ringRows) % ringRows
                                for c in c0..<c1 {
                                    copyInputRow(s, groupInput + c * s.height * s.width, row: iy, rowLength: rowLength,
                                                 into: ring.pointer + ((c - c0) * ringRows + slot) * rowLength)
                                }
                            }
                            next = top + ringRows
                            let layout = PanelLayout(k: (c1 - c0) * taps, offsets: offsets + phase * k)
                            var x = 0
                            while x < s.outWidth {
                                multiplyTile(group: group, c0: c0, c1: c1, layout, ring.pointer + x,
                                             groupOutput + y * s.outWidth + x, pixels,
                                             columns: min(tileColumns, s.outWidth - x), scratch: tile.pointer)
                                x += tileColumns
                            }
                        }
                        c0 = c1
                    }
                }
            }
        }
    }

    /// The general path: items are bands of output pixels whose patch panels fill `bandBytes`.
    private func runPatches(_ s: ConvShape, _ input: UnsafePointer<Float>, _ batch: Int,
                            _ output: UnsafeMutablePointer<Float>, _ threads: Int) {
        let g = geometry
        let m = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
        let taps = s.kh * s.kw
        let channelBlock = Self.channelsPerPass(cg, limit: Self.reductionBlock / taps)
        let pixels = s.outHeight * s.outWidth
        let tiles = (pixels + tileColumns - 1) / tileColumns
        let kcMax = channelBlock * taps
        // Fewer tiles per band when that leaves < 4 items per thread.
        var bandTiles = max(1, min(tiles, Self.bandBytes / (kcMax * tileColumns * 4)))
        while bandTiles > 1, batch * ((tiles + bandTiles - 1) / bandTiles) < 4 * threads { bandTiles = (bandTiles + 1) / 2 }
        let bandsPerImage = (tiles + bandTiles - 1) / bandTiles
        runWorkers(items: batch * bandsPerImage, threads: threads) { queue in
            let panels = Scratch(count: bandTiles * kcMax * tileColumns)
            let tile = Scratch(count: 6 * tileColumns)
            defer { panels.free(); tile.free() }
            while let item = queue.claim() {
                let n = item / bandsPerImage
                let p0 = (item % bandsPerImage) * bandTiles * tileColumns
                let count = min(bandTiles * tileColumns, pixels - p0)
                let image = input + n * g.inChannels * s.height * s.width
                for group in 0..<g.groups {
                    let groupInput = image + group * cg * s.height * s.width
                    let groupOutput = output + (n * g.outChannels + group * m) * pixels
                    var c0 = 0
                    while c0 < cg {
                        let c1 = min(cg, c0 + channelBlock)
                        let kc = (c1 - c0) * taps
                        packPatches(s, groupInput, channels: c0..<c1, pixel: p0, count: count,
                                    panelStride: kc * tileColumns, into: panels.pointer)
                        var p = p0, panel = panels.pointer
                        while p < p0 + count {
                            multiplyTile(group: group, c0: c0, c1: c1, .packed(kc), panel, groupOutput + p, pixels,
                                         columns: min(tileColumns, p0 + count - p), scratch: tile.pointer)
                            p += tileColumns
                            panel += kc * tileColumns
                        }
                        c0 = c1
                    }
                }
            }
        }
    }

    /// One input channel per group: a direct loop per input plane (see `DepthwisePlanes`).
    private func runDirect(_ s: ConvShape, _ input: UnsafePointer<Float>, _ batch: Int,
                           _ output: UnsafeMutablePointer<Float>, _ threads: Int) {
        let g = geometry
        let multiplier = g.outChannelsPerGroup
        let planes = batch * g.inChannels
        let outPixels = s.outHeight * s.outWidth
        let depthwise = DepthwisePlanes(s)
        // Input planes per item: at least ~16 K output pixels, at most enough to leave four items per thread.
        let itemPlanes = max(1, min((16384 + outPixels * multiplier - 1) / (outPixels * multiplier),
                                    planes / (4 * max(threads, 1))))
        runWorkers(items: (planes + itemPlanes - 1) / itemPlanes, threads: threads) { queue in
            let scratch = Scratch(count: depthwise.scratchCount)
            defer { scratch.free() }
            while let item = queue.claim() {
                for plane in (item * itemPlanes)..<min(planes, (item + 1) * itemPlanes) {
                    let n = plane / g.inChannels, ic = plane % g.inChannels
                    let oc = ic * multiplier
                    depthwise.run(plane: input + plane * s.height * s.width,
                                  weights: weights.pointer + oc * s.kh * s.kw, bias: bias.pointer + oc,
                                  multiplier: multiplier, activation: activation,
                                  output: output + (n * g.outChannels + oc) * outPixels, scratch: scratch.pointer)
                }
            }
        }
    }
}

/// A convolution's geometry bound to one input size.
struct ConvShape {
    let kh: Int, kw: Int, sy: Int, sx: Int, dy: Int, dx: Int, padTop: Int, padLeft: Int
    let height: Int, width: Int, outHeight: Int, outWidth: Int
    /// 1×1, stride 1, no padding: output pixel p reads input pixel p.
    let isPointwise: Bool

    init(geometry g: Conv2DGeometry, height: Int, width: Int, outHeight: Int, outWidth: Int) {
        kh = g.kernelHeight; kw = g.kernelWidth
        sy = g.strideY; sx = g.strideX
        dy = g.dilationY; dx = g.dilationX
        padTop = g.padTop; padLeft = g.padLeft
        self.height = height; self.width = width
        self.outHeight = outHeight; self.outWidth = outWidth
        isPointwise = kh == 1 && kw == 1 && sy == 1 && sx == 1 && g.padTop == 0 && g.padLeft == 0
            && g.padBottom == 0 && g.padRight == 0
    }
}
