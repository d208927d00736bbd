import TileRunKernels

/// Reproducible random numbers (SplitMix64), so that a failing case fails again.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1, using: &self) }
    }
}

/// Convolution straight from the ONNX definition, accumulated in Double.
func referenceConv(_ g: Conv2DGeometry, input: [Float], batch: Int, height: Int, width: Int,
                   weights: [Float], bias: [Float]?, activation: FusedActivation) -> [Float] {
    let out = g.outputSize(height: height, width: width)
    let cg = g.inChannels / g.groups, mg = g.outChannels / g.groups
    var result = [Float](repeating: 0, count: batch * g.outChannels * out.height * out.width)
    for n in 0..<batch {
        for oc in 0..<g.outChannels {
            let group = oc / mg
            for oy in 0..<out.height {
                for ox in 0..<out.width {
                    var sum = Double(bias?[oc] ?? 0)
                    for c in 0..<cg {
                        let ic = group * cg + c
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let iy = oy * g.strideY - g.padTop + ky * g.dilationY
                                let ix = ox * g.strideX - g.padLeft + kx * g.dilationX
                                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                let w = weights[((oc * cg + c) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                let x = input[((n * g.inChannels + ic) * height + iy) * width + ix]
                                sum += Double(w) * Double(x)
                            }
                        }
                    }
                    result[((n * g.outChannels + oc) * out.height + oy) * out.width + ox] = activation.apply(Float(sum))
                }
            }
        }
    }
    return result
}

/// `C = alpha·op(A)·op(B) + beta·C`, row-major, accumulated in Double; `beta == 0` ignores C.
func referenceGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                   b: [Float], ldb: Int, beta: Float, c: inout [Float], ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let x = transA ? a[p * lda + i] : a[i * lda + p]
                let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                sum += Double(x) * Double(y)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * sum + old)
        }
    }
}

/// Largest |x − y| relative to the largest |y|; infinite where only one of them is NaN.
func relativeError(_ x: [Float], _ y: [Float]) -> Float {
    precondition(x.count == y.count)
    var maxDiff: Float = 0, scale: Float = 1e-30
    for i in 0..<x.count {
        if x[i].isNaN != y[i].isNaN { return .infinity }
        maxDiff = max(maxDiff, abs(x[i] - y[i]))
        scale = max(scale, abs(y[i]))
    }
    return maxDiff / scale
}
