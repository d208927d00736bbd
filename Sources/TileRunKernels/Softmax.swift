import Foundation

/// Softmax over the channel axis of planar data, in place: `items` blocks of `channels` planes of
/// `plane` values each (NCHW tensors with `plane = H × W`), at the pixels `pixels` of each plane (all
/// by default). Callers that split the pixels among threads start every part at a multiple of 8: each
/// pixel's arithmetic then depends only on its position in the plane, never on the split.
///
/// Eight pixels at a time with a vector exponential (Cephes' single-precision polynomial, relative
/// error below 2e-7), so that turning a segmentation model's logits into probabilities costs a small
/// fraction of the model itself.
public func softmaxChannels(_ values: UnsafeMutablePointer<Float>, items: Int, channels: Int, plane: Int,
                            pixels: Range<Int>? = nil) {
    softmaxChannels(values, sourcePlane: plane, into: values, items: items, channels: channels, plane: plane, pixels: pixels)
}

/// `softmaxChannels` from `source` (planes `sourcePlane` apart) into `values` (planes `plane` apart): the
/// same arithmetic, without first copying the inputs into place.
public func softmaxChannels(_ source: UnsafePointer<Float>, sourcePlane: Int, into values: UnsafeMutablePointer<Float>,
                            items: Int, channels: Int, plane: Int, pixels: Range<Int>? = nil) {
    let pixels = pixels ?? 0..<plane
    precondition(pixels.lowerBound % 8 == 0 && pixels.upperBound <= min(plane, sourcePlane), "pixel ranges start at multiples of 8")
    guard channels > 0 else { return }
    for n in 0..<items {
        let input = source + n * channels * sourcePlane, base = values + n * channels * plane
        var p = pixels.lowerBound
        while p + 8 <= pixels.upperBound {
            var peak = SIMD8<Float>(repeating: -.infinity)
            for c in 0..<channels {
                let v = loadVector(input + c * sourcePlane + p)
                peak.replace(with: v, where: v .> peak)
            }
            var sum = SIMD8<Float>(repeating: 0)
            for c in 0..<channels {
                let e = vectorExp(loadVector(input + c * sourcePlane + p) - peak)
                storeVector(e, base + c * plane + p)
                sum += e
            }
            let scale = 1 / sum
            for c in 0..<channels { storeVector(loadVector(base + c * plane + p) * scale, base + c * plane + p) }
            p += 8
        }
        while p < pixels.upperBound {
            var peak = -Float.infinity
            for c in 0..<channels { peak = max(peak, input[c * sourcePlane + p]) }
            var sum: Float = 0
            for c in 0..<channels {
                let e = scalarExp(input[c * sourcePlane + p] - peak)
                base[c * plane + p] = e
                sum += e
            }
            for c in 0..<channels { base[c * plane + p] /= sum }
            p += 1
        }
    }
}

/// e^x for eight lanes, for x from −87.3 to 88.3 (clamped outside: e^−∞ gives about 1e−38, not 0).
/// Only adds, multiplies and bit operations, so it compiles to plain vector instructions.
@inline(__always)
func vectorExp(_ input: SIMD8<Float>) -> SIMD8<Float> {
    // `replacing(with:where:)` compiles to vector blends; `pointwiseMin`/`Max` to lane-by-lane code.
    let x = input.replacing(with: -87.3, where: input .< -87.3).replacing(with: 88.3, where: input .> 88.3)
    // Adding and removing 1.5 × 2^23 rounds to the nearest integer without a conversion instruction.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let n = (x * 1.442_695_04 + magic) - magic
    // x = n ln 2 + r with |r| ≤ ln 2 / 2; ln 2 split in two so that n ln 2 is exact enough.
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    let r2 = r * r
    var y = SIMD8<Float>(repeating: 1.987_569_15e-4)
    y = y * r + 1.398_199_950_7e-3
    y = y * r + 8.333_451_907_3e-3
    y = y * r + 4.166_579_589_4e-2
    y = y * r + 1.666_666_545_9e-1
    y = y * r + 5.000_000_120_1e-1
    y = y * r2 + r + 1
    // 2^n in the exponent bits: n + 127 + 2^23 holds n + 127 in its low mantissa bits.
    let biased = unsafeBitCast(n + 8_388_735, to: SIMD8<Int32>.self) & 0xFF
    return y * unsafeBitCast(biased &<< 23, to: SIMD8<Float>.self)
}

/// The same exponential for one value, so every pixel gets identical arithmetic.
@inline(__always)
private func scalarExp(_ x: Float) -> Float {
    vectorExp(SIMD8(repeating: x))[0]
}
