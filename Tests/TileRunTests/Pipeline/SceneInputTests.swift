import Foundation
@testable import TileRun
import XCTest

/// Pre/post pairs, list files, percentile stretch, internal masks, and the progress output.
final class SceneInputTests: FolderTestCase {
    func testPairsAreMatchedByNameOrListedAndUnmatchedFilesReported() {
        let files = ["/d/a-pre.tif", "/d/a-post.tif", "/d/b_pre_disaster.tif", "/d/b_post_disaster.tif",
                     "/joplin/pre.tif", "/joplin/post.tif", "/d/c-pre.tif", "/d/d-post.tif", "/d/other.tif",
                     "/x/1.tif", "/x/2.tif"]
        let found = ScenePairing.pairs(files, explicit: [PipelineFile.Pair(pre: "/x/1.tif", post: "/x/2.tif")])
        XCTAssertEqual(found.scenes.map(\.name), ["1", "a", "b_disaster", "joplin"])
        XCTAssertEqual(found.scenes.map(\.files), [["/x/1.tif", "/x/2.tif"], ["/d/a-pre.tif", "/d/a-post.tif"],
                                                   ["/d/b_pre_disaster.tif", "/d/b_post_disaster.tif"], ["/joplin/pre.tif", "/joplin/post.tif"]])
        XCTAssertEqual(found.problems.count, 3, "\(found.problems)")
        XCTAssertTrue(found.problems.contains { $0.hasPrefix("/d/other.tif: not a pre- or post-event scene") }, "\(found.problems)")
        XCTAssertTrue(found.problems.contains { $0.hasPrefix("/d/c-pre.tif: no post-event scene matches it") }, "\(found.problems)")
        XCTAssertTrue(found.problems.contains { $0.hasPrefix("/d/d-post.tif: no pre-event scene matches it") }, "\(found.problems)")
        // Other words, case ignored.
        let custom = ScenePairing.pairs(["/e/x-BEFORE.tif", "/e/x-after.tif"], pattern: PipelineFile.PairPattern(pre: "before", post: "after"))
        XCTAssertEqual(custom.scenes.map(\.name), ["x"])
        XCTAssertEqual(custom.problems, [])
    }

