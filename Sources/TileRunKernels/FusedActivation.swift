import Foundation

/// An element-wise activation that a kernel applies to its output tile before storing it,
/// so that Conv → Relu (and the like) costs no extra pass over memory. Semantics follow ONNX.
public enum FusedActivation: Equatable, Sendable {
    case none
    case relu
    /// `x < 0 ? alpha·x : x`
    case leakyRelu(alpha: Float)
    /// `min(max(x, min), max)`
    case clip(min: Float, max: Float)
    case sigmoid
    /// `max(0, min(1, alpha·x + beta))`
    case hardSigmoid(alpha: Float, beta: Float)
    /// `x · max(0, min(1, x/6 + 1/2))`
    case hardSwish
    case tanh

    /// The scalar reference. The vector form used in kernel epilogues computes the same operations
    /// lane by lane, so both give bitwise identical results.
    @inlinable
    public func apply(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .relu: return x < 0 ? 0 : x
        case let .leakyRelu(alpha): return x < 0 ? alpha * x : x
        case let .clip(lo, hi):
            let y = x < lo ? lo : x
            return y > hi ? hi : y
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case let .hardSigmoid(alpha, beta): return Self.unitClamp(alpha * x + beta)
        case .hardSwish: return x * Self.unitClamp(x * Self.oneSixth + 0.5)
        case .tanh: return Foundation.tanh(x)
        }
    }

    @usableFromInline static var oneSixth: Float { 1.0 / 6.0 }

    @inlinable @inline(__always)
    static func unitClamp(_ x: Float) -> Float { x < 0 ? 0 : (x > 1 ? 1 : x) }

    @inline(__always)
    static func unitClamp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        v.replacing(with: 0, where: v .< 0).replacing(with: 1, where: v .> 1)
    }

    /// Applies the activation in place to `count` floats, eight lanes at a time, with the same
    /// operations as `apply(_:)` so that results are bitwise identical. Kernels call it on output tiles
    /// they have just stored, while those are still in L1.
    func apply(to p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .none: return
        case .relu: map(p, count) { $0.replacing(with: 0, where: $0 .< 0) }
        case let .leakyRelu(alpha): map(p, count) { $0.replacing(with: $0 * alpha, where: $0 .< 0) }
        case let .clip(lo, hi):
            map(p, count) { v in
                let y = v.replacing(with: lo, where: v .< lo)
                return y.replacing(with: hi, where: y .> hi)
            }
        case let .hardSigmoid(alpha, beta): map(p, count) { Self.unitClamp($0 * alpha + beta) }
        case .hardSwish: map(p, count) { $0 * Self.unitClamp($0 * Self.oneSixth + 0.5) }
        case .sigmoid, .tanh:
            for i in 0..<count { p[i] = apply(p[i]) }
        }
    }

    @inline(__always)
    private func map(_ p: UnsafeMutablePointer<Float>, _ count: Int, _ f: (SIMD8<Float>) -> SIMD8<Float>) {
        var i = 0
        while i + 8 <= count {
            storeVector(f(loadVector(p + i)), p + i)
            i += 8
        }
        while i < count {
            p[i] = apply(p[i])
            i += 1
        }
    }
}

/// Eight floats from `p`, which need not be aligned.
@inlinable @inline(__always)
public func loadVector(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func loadVector(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func storeVector(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
