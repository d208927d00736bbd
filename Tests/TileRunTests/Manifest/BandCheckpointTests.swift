import Foundation
@testable import TileRun
import XCTest

/// In-scene checkpoints: a scene resumed from any number of saved bands gives the bytes of a run that was
/// never interrupted.
final class BandCheckpointTests: FolderTestCase {

    /// Saved bands kept in memory, as the manifest keeps them on disk.
    private final class BandStore: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var bands: [Data] = []

        init(_ bands: [Data] = []) { self.bands = bands }

        func checkpoints() -> BandCheckpoints {
            BandCheckpoints(saved: bands.count, load: { k in self.lock.withLock { self.bands[k] } }, save: { k, _, _, data in
                self.lock.withLock {
                    XCTAssertEqual(k, self.bands.count, "bands are saved in order, after the saved ones")
                    self.bands.append(data)
                }
            })
        }
    }

    private func outputBytes(_ result: SceneResult) throws -> [String: Data] {
        var bytes: [String: Data] = [:]
        for path in result.outputFiles { bytes[URL(fileURLWithPath: path).lastPathComponent] = try Data(contentsOf: URL(fileURLWithPath: path)) }
        return bytes
    }

    func testResumingFromAnySavedBandGivesTheSameBytes() throws {
        // Nodata (0) in a block covering whole tiles, so some tiles are left out and counted.
        let scene = try PipelineFixtures.writeScene(directory.appendingPathComponent("scene.tif").path, width: 100, height: 150,
                                                    noData: NoData(value: 0)) { b, x, y in
            x >= 36 && y < 64 ? 0 : max(1, PipelineFixtures.texture(b, x, y))
        }
        // An overlap of 40 in 64-pixel tiles makes tiles reach two bands down, so a resume re-infers two tile
        // rows; with Hann weights every contribution shows in the probabilities' bits.
        for (overlap, blending) in [(16, Blending.center), (40, Blending.hann)] {
            var settings = try PipelineFixtures.settings(inputs: [scene], output: directory.appendingPathComponent("out-\(overlap)"),
                                                         blending: blending)
            settings.overlap = overlap
            try FileManager.default.createDirectory(atPath: settings.outputFolder, withIntermediateDirectories: true)
            let processor = SceneProcessor(plan: try ModelPlan(settings: settings))
            let input = SceneInput(file: scene)
            let grid = TileGrid(width: 100, height: 150, tileSize: 64, overlap: overlap)

            let store = BandStore()
            let reference = try processor.stream(input, checkpoints: store.checkpoints()).complete()
            let expected = try outputBytes(reference)
            XCTAssertEqual(store.bands.count, grid.rows.count, "one band per tile row")
            XCTAssertGreaterThan(reference.skippedTiles, 0)
            if overlap == 40 {
                XCTAssertTrue(grid.rows.indices.contains { $0 > 1 && grid.firstTileRow(reaching: grid.rows[$0]) < $0 - 1 },
                              "some band is reached by tile rows more than one above it")
            }

            for saved in 0...grid.rows.count {
                let resumed = BandStore(Array(store.bands.prefix(saved)))
                var tilesReported = 0
                let result = try processor.stream(input, checkpoints: resumed.checkpoints()) { tilesReported += $0 }.complete()
                XCTAssertEqual(try outputBytes(result), expected, "overlap \(overlap), resumed after \(saved) saved bands")
                XCTAssertEqual(result.skippedTiles, reference.skippedTiles, "overlap \(overlap), \(saved) saved bands")
                XCTAssertEqual(resumed.bands, store.bands, "the bands saved after a resume are those of the first run")
                XCTAssertEqual(tilesReported, grid.rows.count * grid.columns.count)
            }
        }
    }

    func testASavedBandThatDoesNotFitTheSceneIsRefused() throws {
        var band = FinishedBand(top: 48, rows: 48, width: 100, classes: 4, probabilities: false)
        band.labels = [UInt8](repeating: 2, count: 48 * 100)
        let data = SavedBand(band: band, skippedTiles: 1).encoded()
        let decoded = try SavedBand.decode(data, k: 1, scene: "a.tif", top: 48, rows: 48, width: 100, classes: 4, probabilities: false)
        XCTAssertEqual(decoded.band.labels, band.labels)
        XCTAssertEqual(decoded.skippedTiles, 1)
        XCTAssertThrowsError(try SavedBand.decode(data, k: 1, scene: "a.tif", top: 0, rows: 48, width: 100, classes: 4, probabilities: false))
        XCTAssertThrowsError(try SavedBand.decode(data.dropLast(), k: 1, scene: "a.tif", top: 48, rows: 48, width: 100, classes: 4,
                                                  probabilities: false))
        XCTAssertThrowsError(try SavedBand.decode(data, k: 1, scene: "a.tif", top: 48, rows: 48, width: 100, classes: 4, probabilities: true))
    }

    func testAStopRequestInterruptsTheSceneAndLeavesNoTemporaryFiles() throws {
        let scene = try PipelineFixtures.writeScene(directory.appendingPathComponent("scene.tif").path, width: 100, height: 150,
                                                    value: PipelineFixtures.texture)
        let output = directory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let processor = SceneProcessor(plan: try ModelPlan(settings: try PipelineFixtures.settings(inputs: [scene], output: output)))
        let stop = StopRequest()
        let store = BandStore()
        var batches = 0
        XCTAssertThrowsError(try processor.stream(SceneInput(file: scene), checkpoints: store.checkpoints(), stop: stop) { _ in
            batches += 1
            if batches == 2 { stop.request(signal: SIGTERM) }
        }) { error in XCTAssertTrue(error is SceneInterrupted, "\(error)") }
        XCTAssertEqual(stop.signal, SIGTERM)
        XCTAssertEqual(batches, 2, "no batch of the 3 tile rows is taken after the request")
        XCTAssertEqual(store.bands.count, 2, "the bands finished before the request were saved")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path), [])
    }
}
