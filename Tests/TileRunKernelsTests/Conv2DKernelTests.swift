import XCTest
import TileRunKernels

private extension FusedActivation {
    static let relu6Clip = FusedActivation.clip(min: 0, max: 6)
}

final class Conv2DKernelTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var geometry: Conv2DGeometry
        var batch = 1
        var height: Int
        var width: Int
        var activation: FusedActivation = .none
        var hasBias = true

        var description: String {
            let g = geometry
            return "\(g.inChannels)→\(g.outChannels) k\(g.kernelHeight)×\(g.kernelWidth) s\(g.strideY),\(g.strideX) "
                + "d\(g.dilationY),\(g.dilationX) pads t\(g.padTop) l\(g.padLeft) b\(g.padBottom) r\(g.padRight) "
                + "groups \(g.groups) on \(batch)×\(height)×\(width) \(activation)\(hasBias ? "" : " no bias")"
        }
    }

    static func geometry(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                         dilation: (Int, Int) = (1, 1), pads: (Int, Int, Int, Int) = (0, 0, 0, 0),
                         groups: Int = 1) -> Conv2DGeometry {
        Conv2DGeometry(inChannels: inChannels, outChannels: outChannels, kernelHeight: kernel.0,
                       kernelWidth: kernel.1, strideY: stride.0, strideX: stride.1, dilationY: dilation.0,
                       dilationX: dilation.1, padTop: pads.0, padLeft: pads.1, padBottom: pads.2, padRight: pads.3,
                       groups: groups)
    }

    /// Runs `kernel` with the given thread count into a NaN-filled buffer, so unwritten outputs show.
    static func run(_ kernel: Conv2DKernel, _ c: Case, input: [Float], threads: Int) -> [Float] {
        let out = c.geometry.outputSize(height: c.height, width: c.width)
        var output = [Float](repeating: .nan, count: c.batch * c.geometry.outChannels * out.height * out.width)
        input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                kernel.run(input: i.baseAddress!, batch: c.batch, height: c.height, width: c.width,
                           output: o.baseAddress!, threads: threads)
            }
        }
        return output
    }

    /// Compares against the reference and checks that 1, 2 and 3 threads agree bitwise.
    func check(_ c: Case, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededGenerator(seed: seed)
        let g = c.geometry
        let weights = rng.floats(g.outChannels * g.inChannelsPerGroup * g.kernelHeight * g.kernelWidth)
        let bias = c.hasBias ? rng.floats(g.outChannels) : nil
        let input = rng.floats(c.batch * g.inChannels * c.height * c.width)
        let kernel = Conv2DKernel(geometry: g, weights: weights, bias: bias, activation: c.activation)
        let expected = referenceConv(g, input: input, batch: c.batch, height: c.height, width: c.width,
                                     weights: weights, bias: bias, activation: c.activation)
        let single = Self.run(kernel, c, input: input, threads: 1)
        let error = relativeError(single, expected)
        XCTAssertLessThanOrEqual(error, 1e-4, "\(c)", file: file, line: line)
        for threads in [2, 3] {
            let multi = Self.run(kernel, c, input: input, threads: threads)
            XCTAssertTrue(multi.elementsEqual(single) { $0.bitPattern == $1.bitPattern },
                          "\(threads) threads differ from 1: \(c)", file: file, line: line)
        }
    }

    func testHandPickedGeometries() {
        typealias G = Conv2DKernelTests
        let cases: [Case] = [
            // Pointwise (plain GEMM), pixel count not a multiple of 16, batch 2.
            Case(geometry: G.geometry(16, 6, kernel: (1, 1)), batch: 2, height: 23, width: 19),
            Case(geometry: G.geometry(7, 5, kernel: (1, 1)), height: 4, width: 4),
            // 1×1 that is not pointwise: stride and padding.
            Case(geometry: G.geometry(5, 9, kernel: (1, 1), stride: (2, 2), pads: (1, 1, 0, 1)), height: 11, width: 20),
            // The 3×3 stride-1 hot path: tiny odd planes, rows wider than 16, first layer, batch 2.
            Case(geometry: G.geometry(5, 7, kernel: (3, 3), pads: (1, 1, 1, 1)), batch: 2, height: 13, width: 7),
            Case(geometry: G.geometry(16, 16, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 40, width: 37,
                 activation: .relu),
            Case(geometry: G.geometry(3, 16, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 33, width: 48),
            Case(geometry: G.geometry(4, 6, kernel: (3, 3)), height: 18, width: 35),
            // Stride 2 with asymmetric pads; 80 wide reaches the deinterleaving path.
            Case(geometry: G.geometry(8, 12, kernel: (3, 3), stride: (2, 2), pads: (0, 1, 1, 0)), height: 9, width: 80),
            Case(geometry: G.geometry(8, 12, kernel: (3, 3), stride: (2, 2), pads: (0, 1, 1, 0)), height: 35, width: 41),
            // Dilation, large kernels, ResNet stem, kernel larger than the input.
            Case(geometry: G.geometry(6, 10, kernel: (5, 5), dilation: (2, 2), pads: (4, 4, 4, 4)), height: 30, width: 24),
            Case(geometry: G.geometry(3, 8, kernel: (7, 7), stride: (2, 2), pads: (3, 3, 3, 3)), height: 37, width: 50),
            Case(geometry: G.geometry(2, 3, kernel: (5, 5), pads: (2, 2, 2, 2)), height: 3, width: 2),
            Case(geometry: G.geometry(3, 4, kernel: (3, 5), stride: (1, 2), dilation: (2, 1), pads: (2, 0, 1, 3)),
                 height: 21, width: 44),
            // Depthwise: 3×3 stride 1 and 2, multiplier 2 with dilation, stride 3.
            Case(geometry: G.geometry(32, 32, kernel: (3, 3), pads: (1, 1, 1, 1), groups: 32), height: 19, width: 40,
                 activation: .clip(min: 0, max: 6)),
            Case(geometry: G.geometry(24, 24, kernel: (3, 3), stride: (2, 2), pads: (1, 1, 1, 1), groups: 24),
                 batch: 2, height: 50, width: 67),
            Case(geometry: G.geometry(6, 12, kernel: (5, 5), dilation: (2, 2), pads: (4, 3, 2, 4), groups: 6),
                 height: 21, width: 23),
            Case(geometry: G.geometry(5, 5, kernel: (3, 3), stride: (3, 3), pads: (1, 2, 0, 1), groups: 5),
                 height: 40, width: 70),
            Case(geometry: G.geometry(4, 4, kernel: (3, 3), pads: (1, 1, 1, 1), groups: 4), height: 5, width: 3,
                 hasBias: false),
            Case(geometry: G.geometry(3, 3, kernel: (3, 3), pads: (1, 1, 1, 1), groups: 3), batch: 2, height: 4,
                 width: 64, activation: .relu6Clip),
            // Grouped with several channels per group.
            Case(geometry: G.geometry(8, 6, kernel: (3, 3), pads: (1, 1, 1, 1), groups: 2), batch: 2, height: 17,
                 width: 20),
            Case(geometry: G.geometry(16, 16, kernel: (1, 1), groups: 4), height: 9, width: 9),
            // Several reduction passes, 3×3 and pointwise.
            Case(geometry: G.geometry(80, 20, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 18, width: 18,
                 activation: .relu),
            Case(geometry: G.geometry(400, 8, kernel: (1, 1)), height: 6, width: 7),
            // Output-channel counts on every row-block remainder.
            Case(geometry: G.geometry(4, 1, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 10, width: 20),
            Case(geometry: G.geometry(4, 8, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 10, width: 20),
            Case(geometry: G.geometry(4, 9, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 10, width: 20),
            Case(geometry: G.geometry(4, 11, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 10, width: 20),
            Case(geometry: G.geometry(4, 13, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 10, width: 20),
            Case(geometry: G.geometry(4, 14, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 10, width: 20),
            // Stride 1 along x on planes at most 1/8 wider than whole 16-wide tiles takes the ring-buffer
            // path: several passes and bands, stride 2 along y only, dilation, a partial last tile, 5×5.
            Case(geometry: G.geometry(80, 20, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 19, width: 32,
                 activation: .relu),
            Case(geometry: G.geometry(40, 13, kernel: (3, 3), pads: (1, 1, 1, 1)), batch: 2, height: 21, width: 61),
            Case(geometry: G.geometry(6, 9, kernel: (3, 3), stride: (2, 1), pads: (1, 1, 0, 1)), height: 31, width: 64),
            Case(geometry: G.geometry(5, 7, kernel: (3, 3), dilation: (2, 3), pads: (2, 3, 1, 3)), height: 20, width: 48),
            Case(geometry: G.geometry(4, 6, kernel: (5, 5), pads: (2, 2, 2, 2)), height: 9, width: 14),
            Case(geometry: G.geometry(3, 16, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 35, width: 112,
                 activation: .hardSwish),
            Case(geometry: G.geometry(8, 10, kernel: (3, 3), pads: (1, 1, 1, 1), groups: 2), height: 12, width: 16),
            Case(geometry: G.geometry(3, 4, kernel: (1, 3), pads: (0, 0, 0, 0)), height: 5, width: 18),
            // One-row and one-column planes, widths around 16.
            Case(geometry: G.geometry(3, 5, kernel: (1, 3), pads: (0, 1, 0, 1)), height: 1, width: 17),
            Case(geometry: G.geometry(3, 5, kernel: (3, 1), pads: (1, 0, 1, 0)), height: 30, width: 1),
            Case(geometry: G.geometry(3, 5, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 5, width: 16),
            Case(geometry: G.geometry(3, 5, kernel: (3, 3), pads: (1, 1, 1, 1)), height: 5, width: 32),
        ]
        for (index, c) in cases.enumerated() { check(c, seed: UInt64(index + 1)) }
    }

    func testRandomGeometries() {
        var rng = SeededGenerator(seed: 2024)
        for index in 0..<60 {
            let kernel = (Int.random(in: 0..<4, using: &rng) * 2 + 1, Int.random(in: 0..<4, using: &rng) * 2 + 1)
            let stride = (Int.random(in: 1...2, using: &rng), Int.random(in: 1...2, using: &rng))
            let dilation = (Int.random(in: 1...2, using: &rng), Int.random(in: 1...2, using: &rng))
            let extent = ((kernel.0 - 1) * dilation.0 + 1, (kernel.1 - 1) * dilation.1 + 1)
            let pads = (Int.random(in: 0..<extent.0, using: &rng), Int.random(in: 0..<extent.1, using: &rng),
                        Int.random(in: 0..<extent.0, using: &rng), Int.random(in: 0..<extent.1, using: &rng))
            let groups = [1, 1, 2, 3].randomElement(using: &rng)!
            let depthwise = Bool.random(using: &rng) && index % 3 == 0
            let inPerGroup = depthwise ? 1 : Int.random(in: 1...9, using: &rng)
            let outPerGroup = depthwise ? Int.random(in: 1...2, using: &rng) : Int.random(in: 1...13, using: &rng)
            let channelGroups = depthwise ? Int.random(in: 2...12, using: &rng) : groups
            let height = Int.random(in: max(1, extent.0 - pads.0 - pads.2)...40, using: &rng)
            // Wide planes sometimes, so that stride-1 cases also take the ring-buffer path.
            let width = Int.random(in: max(1, extent.1 - pads.1 - pads.3)...(index % 4 == 1 ? 90 : 40), using: &rng)
            let activations: [FusedActivation] = [.none, .relu, .leakyRelu(alpha: 0.1), .clip(min: -0.5, max: 0.5),
                                                  .sigmoid, .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .tanh]
            let c = Case(geometry: Self.geometry(inPerGroup * channelGroups, outPerGroup * channelGroups,
                                                 kernel: kernel, stride: stride, dilation: dilation, pads: pads,
                                                 groups: channelGroups),
                         batch: Int.random(in: 1...2, using: &rng), height: height, width: width,
                         activation: activations.randomElement(using: &rng)!, hasBias: index % 5 != 0)
            check(c, seed: UInt64(1000 + index))
        }
    }

    /// Every activation, fused, equals the scalar reference applied to the unactivated output, bitwise,
    /// on both strategies (GEMM and depthwise direct).
    func testFusedActivationsMatchScalarApply() {
        let activations: [FusedActivation] = [.relu, .leakyRelu(alpha: 0.01), .clip(min: -0.25, max: 0.75), .sigmoid,
                                              .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .tanh]
        let shapes = [Self.geometry(5, 11, kernel: (3, 3), pads: (1, 1, 1, 1)),
                      Self.geometry(6, 6, kernel: (3, 3), stride: (2, 2), pads: (1, 1, 1, 1), groups: 6)]
        for (index, geometry) in shapes.enumerated() {
            var rng = SeededGenerator(seed: UInt64(77 + index))
            let weights = rng.floats(geometry.outChannels * geometry.inChannelsPerGroup * 9)
            let bias = rng.floats(geometry.outChannels)
            let input = rng.floats(geometry.inChannels * 19 * 35).map { $0 * 4 }
            let c = Case(geometry: geometry, height: 19, width: 35)
            let plain = Self.run(Conv2DKernel(geometry: geometry, weights: weights, bias: bias, activation: .none), c,
                                 input: input, threads: 1)
            for activation in activations {
                let fused = Self.run(Conv2DKernel(geometry: geometry, weights: weights, bias: bias,
                                                  activation: activation), c, input: input, threads: 2)
                XCTAssertTrue(fused.elementsEqual(plain.map(activation.apply)) { $0.bitPattern == $1.bitPattern },
                              "\(activation) on \(c)")
                check(Case(geometry: geometry, height: 19, width: 35, activation: activation), seed: 5)
            }
        }
    }

    func testOutputSizeAndFlops() {
        let g = Self.geometry(16, 32, kernel: (3, 3), stride: (2, 2), pads: (1, 1, 0, 0))
        XCTAssertTrue(g.outputSize(height: 9, width: 9) == (4, 4))
        XCTAssertTrue(Self.geometry(1, 1, kernel: (5, 5)).outputSize(height: 3, width: 9) == (0, 5))
        XCTAssertTrue(Self.geometry(1, 1, kernel: (3, 3), dilation: (2, 3), pads: (1, 2, 1, 2))
            .outputSize(height: 10, width: 10) == (8, 8))
        let kernel = Conv2DKernel(geometry: g, weights: [Float](repeating: 0, count: 32 * 16 * 9), bias: nil,
                                  activation: .none)
        XCTAssertEqual(kernel.flops(height: 9, width: 9), 2 * 16 * 32 * 9 * 16)
        let depthwise = Conv2DKernel(geometry: Self.geometry(8, 16, kernel: (3, 3), groups: 8),
                                     weights: [Float](repeating: 0, count: 16 * 9), bias: nil, activation: .none)
        XCTAssertEqual(depthwise.flops(height: 5, width: 5), 2 * 16 * 9 * 9)
    }

    /// An empty output (input smaller than the kernel) writes nothing and does not crash.
    func testEmptyOutput() {
        let g = Self.geometry(2, 3, kernel: (5, 5))
        let kernel = Conv2DKernel(geometry: g, weights: [Float](repeating: 1, count: 3 * 2 * 25), bias: nil,
                                  activation: .none)
        let input = [Float](repeating: 1, count: 2 * 3 * 8)
        var sentinel: [Float] = [42]
        kernel.run(input: input, batch: 1, height: 3, width: 8, output: &sentinel, threads: 2)
        XCTAssertEqual(sentinel, [42])
    }
}