    /// A pre-post model gets the pre scene's bands then the post scene's, and tiled inference over the
    /// pair equals one inference over the stacked pair.
    func testPrePostModelsGetBothScenesStackedAndTiledEqualsWhole() throws {
        let model = try PipelineFixtures.model(prePost: true)
        let (width, height) = (130, 100)
        let pre = try PipelineFixtures.writeScene(path("site-pre.tif"), width: width, height: height, value: PipelineFixtures.texture)
        let post = try PipelineFixtures.writeScene(path("site-post.tif"), width: width, height: height) { b, x, y in
            PipelineFixtures.texture(b + 3, y, x)
        }
        var settings = try PipelineFixtures.settings(inputs: [directory.path], output: directory.appendingPathComponent("out"))
        settings.modelPath = model
        let plan = try ModelPlan(settings: settings)
        XCTAssertTrue(plan.isPrePost)
        XCTAssertEqual(plan.channels, 6)
        let outcome = try BatchRunner(plan: plan).run()
        XCTAssertEqual(outcome.failures, [])
        let result = try XCTUnwrap(outcome.results.first)
        XCTAssertEqual(result.scene.name, "site")
        XCTAssertEqual(result.classMap, path("out/site-classes.tif"))

        let window = RasterWindow(x: 0, y: 0, width: width, height: height)
        let stacked = try RasterReader(path: pre).readFloat(window) + RasterReader(path: post).readFloat(window)
        let logits = try plan.session.run(["image": Tensor(shape: [1, 6, height, width], floats: stacked.map { ($0 / 255 - 0.5) / 0.25 })],
                                          threads: 1)["logits"]!.floats!
        let tiled = try RasterReader(path: try XCTUnwrap(result.probabilities)).readFloat(window)
        let plane = width * height
        var worst: Float = 0
        for y in 2..<(height - 2) {
            for x in 2..<(width - 2) {
                let p = y * width + x
                let e = (0..<4).map { exp(Double(logits[$0 * plane + p])) }
                for c in 0..<4 { worst = max(worst, abs(tiled[c * plane + p] - Float(e[c] / e.reduce(0, +)))) }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    func testAPairOnDifferentGridsIsRefusedSayingHowTheyDiffer() throws {
        try PipelineFixtures.writeScene(path("a-pre.tif"), width: 60, height: 50, value: PipelineFixtures.texture)
        try PipelineFixtures.writeScene(path("a-post.tif"), width: 64, height: 50, value: PipelineFixtures.texture)
        var settings = try PipelineFixtures.settings(inputs: [path("*.tif")], output: directory.appendingPathComponent("out"))
        settings.modelPath = try PipelineFixtures.model(prePost: true)
        let outcome = try BatchRunner(plan: try ModelPlan(settings: settings)).run()
        XCTAssertEqual(outcome.results.count, 0)
        XCTAssertEqual(outcome.failures, ["\(path("a-post.tif")): does not share the grid of its pre-event scene \(path("a-pre.tif")): size 64x50 vs 60x50"])
        // A pre-post model cannot take a file that is neither a pre- nor a post-event scene.
        try PipelineFixtures.writeScene(path("lone.tif"), width: 60, height: 50, value: PipelineFixtures.texture)
        settings.inputs = [path("lone.tif")]
        let lone = try BatchRunner(plan: try ModelPlan(settings: settings)).run()
        XCTAssertEqual(lone.results.count, 0)
        XCTAssertEqual(lone.failures.count, 1)
        XCTAssertTrue(lone.failures[0].hasPrefix("\(path("lone.tif")): not a pre- or post-event scene"), lone.failures[0])
    }

    /// Joplin 2011's pre and post scenes are misregistered by 0.47 m and 0.27 m at 0.6 m pixels: one grid.
    func testSubPixelMisregistrationIsTheSameGridAWholePixelIsNot() throws {
        let pre = try RasterReader(path: try SharedData.path("scenes/joplin-2011/pre.tif")).info
        let post = try RasterReader(path: try SharedData.path("scenes/joplin-2011/post.tif")).info
        XCTAssertNoThrow(try TileSource.checkSameGrid(pre, post))
        var shifted = post
        shifted.geo?.transform?.originX += 0.6
        XCTAssertThrowsError(try TileSource.checkSameGrid(pre, shifted)) { error in
            XCTAssertTrue("\(error)".contains("a pixel or more apart"), "\(error)")
        }
    }

    func testListFilesNameScenesRelativeToTheirFolder() throws {
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("scenes"), withIntermediateDirectories: true)
        for name in ["a", "b", "c"] {
            try PipelineFixtures.writeScene(path("scenes/\(name).tif"), width: 20, height: 20, value: PipelineFixtures.texture)
        }
        try "# tonight's scenes\nscenes/b.tif\n\n  scenes/a.tif  \nscenes/missing.tif\n".write(toFile: path("list.txt"), atomically: true, encoding: .utf8)
        let found = InputDiscovery.scenes([path("list.txt"), path("scenes/c.tif")])
        XCTAssertEqual(found.paths, [path("scenes/b.tif"), path("scenes/a.tif"), path("scenes/missing.tif"), path("scenes/c.tif")])
        XCTAssertEqual(found.problems, [])
        XCTAssertEqual(InputDiscovery.scenes([path("nolist.txt")]).problems.count, 1)
    }

    func testPercentileStretchMapsEachBandsLowAndHighPercentilesToZeroAndOne() throws {
        let (width, height) = (100, 100)
        let scene = path("u16.tif")
        var samples = [UInt16](repeating: 0, count: 3 * width * height)
        for b in 0..<3 {
            for p in 0..<(width * height) { samples[b * width * height + p] = UInt16(p * (b + 1)) }
        }
        let writer = try RasterWriter(path: scene, width: width, height: height, options: RasterWriterOptions(
            sampleType: .uint16, bandCount: 3, tileSize: 64, geo: PipelineFixtures.geo, cloudOptimized: false))
        try writer.write(rows: 0, height: height, values: samples)
        try writer.finish()
        let percentiles = try BandPercentiles.compute(try RasterReader(path: scene), bands: [0, 1, 2], low: 2, high: 98)
        for b in 0..<3 {
            // Values p × (b + 1) for p in 0..<10000: the 2nd and 98th percentiles are the 200th and 9800th values.
            XCTAssertEqual(percentiles[b].low, Float(199 * (b + 1)))
            XCTAssertEqual(percentiles[b].high, Float(9799 * (b + 1)))
        }
        var settings = try PipelineFixtures.settings(inputs: [scene], output: directory.appendingPathComponent("out"))
        settings.normalization = PipelineFile.Normalization(mean: [0.5], std: [0.25], percentiles: [2, 98])
        let plan = try ModelPlan(settings: settings)
        let source = try TileSource(scene: SceneInput(file: scene), plan: plan)
        for b in 0..<3 {
            let (m, a) = source.affine[b]
            XCTAssertEqual(Float(199 * (b + 1)) * m + a, (0 - 0.5) / 0.25, accuracy: 1e-4)
            XCTAssertEqual(Float(9799 * (b + 1)) * m + a, (1 - 0.5) / 0.25, accuracy: 1e-4)
        }
        XCTAssertEqual(try BatchRunner(plan: plan).run().failures, [])
    }

    /// rio-cogeo's image_rgb_mask.tif carries GDAL's internal mask: masked pixels become nodata.
    func testInternalMasksMakeNodata() throws {
        let scene = try SharedData.corpus("rio-cogeo/image_rgb_mask.tif")
        let reader = try RasterReader(path: scene)
        let mask = try XCTUnwrap(try reader.openInternalMask())
        let maskValues = try mask.readFloat(reader.info.bounds)
        let masked = maskValues.filter { $0 == 0 }.count
        XCTAssertGreaterThan(masked, 0)
        XCTAssertLessThan(masked, maskValues.count)
        var settings = try PipelineFixtures.settings(inputs: [scene], output: directory.appendingPathComponent("out"), probabilities: false)
        settings.tileSize = 128
        settings.overlap = 16
        let result = try XCTUnwrap(try BatchRunner(plan: try ModelPlan(settings: settings)).run().results.first)
        let classes = try RasterReader(path: result.classMap).readNative(reader.info.bounds).bytes
        for (value, m) in zip(classes, maskValues) {
            XCTAssertEqual(value == 255, m == 0)
            if (value == 255) != (m == 0) { break }
        }
        XCTAssertEqual(result.statistics.nodataPixels, masked)
    }

    /// `--progress json` writes one JSON object a line; without a terminal the default is timestamped lines.
    func testProgressIsJSONLinesOrTimestampedLines() throws {
        let model = try PipelineFixtures.model()
        let scene = try PipelineFixtures.writeScene(path("s.tif"), width: 150, height: 100, value: PipelineFixtures.texture)
        let json = try TileRunBinary.run(["run", "--model", model, "--input", scene, "--input", path("missing.tif"),
                                          "--output", path("out"), "--progress", "json"])
        XCTAssertEqual(json.status, 1, json.stderr)
        let events = try json.stderr.split(separator: "\n").map { line -> [String: Any] in
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
        }
        XCTAssertEqual(events.compactMap { $0["event"] as? String }.filter { $0 != "progress" },
                       ["planned", "scene_started", "scene_started", "scene_finished", "scene_failed", "finished"],
                       "a scene is reported finished once its files are built, while the next one runs")
        XCTAssertEqual(events.first?["tiles"] as? Int, 1, "planned tiles: one 512² tile for s.tif, none for the missing file")
        let lines = try TileRunBinary.run(["run", "--model", model, "--input", scene, "--output", path("out2")])
        XCTAssertEqual(lines.status, 0, lines.stderr)
        let stamped = lines.stderr.split(separator: "\n")
        XCTAssertFalse(stamped.isEmpty)
        for line in stamped {
            XCTAssertNotNil(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression), String(line))
        }
    }
}
