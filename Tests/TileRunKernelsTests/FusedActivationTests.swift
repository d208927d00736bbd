import XCTest
@testable import TileRunKernels

final class FusedActivationTests: XCTestCase {
    static let all: [FusedActivation] = [.none, .relu, .leakyRelu(alpha: 0.2), .clip(min: -1, max: 2), .sigmoid,
                                         .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .tanh]

    func testScalarDefinitions() {
        XCTAssertEqual(FusedActivation.relu.apply(-3), 0)
        XCTAssertEqual(FusedActivation.relu.apply(2.5), 2.5)
        XCTAssertEqual(FusedActivation.leakyRelu(alpha: 0.1).apply(-2), -0.2, accuracy: 1e-7)
        XCTAssertEqual(FusedActivation.clip(min: 0, max: 6).apply(7), 6)
        XCTAssertEqual(FusedActivation.clip(min: 0, max: 6).apply(-1), 0)
        XCTAssertEqual(FusedActivation.sigmoid.apply(0), 0.5)
        XCTAssertEqual(FusedActivation.hardSigmoid(alpha: 0.2, beta: 0.5).apply(1), 0.7, accuracy: 1e-7)
        XCTAssertEqual(FusedActivation.hardSigmoid(alpha: 0.2, beta: 0.5).apply(10), 1)
        XCTAssertEqual(FusedActivation.hardSwish.apply(1), 1 * (1.0 / 6 + 0.5), accuracy: 1e-7)
        XCTAssertEqual(FusedActivation.hardSwish.apply(-4), 0)
        XCTAssertEqual(FusedActivation.hardSwish.apply(4), 4)
        XCTAssertEqual(FusedActivation.tanh.apply(0.5), Float(Foundation.tanh(0.5)), accuracy: 1e-7)
        XCTAssertTrue(FusedActivation.relu.apply(.nan).isNaN)
    }

    /// The vector form used in epilogues equals the scalar reference bitwise, including the tail.
    func testVectorFormMatchesScalar() {
        var rng = SeededGenerator(seed: 3)
        let values = rng.floats(37).map { $0 * 8 } + [0, -0.0, .infinity, -.infinity]
        for activation in Self.all {
            var buffer = values
            activation.apply(to: &buffer, count: buffer.count)
            XCTAssertTrue(buffer.elementsEqual(values.map(activation.apply)) { $0.bitPattern == $1.bitPattern },
                          "\(activation)")
        }
    }
}
