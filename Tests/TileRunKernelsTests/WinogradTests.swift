import XCTest
import TileRunKernels

/// Winograd F(4×4, 3×3) against the Double reference and the implicit GEMM, on U-Net's channel counts
/// (at small sizes) and on borders: sizes that are not multiples of 4 or 32, one-pixel planes, every
/// padding pattern, tile groups that wrap to the next tile row, batches, and every fused activation.
final class WinogradTests: XCTestCase {
    typealias G = Conv2DKernelTests

    /// Largest difference relative to the largest output before activation (squashing activations shrink
    /// the outputs, not the error); float32 F(4×4, 3×3) measured up to ~1.2e-5 with 256 channels.
    static let tolerance: Float = 3e-5

    static func run(_ c: Conv2DKernelTests.Case, algorithm: ConvAlgorithm, weights: [Float], bias: [Float]?,
                    input: [Float], threads: Int) -> [Float] {
        let kernel = Conv2DKernel(geometry: c.geometry, weights: weights, bias: bias, activation: c.activation,
                                  algorithm: algorithm)
        return Conv2DKernelTests.run(kernel, c, input: input, threads: threads)
    }

    /// Winograd within `tolerance` of the reference and of the implicit GEMM; 2 and 3 threads bitwise
    /// equal to 1. Returns the error against the reference.
    @discardableResult
    func check(_ c: Conv2DKernelTests.Case, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) -> Float {
        var rng = SeededGenerator(seed: seed)
        let g = c.geometry
        let weights = rng.floats(g.outChannels * g.inChannels * 9)
        let bias = c.hasBias ? rng.floats(g.outChannels) : nil
        let input = rng.floats(c.batch * g.inChannels * c.height * c.width)
        let plain = referenceConv(g, input: input, batch: c.batch, height: c.height, width: c.width,
                                  weights: weights, bias: bias, activation: .none)
        let expected = plain.map(c.activation.apply)
        let scale = plain.reduce(1e-30) { max($0, abs($1)) }
        func relativeError(_ x: [Float], _ y: [Float]) -> Float {
            zip(x, y).reduce(0) { max($0, $1.0.isNaN != $1.1.isNaN ? .infinity : abs($1.0 - $1.1)) } / scale
        }
        let winograd = Self.run(c, algorithm: .winograd, weights: weights, bias: bias, input: input, threads: 1)
        let gemm = Self.run(c, algorithm: .implicitGemm, weights: weights, bias: bias, input: input, threads: 1)
        let error = relativeError(winograd, expected)
        XCTAssertLessThanOrEqual(error, Self.tolerance, "against the reference: \(c)", file: file, line: line)
        XCTAssertLessThanOrEqual(relativeError(winograd, gemm), Self.tolerance, "against the GEMM: \(c)",
                                 file: file, line: line)
        for threads in [2, 3] {
            let multi = Self.run(c, algorithm: .winograd, weights: weights, bias: bias, input: input, threads: threads)
            XCTAssertTrue(multi.elementsEqual(winograd) { $0.bitPattern == $1.bitPattern },
                          "\(threads) threads differ from 1: \(c)", file: file, line: line)
        }
        return error
    }

    static func conv(_ inChannels: Int, _ outChannels: Int, pads: (Int, Int, Int, Int) = (1, 1, 1, 1)) -> Conv2DGeometry {
        G.geometry(inChannels, outChannels, kernel: (3, 3), pads: pads)
    }

    func testUNetChannelCounts() {
        // Every U-Net width as input and as output (the others are more of the same, and slow in debug builds).
        let shapes = [(16, 16), (32, 16), (16, 32), (64, 32), (32, 64), (128, 64), (64, 128), (256, 128), (128, 256),
                      (256, 256)]
        var worst: Float = 0
        for (index, (inChannels, outChannels)) in shapes.enumerated() {
            // Small planes (the Double reference is slow), with rows of 8 tiles and more.
            let small = inChannels * outChannels > 1024
            let c = Conv2DKernelTests.Case(geometry: Self.conv(inChannels, outChannels), height: small ? 4 : 40,
                                           width: small ? 33 : 40, activation: .relu)
            worst = max(worst, check(c, seed: UInt64(index + 1)))
        }
        print("Winograd on U-Net channel counts: worst relative error \(worst)")
    }

