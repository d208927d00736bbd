import Foundation
import XCTest
@testable import TileRun

final class InferenceBenchmarkTests: XCTestCase {
    /// The shipped demo model on small tiles: the figures `tilerun bench` prints come from the repeats.
    func testMedianAndMeanComeFromTheTimedRepeats() throws {
        let model = SharedData.packageRoot.appendingPathComponent("models/landcover-demo.onnx").path
        let bench = InferenceBenchmark(tileSize: 64, batch: 2, threads: 1, repeats: 5)
        let started = DispatchTime.now().uptimeNanoseconds
        let result = try bench.run(path: model)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

        XCTAssertEqual(result.repeats, 5)
        XCTAssertGreaterThan(result.medianSeconds, 0)
        XCTAssertGreaterThan(result.meanSeconds, 0)
        // Both are per repeat: the timed repeats fit in the call, with the warm-up and profiled runs besides.
        XCTAssertLessThan(result.meanSeconds * Double(result.repeats), wall)
        // Three of the five repeats take at least the median.
        XCTAssertLessThan(result.medianSeconds * 3, wall)
        XCTAssertEqual(result.tilesPerSecond, 2 / result.medianSeconds, accuracy: 1e-9 * result.tilesPerSecond)
        XCTAssertGreaterThan(result.gflopsPerTile, 0)
        XCTAssertNotNil(result.secondsByOperator["Conv"])
    }
}
