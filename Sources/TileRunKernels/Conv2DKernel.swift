import Foundation
/// A 2-D convolution with its weights packed once at model load and run many times. NCHW float32.
///
/// Two strategies, chosen from the geometry:
/// - one input channel per group (depthwise, any multiplier): a direct SIMD loop per output plane;
/// - everything else: an implicit GEMM per group, `out[oc, pixel] = Σ_k W[oc, k] · patch[k, pixel]`
///   with k = (input channel, ky, kx). Weights are packed as 6/4-row micro-panels at init; patches are
///   gathered 16 output pixels at a time into a k-major micro-panel that stays in L1 while every output
///   channel block runs the FMA micro-kernel over it, so no im2col matrix is ever materialized. A 1×1,
///   stride-1, unpadded convolution is a plain GEMM on the input and its panels are straight copies.
///
/// Threads split output pixels (and batch images), never the reduction, and every output element is
/// summed in a fixed order, so results are bitwise identical for any thread count.
public final class Conv2DKernel: @unchecked Sendable {
    public let geometry: Conv2DGeometry
    public let activation: FusedActivation

    private let bias: [Float]
    private let strategy: Strategy
    /// Depthwise: OIHW weights as given. GEMM: per group, the row blocks' k-major micro-panels.
    private let packed: Scratch
    private let rowBlocks: [RowBlock]
    private let blockOffsets: [Int]
    private let groupStride: Int

    private enum Strategy { case direct, gemm }

    /// Reduction length per pass of the GEMM path, in taps of whole input channels: the 16-column patch
    /// panel (≤ 20 KiB) stays in L1 and one pass of packed weights for up to 256 output channels in L2.
    static let reductionBlock = Int(getenv("RED_BLOCK").map { String(cString: $0) } ?? "320") ?? 320
    /// Patch panels packed per work item.
    static let bandBytes = (Int(getenv("BAND_KB").map { String(cString: $0) } ?? "128") ?? 128) << 10

    /// - Parameters:
    ///   - weights: OIHW, `[outChannels, inChannels / groups, kernelHeight, kernelWidth]`.
    ///   - bias: `outChannels` values, or nil for none.
    public init(geometry: Conv2DGeometry, weights: [Float], bias: [Float]?, activation: FusedActivation) {
        precondition(geometry.isValid, "invalid convolution geometry \(geometry)")
        let g = geometry
        let k = g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth
        precondition(weights.count == g.outChannels * k, "expected \(g.outChannels * k) weights, got \(weights.count)")
        precondition(bias == nil || bias!.count == g.outChannels, "expected \(g.outChannels) bias values")
        self.geometry = g
        self.activation = activation
        self.bias = bias ?? [Float](repeating: 0, count: g.outChannels)
        if g.inChannelsPerGroup == 1 {
            strategy = .direct
            rowBlocks = []
            blockOffsets = []
            groupStride = 0
            packed = Scratch(count: weights.count)
            weights.withUnsafeBufferPointer { packed.pointer.update(from: $0.baseAddress!, count: weights.count) }
            return
        }
        strategy = .gemm
        let m = g.outChannelsPerGroup
        rowBlocks = RowBlock.partition(m)
        var offsets: [Int] = []
        var offset = 0
        for block in rowBlocks {
            offsets.append(offset)
            offset += block.height * k
        }
        blockOffsets = offsets
        groupStride = offset
        packed = Scratch(count: groupStride * g.groups)
        weights.withUnsafeBufferPointer { w in
            for group in 0..<g.groups {
                for (index, block) in rowBlocks.enumerated() {
                    packA(false, w.baseAddress! + group * m * k, k, row: block.start, block: block, k0: 0, kc: k,
                          into: packed.pointer + group * groupStride + offsets[index])
                }
            }
        }
    }

    deinit { packed.free() }

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
        let shape = ConvShape(geometry: geometry, height: height, width: width,
                              outHeight: out.height, outWidth: out.width)
        bias.withUnsafeBufferPointer { bias in
            switch strategy {
            case .direct:
                runDirect(shape, input, batch, output, bias.baseAddress!, threads)
            case .gemm:
                runGEMM(shape, input, batch, output, bias.baseAddress!, threads)
            }
        }
    }

    private func runGEMM(_ s: ConvShape, _ input: UnsafePointer<Float>, _ batch: Int,
                         _ output: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, _ threads: Int) {
        let g = geometry
        let m = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
        let taps = g.kernelHeight * g.kernelWidth
        // Equal passes of at most `reductionBlock` taps (at least one channel each).
        let passes = max(1, (cg * taps + Self.reductionBlock - 1) / Self.reductionBlock)
        let channelBlock = (cg + passes - 1) / passes
        let pixels = s.outHeight * s.outWidth
        let tiles = (pixels + tileColumns - 1) / tileColumns
        let kcMax = min(cg, channelBlock) * taps
        // An item is a band of output pixels whose patch panels fill ~128 KiB (L2), smaller when that
        // leaves fewer than four items per thread.
        var bandTiles = max(1, min(tiles, Self.bandBytes / (kcMax * tileColumns * 4)))
        while bandTiles > 1, batch * ((tiles + bandTiles - 1) / bandTiles) < 4 * threads { bandTiles = (bandTiles + 1) / 2 }
        let bandsPerImage = (tiles + bandTiles - 1) / bandTiles
        let packed = self.packed.pointer, blocks = rowBlocks, offsets = blockOffsets, stride = groupStride
        let activation = self.activation
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
                        let last = c1 == cg
                        var p = p0, panel = panels.pointer
                        while p < p0 + count {
                            for (index, block) in blocks.enumerated() {
                                let epilogue = Epilogue(beta: c0 == 0 ? 0 : 1,
                                                        bias: last ? bias + group * m + block.start : nil,
                                                        activation: last ? activation : .none)
                                runTile(block, kc, packed + group * stride + offsets[index] + c0 * taps * block.height,
                                        panel, groupOutput + block.start * pixels + p, pixels,
                                        columns: min(tileColumns, p0 + count - p), epilogue, scratch: tile.pointer)
                            }
                            p += tileColumns
                            panel += kc * tileColumns
                        }
                        c0 = c1
                    }
                }
            }
        }
    }

    private func runDirect(_ s: ConvShape, _ input: UnsafePointer<Float>, _ batch: Int,
                           _ output: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, _ threads: Int) {
        let g = geometry
        let multiplier = g.outChannelsPerGroup
        let planes = batch * g.outChannels
        let outPixels = s.outHeight * s.outWidth
        // Planes per item: at least ~16 K output pixels, at most enough to leave four items per thread.
        let itemPlanes = max(1, min((16384 + outPixels - 1) / outPixels, planes / (4 * max(threads, 1))))
        let weights = packed.pointer
        let activation = self.activation
        runWorkers(items: (planes + itemPlanes - 1) / itemPlanes, threads: threads) { queue in
            while let item = queue.claim() {
                for plane in (item * itemPlanes)..<min(planes, (item + 1) * itemPlanes) {
                    let n = plane / g.outChannels, oc = plane % g.outChannels
                    let ic = oc / multiplier
                    depthwisePlane(s, input + (n * g.inChannels + ic) * s.height * s.width,
                                   weights + oc * g.kernelHeight * g.kernelWidth, bias[oc], activation,
                                   output + plane * outPixels)
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