    func testBordersAndOddSizes() {
        typealias Case = Conv2DKernelTests.Case
        let cases: [Case] = [
            // One-pixel and tiny planes, padded and not.
            Case(geometry: Self.conv(8, 8), height: 1, width: 1),
            Case(geometry: Self.conv(9, 11), height: 2, width: 3),
            Case(geometry: Self.conv(8, 13, pads: (0, 0, 0, 0)), height: 3, width: 3),
            Case(geometry: Self.conv(10, 8, pads: (0, 0, 0, 0)), height: 5, width: 7),
            // Rows of exactly 8 tiles and more: in-place and zero-padded row loads, clipped stores.
            Case(geometry: Self.conv(16, 16), height: 12, width: 128, activation: .relu),
            Case(geometry: Self.conv(12, 9), height: 13, width: 75),
            Case(geometry: Self.conv(8, 8, pads: (0, 0, 0, 0)), height: 38, width: 98),
            // Tile groups that wrap to the next tile row; asymmetric and wide padding.
            Case(geometry: Self.conv(8, 17), height: 37, width: 21),
            Case(geometry: Self.conv(11, 8, pads: (0, 1, 1, 0)), height: 30, width: 45),
            Case(geometry: Self.conv(8, 10, pads: (2, 0, 0, 2)), height: 17, width: 70),
            Case(geometry: Self.conv(8, 8, pads: (2, 2, 2, 2)), height: 6, width: 35),
            // Batches, without bias.
            Case(geometry: Self.conv(9, 12), batch: 3, height: 18, width: 50, hasBias: false),
            Case(geometry: Self.conv(32, 20), batch: 2, height: 7, width: 33, activation: .relu),
            // Channel counts off the row-block sizes, below the automatic choice's threshold.
            Case(geometry: Self.conv(3, 16), height: 20, width: 36),
            Case(geometry: Self.conv(1, 1), height: 9, width: 40),
            Case(geometry: Self.conv(5, 7), batch: 2, height: 13, width: 7),
        ]
        for (index, c) in cases.enumerated() { check(c, seed: UInt64(100 + index)) }
    }

    /// Dilated convolutions run as d² undilated phases: DeepLab's atrous rates, planes smaller than the
    /// dilation, phases with no input pixels, bottom and right pads that are not multiples of it.
    func testDilatedConvolutionsRunInPhases() {
        typealias Case = Conv2DKernelTests.Case
        func dilated(_ inChannels: Int, _ outChannels: Int, _ d: Int, pads: (Int, Int, Int, Int)) -> Conv2DGeometry {
            G.geometry(inChannels, outChannels, kernel: (3, 3), dilation: (d, d), pads: pads)
        }
        let cases: [Case] = [
            Case(geometry: dilated(16, 8, 2, pads: (2, 2, 2, 2)), height: 23, width: 30, activation: .relu),
            Case(geometry: dilated(8, 12, 6, pads: (6, 6, 6, 6)), batch: 2, height: 20, width: 17),
            Case(geometry: dilated(9, 8, 12, pads: (12, 12, 12, 12)), height: 16, width: 13, activation: .relu),
            Case(geometry: dilated(8, 9, 3, pads: (0, 3, 1, 5)), height: 14, width: 9, hasBias: false),
            Case(geometry: dilated(8, 8, 4, pads: (8, 4, 0, 7)), height: 3, width: 2),
        ]
        for (index, c) in cases.enumerated() { check(c, seed: UInt64(200 + index)) }
    }

    /// Every activation, fused, equals the scalar reference applied to the unactivated output, bitwise.
    func testFusedActivations() {
        let activations: [FusedActivation] = [.relu, .leakyRelu(alpha: 0.01), .clip(min: -0.25, max: 0.75), .sigmoid,
                                              .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .tanh]
        let geometry = Self.conv(12, 10)
        var rng = SeededGenerator(seed: 7)
        let weights = rng.floats(10 * 12 * 9), bias = rng.floats(10)
        let input = rng.floats(2 * 12 * 19 * 70).map { $0 * 4 }
        let plainCase = Conv2DKernelTests.Case(geometry: geometry, batch: 2, height: 19, width: 70)
        let plain = Self.run(plainCase, algorithm: .winograd, weights: weights, bias: bias, input: input, threads: 1)
        for activation in activations {
            var c = plainCase
            c.activation = activation
            let fused = Self.run(c, algorithm: .winograd, weights: weights, bias: bias, input: input, threads: 2)
            XCTAssertTrue(fused.elementsEqual(plain.map(activation.apply)) { $0.bitPattern == $1.bitPattern },
                          "\(activation)")
            check(c, seed: 8)
        }
    }
}
