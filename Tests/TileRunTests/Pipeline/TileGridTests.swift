import Foundation
@testable import TileRun
import XCTest

final class TileGridTests: XCTestCase {
    func testTilesCoverEveryPixelAndTheLastAreFlushWithTheEdges() {
        for (width, height, tile, overlap) in [(200, 160, 64, 16), (64, 64, 64, 8), (65, 1000, 64, 0), (1, 1, 64, 16),
                                               (30, 300, 64, 16), (1000, 513, 512, 64), (129, 130, 64, 63)] {
            let grid = TileGrid(width: width, height: height, tileSize: tile, overlap: overlap)
            var covered = [Int](repeating: 0, count: width * height)
            for w in grid.windows {
                XCTAssertEqual(w.width, tile)
                XCTAssertEqual(w.height, tile)
                XCTAssertGreaterThanOrEqual(w.x, 0)
                XCTAssertGreaterThanOrEqual(w.y, 0)
                for y in w.y..<min(w.maxY, height) { for x in w.x..<min(w.maxX, width) { covered[y * width + x] += 1 } }
            }
            XCTAssertFalse(covered.contains(0), "\(width)x\(height) tile \(tile) overlap \(overlap): a pixel is uncovered")
            for (positions, length) in [(grid.columns, width), (grid.rows, height)] {
                XCTAssertEqual(positions.first, 0)
                if length >= tile {
                    XCTAssertEqual(positions.last! + tile, length, "last tile flush with the edge")
                } else {
                    XCTAssertEqual(positions, [0], "one tile, padded, when the scene is smaller")
                }
                for (a, b) in zip(positions, positions.dropFirst()) {
                    XCTAssertGreaterThan(b, a)
                    XCTAssertGreaterThanOrEqual(a + tile - b, overlap, "neighbours overlap by at least the overlap")
                }
                let steps = zip(positions, positions.dropFirst()).map { $1 - $0 }
                if let shortest = steps.min(), let longest = steps.max() {
                    XCTAssertLessThanOrEqual(longest - shortest, 1, "tiles evenly spread: \(positions)")
                }
            }
        }
        XCTAssertEqual(TileGrid.positions(length: 200, tileSize: 64, overlap: 16), [0, 45, 90, 136])
    }

    func testBlendWeightsArePositiveEverywhereAndZeroOnlyNearInnerEdges() {
        for blending in Blending.allCases {
            for (length, tile, overlap) in [(200, 64, 16), (500, 128, 32), (100, 64, 10)] {
                let grid = TileGrid(width: length, height: length, tileSize: tile, overlap: overlap)
                var total = [Float](repeating: 0, count: length)
                for p in grid.columns {
                    let w = grid.axisWeights(position: p, sceneLength: length, blending: blending)
                    XCTAssertTrue(w.allSatisfy { $0 >= 0 && $0 <= 1 })
                    for i in 0..<tile where p + i < length { total[p + i] += w[i] }
                    if p == 0 { XCTAssertEqual(w[0], 1, "\(blending): the scene's first pixel keeps full weight") }
                    if p + tile == length { XCTAssertEqual(w[tile - 1], 1, "\(blending): the scene's last pixel keeps full weight") }
                    if p > 0 {
                        let margin = blending == .hann ? overlap / 4 : overlap / 2
                        XCTAssertTrue(w.prefix(margin).allSatisfy { $0 == 0 }, "\(blending): inner edge pixels get no weight")
                        XCTAssertGreaterThan(w[margin], 0)
                    }
                }
                XCTAssertTrue(total.allSatisfy { $0 > 0 }, "\(blending) \(length)/\(tile)/\(overlap): every pixel has weight")
            }
        }
        // Across a nominal overlap the Hann ramps of two neighbours sum to 1 (a smooth crossfade).
        let grid = TileGrid(width: 200, height: 200, tileSize: 64, overlap: 16)
        let a = grid.axisWeights(position: 0, sceneLength: 200, blending: .hann)
        let b = grid.axisWeights(position: 48, sceneLength: 200, blending: .hann)
        for i in 48..<64 { XCTAssertEqual(a[i] + b[i - 48], 1, accuracy: 1e-6) }
        XCTAssertTrue(a[48..<64].contains { $0 > 0 && $0 < 1 }, "a ramp, not a step")
    }

    func testEllipsoidalAreaMatchesTheWGS84Surface() {
        let earth = PixelArea.ellipsoidalArea(latitude0: -90, latitude1: 90, longitudeSpan: 360)
        XCTAssertEqual(earth / 1e6, 510_065_621.7, accuracy: 1)
        let equator = PixelArea.ellipsoidalArea(latitude0: 0, latitude1: 1, longitudeSpan: 1)
        let north = PixelArea.ellipsoidalArea(latitude0: 60, latitude1: 61, longitudeSpan: 1)
        XCTAssertEqual(equator / 1e6, 12_308.8, accuracy: 1)
        XCTAssertLessThan(north, equator * 0.5)

        let geographic = GeoReference.northUp(epsg: 4326, originX: 10, originY: 1, pixelSize: 0.5, projected: false)
        let area = PixelArea(geo: geographic)
        XCTAssertEqual(area.squareMetres(1)!, PixelArea.ellipsoidalArea(latitude0: 0.5, latitude1: 0, longitudeSpan: 0.5), accuracy: 1e-3)
        XCTAssertEqual(PixelArea(geo: PipelineFixtures.geo).squareMetres(7), 0.25)
        var feet = PipelineFixtures.geo
        feet.coordinateSystem?.metresPerUnit = 0.3048
        XCTAssertEqual(PixelArea(geo: feet).squareMetres(0)!, 0.25 * 0.3048 * 0.3048, accuracy: 1e-12)
        XCTAssertNil(PixelArea(geo: nil).squareMetres(0))
    }
}

final class TileSourceTests: XCTestCase {
    /// A scene smaller than a tile is padded by reflection (without repeating the edge pixel).
    func testSmallScenesArePaddedByReflection() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (width, height) = (40, 30)
        let scene = try PipelineFixtures.writeScene(dir.appendingPathComponent("small.tif").path, width: width, height: height,
                                                    value: PipelineFixtures.texture)
        let plan = try ModelPlan(settings: try PipelineFixtures.settings(inputs: [scene], output: dir))
        let grid = TileGrid(width: width, height: height, tileSize: 64, overlap: 16)
        let tile = try TileSource(scene: SceneInput(file: scene), plan: plan)
            .read(row: 0, column: 0, grid: grid, finished: RasterWindow(x: 0, y: 0, width: width, height: height))
        XCTAssertEqual(tile.window, RasterWindow(x: 0, y: 0, width: width, height: height))
        XCTAssertTrue(tile.hasData)
        func reflected(_ i: Int, _ n: Int) -> Int { i < n ? i : 2 * (n - 1) - i }
        for c in 0..<3 {
            for j in [0, 29, 30, 31, 45, 57] {
                for i in [0, 39, 40, 41, 63] {
                    let raw = Float(PipelineFixtures.texture(c, reflected(i, width), reflected(j, height)))
                    let expected: Float = (raw / 255 - 0.5) / 0.25
                    XCTAssertEqual(tile.values[(c * 64 + j) * 64 + i], expected, accuracy: 1e-5, "channel \(c) at \(i),\(j)")
                }
            }
        }
        // And the whole pipeline runs on it: one tile, every pixel classified.
        let result = try XCTUnwrap(try BatchRunner(plan: plan).run().results.first)
        XCTAssertEqual(result.tiles, 1)
        XCTAssertEqual(result.statistics.classes.map(\.pixels).reduce(0, +), width * height)
    }
}
