import Foundation
import TileRun
import XCTest

final class SceneGeneratorTests: XCTestCase {
    func testLabelsCoverEveryClassAndDependOnlyOnTheSeed() {
        let a = SceneGenerator(width: 512, height: 512, seed: 7).labels()
        XCTAssertEqual(a, SceneGenerator(width: 512, height: 512, seed: 7).labels())
        XCTAssertNotEqual(a, SceneGenerator(width: 512, height: 512, seed: 8).labels())
        let present = Set(a)
        for cls in [LandCoverClass.water, .tree, .grassland, .builtUp] {
            XCTAssertTrue(present.contains(cls.rawValue), "\(cls.name) missing")
        }
        XCTAssertTrue(present.isSubset(of: Set(LandCoverClass.allCases.map(\.rawValue))))
    }

    func testShippedSampleIsReproducedByteForByte() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = try SceneGenerator(width: 1024, height: 1024, seed: 1).write(to: dir.path, name: "landcover-1")
        let shipped = SharedData.packageRoot.appendingPathComponent("sample-data")
        for (path, name) in [(written.image, "landcover-1.tif"), (written.labels, "landcover-1-labels.tif")] {
            let expected = try Data(contentsOf: shipped.appendingPathComponent(name))
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), expected, "\(name) differs from sample-data/")
        }
        let labels = try RasterReader(path: written.labels)
        XCTAssertEqual(labels.info.colorMap?[80], LandCoverClass.water.colour)
        XCTAssertEqual(labels.info.geo?.coordinateSystem?.epsg, 32615)
        XCTAssertEqual(labels.info.geo?.transform?.pixelWidth, 0.5)
    }
}
