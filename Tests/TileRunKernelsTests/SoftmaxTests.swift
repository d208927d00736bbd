import Foundation
import TileRunKernels
import XCTest

final class SoftmaxTests: XCTestCase {
    /// The vector exponential's softmax matches a float64 reference, for the vector body and the scalar tail.
    func testSoftmaxMatchesFloat64Reference() {
        let (items, channels, plane) = (2, 6, 8 * 37 + 5)
        var state: UInt64 = 7
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(state >> 11) / Double(1 << 53)) * 60 - 30
        }
        var values = (0..<(items * channels * plane)).map { _ in next() }
        values[3] = -.infinity
        values[plane + 3] = 90
        let input = values
        values.withUnsafeMutableBufferPointer { softmaxChannels($0.baseAddress!, items: items, channels: channels, plane: plane) }
        var worst = 0.0
        for n in 0..<items {
            for p in 0..<plane {
                let logits = (0..<channels).map { Double(input[(n * channels + $0) * plane + p]) }
                let peak = logits.max()!
                let e = logits.map { Foundation.exp($0 - peak) }
                let sum = e.reduce(0, +)
                for c in 0..<channels {
                    worst = max(worst, abs(Double(values[(n * channels + c) * plane + p]) - e[c] / sum))
                }
            }
        }
        XCTAssertLessThan(worst, 1e-6)
        XCTAssertLessThan(values[3], 1e-30, "e^-inf is (about) 0")
    }
}
