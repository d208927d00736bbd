/// Convolutions with one input channel per group (depthwise, any channel multiplier), computed
/// directly: per input plane, a zero-padded copy is made once, so that every output row — borders
/// included — runs 32 outputs at a time with no bounds checks: four independent FMA chains per tap.
struct DepthwisePlanes {
    let s: ConvShape
    /// Output columns computed per row: whole blocks of 32.
    let paddedOutWidth: Int
    /// Rows and columns of the padded plane copy.
    let rows: Int, columns: Int
    /// Tap t = (ky, kx) of an output reads the padded copy `tapOffsets[t]` floats after its first tap.
    let tapOffsets: [Int]

    static let block = 32

    init(_ s: ConvShape) {
        self.s = s
        paddedOutWidth = roundUp(s.outWidth, Self.block)
        rows = (s.outHeight - 1) * s.sy + (s.kh - 1) * s.dy + 1
        // The last block reads up to column (paddedOutWidth − 1)·sx + (kw − 1)·dx, plus one more for
        // the 16-wide loads that stride 2 deinterleaves.
        columns = (paddedOutWidth - 1) * s.sx + (s.kw - 1) * s.dx + 2
        var offsets: [Int] = []
        for ky in 0..<s.kh {
            for kx in 0..<s.kw { offsets.append(ky * s.dy * columns + kx * s.dx) }
        }
        tapOffsets = offsets
    }

    /// Floats of scratch `run` needs: the padded plane and one output row.
    var scratchCount: Int { rows * columns + paddedOutWidth }

    /// Convolves one input plane into `multiplier` output planes (their weights and biases consecutive).
    func run(plane: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
             multiplier: Int, activation: FusedActivation, output: UnsafeMutablePointer<Float>,
             scratch: UnsafeMutablePointer<Float>) {
        // Padded copy: padded row r, column j hold input row r − padTop, column j − padLeft.
        let padded = scratch, rowOut = scratch + rows * columns
        for r in 0..<rows {
            copyInputRow(s, plane, row: r - s.padTop, rowLength: columns, into: padded + r * columns)
        }
        tapOffsets.withUnsafeBufferPointer { offsets in
            // One copy of the loops per stride, so that the load is fixed inside them.
            switch s.sx {
            case 1:
                planes(padded, rowOut, offsets.baseAddress!, weights, bias, multiplier, activation, output) {
                    loadVector($0 + $1)
                }
            case 2:
                planes(padded, rowOut, offsets.baseAddress!, weights, bias, multiplier, activation, output) {
                    UnsafeRawPointer($0 + 2 * $1).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                }
            default:
                let sx = s.sx
                planes(padded, rowOut, offsets.baseAddress!, weights, bias, multiplier, activation, output) { q, first in
                    var v = SIMD8<Float>()
                    for j in 0..<8 { v[j] = q[(first + j) * sx] }
                    return v
                }
            }
        }
    }

    /// The output planes from the padded copy; `load(q, i)` gives the inputs of outputs i ..< i + 8 of a
    /// block whose first output's tap is at `q`.
    @inline(__always)
    private func planes(_ padded: UnsafePointer<Float>, _ rowOut: UnsafeMutablePointer<Float>,
                        _ offsets: UnsafePointer<Int>, _ weights: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                        _ multiplier: Int, _ activation: FusedActivation, _ output: UnsafeMutablePointer<Float>,
                        _ load: (UnsafePointer<Float>, Int) -> SIMD8<Float>) {
        let taps = s.kh * s.kw
        for m in 0..<multiplier {
            let w = weights + m * taps
            let out = output + m * s.outHeight * s.outWidth
            for y in 0..<s.outHeight {
                let top = padded + y * s.sy * columns
                let o = out + y * s.outWidth
                var x = 0
                while x < s.outWidth {
                    // 32 outputs: four independent FMA chains per tap.
                    let p = top + x * s.sx
                    var a0 = SIMD8<Float>(repeating: bias[m]), a1 = a0, a2 = a0, a3 = a0
                    for t in 0..<taps {
                        let q = p + offsets[t]
                        let wv = SIMD8<Float>(repeating: w[t])
                        a0.addProduct(wv, load(q, 0))
                        a1.addProduct(wv, load(q, 8))
                        a2.addProduct(wv, load(q, 16))
                        a3.addProduct(wv, load(q, 24))
                    }
                    let full = x + Self.block <= s.outWidth
                    let d = full ? o + x : rowOut
                    storeVector(a0, d)
                    storeVector(a1, d + 8)
                    storeVector(a2, d + 16)
                    storeVector(a3, d + 24)
                    if !full { (o + x).update(from: rowOut, count: s.outWidth - x) }
                    x += Self.block
                }
                activation.apply(to: o, count: s.outWidth)
            }
        }
    }
}
