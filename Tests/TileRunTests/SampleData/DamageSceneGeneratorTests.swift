import Foundation
import TileRun
import XCTest

final class DamageSceneGeneratorTests: XCTestCase {
    func testShippedPairIsReproducedByteForByte() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = try DamageSceneGenerator(width: 768, height: 768, seed: 1).write(to: dir.path, name: "damage-1")
        XCTAssertEqual([written.pre, written.post, written.labels].map { ($0 as NSString).lastPathComponent },
                       ["damage-1-pre.tif", "damage-1-post.tif", "damage-1-labels.tif"])
        try assertShipped([(written.pre, "damage-1-pre.tif"), (written.post, "damage-1-post.tif"),
                           (written.labels, "damage-1-labels.tif")])
        let pre = try RasterReader(path: written.pre), post = try RasterReader(path: written.post)
        let labels = try RasterReader(path: written.labels)
        XCTAssertEqual(pre.info.geo, post.info.geo, "one grid for the pair")
        XCTAssertEqual(pre.info.geo, labels.info.geo)
        XCTAssertEqual(pre.info.geo?.coordinateSystem?.epsg, 32615)
        XCTAssertEqual(pre.info.geo?.transform?.pixelWidth, 0.5)
        XCTAssertEqual(pre.info.bandCount, 3)
        XCTAssertEqual(labels.info.colorMap?[Int(DamageClass.destroyed.rawValue)], DamageClass.destroyed.colour)
    }

    func testShippedPairHasBuildingsOfEveryDamageClass() {
        let labels = DamageSceneGenerator(width: 768, height: 768, seed: 1).labels()
        let buildings = buildingCounts(labels, width: 768)
        for cls in DamageClass.allCases where cls != .background {
            XCTAssertGreaterThanOrEqual(buildings[Int(cls.rawValue)], 3, "too few \(cls.name) buildings")
        }
        let background = labels.filter { $0 == 0 }.count
        XCTAssertGreaterThan(background, labels.count / 2, "mostly background, as in a neighbourhood")
        XCTAssertTrue(Set(labels).isSubset(of: Set(DamageClass.allCases.map(\.rawValue))))
    }

    func testDamageChangesThePostImageOnly() {
        let generator = DamageSceneGenerator(width: 256, height: 256, seed: 5)
        let pre = generator.imagery(post: false), post = generator.imagery(post: true)
        XCTAssertEqual(pre, DamageSceneGenerator(width: 256, height: 256, seed: 5).imagery(post: false))
        XCTAssertNotEqual(pre, post)
        XCTAssertNotEqual(generator.labels(), DamageSceneGenerator(width: 256, height: 256, seed: 6).labels())
    }

    func testSmallAndOddSizesWork() {
        for (width, height) in [(64, 64), (65, 97), (300, 129)] {
            let generator = DamageSceneGenerator(width: width, height: height, seed: 11)
            XCTAssertEqual(generator.labels().count, width * height)
            XCTAssertEqual(generator.imagery(post: true).count, width * height * 3)
        }
    }

    /// Footprints per class: a footprint is counted at its top-left pixel (a labelled pixel whose left and
    /// upper neighbours are not of its class; footprints are rectangles that never touch).
    private func buildingCounts(_ labels: [UInt8], width: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: 256)
        for (i, value) in labels.enumerated() where value != 0 {
            let left = i % width == 0 ? 0 : labels[i - 1], up = i < width ? 0 : labels[i - width]
            if left != value && up != value { counts[Int(value)] += 1 }
        }
        return counts
    }
}
