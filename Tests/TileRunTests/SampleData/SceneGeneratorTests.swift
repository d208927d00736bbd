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
        try assertShipped([(written.image, "landcover-1.tif"), (written.labels, "landcover-1-labels.tif")])
        let labels = try RasterReader(path: written.labels)
        XCTAssertEqual(labels.info.colorMap?[80], LandCoverClass.water.colour)
        XCTAssertEqual(labels.info.geo?.coordinateSystem?.epsg, 32615)
        XCTAssertEqual(labels.info.geo?.transform?.pixelWidth, 0.5)
    }

    func testShippedReflectanceSampleIsReproducedByteForByte() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let generator = SceneGenerator(width: 512, height: 512, seed: 1)
        let written = try generator.writeReflectance(to: dir.path, name: "landcover-nir-1")
        try assertShipped([(written.image, "landcover-nir-1.tif"), (written.labels, "landcover-nir-1-labels.tif")])
        let image = try RasterReader(path: written.image)
        XCTAssertEqual(image.info.bandCount, 4)
        XCTAssertEqual(image.info.sampleType, .uint16)
        XCTAssertEqual(image.info.geo?.coordinateSystem?.epsg, 32615)
        XCTAssertEqual(Set(generator.labels()), Set(LandCoverClass.allCases.map(\.rawValue)), "every class in the sample")
    }

    func testNearInfraredIsBrightOnVegetationAndDarkOnWater() {
        let generator = SceneGenerator(width: 256, height: 256, seed: 3)
        let labels = generator.labels()
        let bands = generator.reflectance(labels: labels)
        let plane = labels.count
        func meanNIR(_ cls: LandCoverClass) -> Double {
            let values = labels.indices.filter { labels[$0] == cls.rawValue }.map { Double(bands[3 * plane + $0]) }
            return values.reduce(0, +) / Double(max(1, values.count))
        }
        XCTAssertGreaterThan(meanNIR(.tree), 2500)
        XCTAssertGreaterThan(meanNIR(.grassland), 2000)
        XCTAssertLessThan(meanNIR(.water), 300)
        XCTAssertTrue(bands.allSatisfy { $0 <= 10000 }, "reflectance × 10000 stays at or below 10000")
    }
}

/// Asserts that each written file equals the file of that name in `sample-data/`.
func assertShipped(_ files: [(written: String, shipped: String)], file: StaticString = #filePath, line: UInt = #line) throws {
    let folder = SharedData.packageRoot.appendingPathComponent("sample-data")
    for (written, name) in files {
        let expected = try Data(contentsOf: folder.appendingPathComponent(name))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: written)), expected, "\(name) differs from sample-data/",
                       file: file, line: line)
    }
}
