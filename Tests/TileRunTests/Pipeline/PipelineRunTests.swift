import Foundation
@testable import TileRun
import XCTest

final class PipelineRunTests: FolderTestCase {
    private func run(_ settings: RunSettings) throws -> BatchRunner.Outcome {
        try BatchRunner(plan: try ModelPlan(settings: settings)).run()
    }

    /// Tiled inference (64-pixel tiles, overlap 16, Hann blending) equals one inference over the whole scene.
    func testTiledInferenceMatchesWholeSceneInference() throws {
        let (width, height) = (200, 160)
        let scene = try PipelineFixtures.writeScene(path("scene.tif"), width: width, height: height, value: PipelineFixtures.texture)
        for blending in Blending.allCases {
            let output = directory.appendingPathComponent("out-\(blending.rawValue)")
            let settings = try PipelineFixtures.settings(inputs: [scene], output: output, blending: blending)
            let plan = try ModelPlan(settings: settings)
            let outcome = try BatchRunner(plan: plan).run()
            XCTAssertEqual(outcome.failures, [])
            let result = try XCTUnwrap(outcome.results.first)
            XCTAssertEqual(result.tiles, 4 * 3)

            // The reference: the whole scene normalized as the model's metadata says, in one inference.
            let pixels = try RasterReader(path: scene).readFloat(RasterWindow(x: 0, y: 0, width: width, height: height))
            let input = pixels.map { ($0 / 255 - 0.5) / 0.25 }
            let logits = try plan.session.run(["image": Tensor(shape: [1, 3, height, width], floats: input)], threads: 1)["logits"]!
            var expected = logits.floats!
            let plane = width * height
            for p in 0..<plane {
                let e = (0..<4).map { exp(Double(expected[$0 * plane + p])) }
                let sum = e.reduce(0, +)
                for c in 0..<4 { expected[c * plane + p] = Float(e[c] / sum) }
            }
            let tiled = try RasterReader(path: try XCTUnwrap(result.probabilities)).readFloat(RasterWindow(x: 0, y: 0, width: width, height: height))
            // The model sees 2 pixels around each output pixel; stay that far from the scene border.
            var worst: Float = 0
            for c in 0..<4 {
                for y in 2..<(height - 2) {
                    for x in 2..<(width - 2) {
                        let i = c * plane + y * width + x
                        worst = max(worst, abs(tiled[i] - expected[i]))
                    }
                }
            }
            XCTAssertLessThanOrEqual(worst, 1e-4, "\(blending): tiled and whole-scene probabilities differ")
            // The class map is the argmax of the blended probabilities, mapped to the metadata's values.
            let classes = try RasterReader(path: result.classMap).readNative(RasterWindow(x: 0, y: 0, width: width, height: height))
            let values = [10, 20, 30, 40]
            var seen = Set<Int>()
            for p in 0..<plane {
                let probabilities = (0..<4).map { tiled[$0 * plane + p] }
                let best = probabilities.firstIndex(of: probabilities.max()!)!
                XCTAssertEqual(Int(classes.bytes[p]), values[best])
                seen.insert(values[best])
            }
            XCTAssertGreaterThan(seen.count, 1, "the test model should not predict one class everywhere")
        }
    }

    func testClassMapKeepsGeoreferencingPaletteAndNodata() throws {
        let (width, height) = (150, 140)
        // Nodata (0 in every band) in a left strip of 20 columns and in a 70×70 block covering whole tiles.
        func isEmpty(_ x: Int, _ y: Int) -> Bool { x < 20 || (x >= 80 && y >= 70) }
        let scene = try PipelineFixtures.writeScene(path("nodata.tif"), width: width, height: height, noData: NoData(value: 0)) { b, x, y in
            isEmpty(x, y) ? 0 : max(1, PipelineFixtures.texture(b, x, y))
        }
        let outcome = try run(try PipelineFixtures.settings(inputs: [scene], output: directory.appendingPathComponent("out")))
        let result = try XCTUnwrap(outcome.results.first, "\(outcome.failures)")
        XCTAssertGreaterThan(result.skippedTiles, 0, "tiles entirely nodata are not inferred")

        let reader = try RasterReader(path: result.classMap)
        let info = reader.info
        XCTAssertEqual(info.width, width)
        XCTAssertEqual(info.height, height)
        XCTAssertEqual(info.sampleType, .uint8)
        XCTAssertEqual(info.geo?.transform, PipelineFixtures.geo.transform)
        XCTAssertEqual(info.geo?.coordinateSystem?.epsg, 32615)
        XCTAssertEqual(info.noData?.value, 255)
        XCTAssertEqual(info.compression.lowercased().contains("deflate") || info.compression.lowercased().contains("adobe"), true, info.compression)
        XCTAssertTrue(info.layout.isTiled)
        let palette = try XCTUnwrap(info.colorMap)
        XCTAssertEqual(palette[10], PaletteColor(red: 0, green: 0x64, blue: 0xC8))
        XCTAssertEqual(palette[30], PaletteColor(red: 0xFA, green: 0, blue: 0))
        let classes = try reader.readNative(info.bounds)
        var nodata = 0
        for y in 0..<height {
            for x in 0..<width {
                let v = classes.bytes[y * width + x]
                if isEmpty(x, y) {
                    XCTAssertEqual(v, 255, "nodata at \(x),\(y)")
                    nodata += 1
                } else {
                    XCTAssertTrue([10, 20, 30, 40].contains(v), "class \(v) at \(x),\(y)")
                }
            }
        }

        // The probabilities are NaN (their nodata) where the input is nodata, and sum to 1 elsewhere.
        let probabilities = try RasterReader(path: try XCTUnwrap(result.probabilities)).readFloat(info.bounds)
        let plane = width * height
        for (x, y) in [(0, 0), (19, 100), (100, 100), (21, 3), (79, 139)] {
            let p = (0..<4).map { probabilities[$0 * plane + y * width + x] }
            if isEmpty(x, y) {
                XCTAssertTrue(p.allSatisfy(\.isNaN), "\(x),\(y): \(p)")
            } else {
                XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-5, "\(x),\(y)")
            }
        }

        // Statistics: pixels per class add up, areas are 0.25 m² per pixel; JSON and CSV agree.
        let stats = result.statistics
        XCTAssertEqual(stats.nodataPixels, nodata)
        XCTAssertEqual(stats.classes.map(\.pixels).reduce(0, +) + nodata, width * height)
        for c in stats.classes {
            XCTAssertEqual(c.areaSquareMetres!, Double(c.pixels) * 0.25, accuracy: 1e-9)
            XCTAssertEqual(c.areaHectares!, Double(c.pixels) * 0.25 / 10_000, accuracy: 1e-12)
            XCTAssertEqual(c.pixels, classes.bytes.filter { Int($0) == c.value }.count)
        }
        XCTAssertEqual(stats.classes.map(\.name), ["water", "trees", "built-up", "bare"])
        let decoded = try JSONDecoder().decode(SceneStatistics.self, from: Data(contentsOf: URL(fileURLWithPath: result.statisticsJSON)))
        XCTAssertEqual(decoded, stats)
        let csv = try String(contentsOfFile: result.statisticsCSV, encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("value,name,pixels,area_m2,area_ha\n10,\"water\",\(stats.classes[0].pixels),"), csv)
        XCTAssertTrue(csv.hasSuffix("nodata,,\(nodata),,\n"), csv)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("out").path).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "no temporary files are left behind")
    }

    func testClassValuesAbove254GiveAUInt16Map() throws {
        let output = path("wide.tif")
        let map = try ClassMapOutput(path: output, width: 20, height: 2, geo: PipelineFixtures.geo, values: [3, 300],
                                     colors: [ModelMetadata.ModelClass(value: 300, name: "many", color: PaletteColor(red: 1, green: 2, blue: 3))])
        try map.write(rows: 0, height: 2, labels: (0..<40).map { $0 % 3 == 0 ? FinishedBand.nodata : UInt8($0 % 3 - 1) })
        try map.finish()
        let reader = try RasterReader(path: output)
        XCTAssertEqual(reader.info.sampleType, .uint16)
        XCTAssertEqual(reader.info.noData?.value, 65535)
        XCTAssertEqual(reader.info.colorMap?[300], PaletteColor(red: 1, green: 2, blue: 3))
        let values = try reader.readDouble(reader.info.bounds)
        XCTAssertEqual(Array(values.prefix(4)), [65535, 3, 300, 65535])
    }

    /// A model whose batch is fixed at 2 gets the odd tile of a 3-column row padded with a blank tile.
    func testFixedBatchModelsGetShortBatchesPadded() throws {
        let scene = try PipelineFixtures.writeScene(path("scene.tif"), width: 150, height: 70, value: PipelineFixtures.texture)
        var probabilities: [[Float]] = []
        for fixed in [false, true] {
            var settings = try PipelineFixtures.settings(inputs: [scene], output: directory.appendingPathComponent("fixed-\(fixed)"))
            settings.modelPath = try PipelineFixtures.model(fixedBatch: fixed)
            let plan = try ModelPlan(settings: settings)
            XCTAssertEqual(plan.fixedBatch, fixed ? 2 : nil)
            let outcome = try BatchRunner(plan: plan).run()
            let result = try XCTUnwrap(outcome.results.first, "\(outcome.failures)")
            XCTAssertEqual(result.tiles, 3 * 2)
            probabilities.append(try RasterReader(path: result.probabilities!).readFloat(RasterWindow(x: 0, y: 0, width: 150, height: 70)))
        }
        let worst = zip(probabilities[0], probabilities[1]).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-5)
        var settings = try PipelineFixtures.settings(inputs: [scene], output: directory)
        settings.modelPath = try PipelineFixtures.model(fixedBatch: true)
        settings.batch = 3
        XCTAssertThrowsError(try ModelPlan(settings: settings)) { error in
            XCTAssertTrue("\(error)".contains("the input batch is fixed at 2, not the pipeline's batch 3"), "\(error)")
        }
    }

    /// Blending (rows of a tile in parallel) and the class map's compression (tiles in parallel) use the
    /// run's threads; the bytes must not depend on how many. Overlap 40 of 64 makes the rows a tile carries
    /// to the next tile row more than those it carried in, so its rows are blended in three phases.
    func testOutputsAreByteIdenticalWhateverTheThreadCount() throws {
        let scene = try PipelineFixtures.writeScene(path("scene.tif"), width: 600, height: 150, value: PipelineFixtures.texture)
        for overlap in [16, 40] {
            for probabilities in [true, false] {
                var outputs: [[Data]] = []
                for threads in [1, 2, 5] {
                    let output = directory.appendingPathComponent("overlap-\(overlap)-\(probabilities)-threads-\(threads)")
                    let settings = try PipelineFixtures.settings(inputs: [scene], output: output, threads: threads,
                                                                 probabilities: probabilities, overlap: overlap)
                    let result = try XCTUnwrap(try run(settings).results.first)
                    outputs.append(try ([result.classMap, result.statisticsJSON, result.statisticsCSV] + (result.probabilities.map { [$0] } ?? []))
                        .map { try Data(contentsOf: URL(fileURLWithPath: $0)) })
                }
                XCTAssertEqual(outputs[0].count, probabilities ? 4 : 3)
                for other in outputs.dropFirst() {
                    for (a, b) in zip(outputs[0], other) {
                        XCTAssertTrue(a == b, "overlap \(overlap), probabilities \(probabilities): outputs differ between 1 and more threads")
                    }
                }
            }
        }
    }

    /// Where one tile alone covers a pixel its class is read from the model's output directly; the class
    /// map must be the one blending every pixel gives (the blending a run that writes probabilities does).
    func testClassMapIsTheSameWithAndWithoutProbabilities() throws {
        // Nodata (0) in a block crossing tile borders, and a size that leaves partial tiles at both edges.
        let scene = try PipelineFixtures.writeScene(path("scene.tif"), width: 203, height: 157, noData: NoData(value: 0)) { b, x, y in
            (60..<130).contains(x) && (20..<75).contains(y) ? 0 : PipelineFixtures.texture(b, x, y)
        }
        for blending in Blending.allCases {
            var maps: [Data] = []
            for probabilities in [true, false] {
                let output = directory.appendingPathComponent("\(blending.rawValue)-\(probabilities)")
                let settings = try PipelineFixtures.settings(inputs: [scene], output: output, probabilities: probabilities, blending: blending)
                let result = try XCTUnwrap(try run(settings).results.first)
                XCTAssertEqual(result.probabilities != nil, probabilities)
                maps.append(try Data(contentsOf: URL(fileURLWithPath: result.classMap)))
            }
            XCTAssertTrue(maps[0] == maps[1], "\(blending): the class map changes when probabilities are not written")
        }
    }

    func testABadSceneFailsAloneAndTheExitCodeIsOne() throws {
        let model = try PipelineFixtures.model()
        let good = try PipelineFixtures.writeScene(path("good.tif"), width: 90, height: 70, value: PipelineFixtures.texture)
        let oneBand = try PipelineFixtures.writeScene(path("one-band.tif"), width: 90, height: 70, bands: 1, value: PipelineFixtures.texture)
        let broken = path("broken.tif")
        try Data("not a TIFF".utf8).write(to: URL(fileURLWithPath: broken))
        let output = directory.appendingPathComponent("out")

        let outcome = try run(try PipelineFixtures.settings(inputs: [broken, oneBand, good], output: output))
        XCTAssertEqual(outcome.exitCode, 1)
        XCTAssertEqual(outcome.results.map(\.scene.files), [[good]])
        XCTAssertEqual(outcome.failures.count, 2)
        XCTAssertTrue(outcome.failures[0].hasPrefix(broken + ": "), outcome.failures[0])
        XCTAssertEqual(outcome.failures[1], "\(oneBand): the model reads bands 1,2,3 but the file has 1 band")

        // The command line: one stderr line per failed scene, the other scene's outputs present, exit 1.
        let cliOutput = directory.appendingPathComponent("cli")
        let result = try TileRunBinary.run(["run", "--model", model, "--input", broken, "--input", good, "--input", oneBand,
                                            "--output", cliOutput.path, "--threads", "2", "--progress", "none"])
        XCTAssertEqual(result.status, 1, result.stderr)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, result.stderr)
        XCTAssertTrue(lines[0].hasPrefix("tilerun: \(broken): "), result.stderr)
        XCTAssertTrue(lines[1].hasPrefix("tilerun: \(oneBand): "), result.stderr)
        let written = try FileManager.default.contentsOfDirectory(atPath: cliOutput.path).filter { $0 != ".tilerun" }.sorted()
        XCTAssertEqual(written, ["good-classes.tif", "good-quicklook.png", "good-statistics.csv", "good-statistics.json", "report.html", "summary.json"])

        let clean = try TileRunBinary.run(["run", "--model", model, "--input", good, "--output", cliOutput.path])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        let noModel = try TileRunBinary.run(["run", "--input", good, "--output", cliOutput.path])
        XCTAssertEqual(noModel.status, 2)
        XCTAssertTrue(noModel.stderr.contains("field 'model'"), noModel.stderr)
    }

    func testASecondSceneWithTheSameFileNameIsRefusedNotOverwritten() throws {
        for folder in ["one", "two"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
            try PipelineFixtures.writeScene(path("\(folder)/a.tif"), width: 30, height: 20, value: PipelineFixtures.texture)
        }
        let outcome = try run(try PipelineFixtures.settings(inputs: [path("one"), path("two/*.tif")], output: directory.appendingPathComponent("out")))
        XCTAssertEqual(outcome.results.map(\.scene.files), [[path("one/a.tif")]])
        XCTAssertEqual(outcome.failures, ["\(path("two/a.tif")): its outputs would overwrite those of \(path("one/a.tif")) (same name 'a')"])
    }

    func testPipelineFileRunsWithCommandLineOverrides() throws {
        let model = try PipelineFixtures.model()
        let scenes = directory.appendingPathComponent("scenes")
        try FileManager.default.createDirectory(at: scenes, withIntermediateDirectories: true)
        for name in ["b", "a"] {
            try PipelineFixtures.writeScene(scenes.appendingPathComponent("\(name).tif").path, width: 40, height: 30, value: PipelineFixtures.texture)
        }
        let pipeline = path("p.json")
        try Data(#"{"inputs": ["scenes"], "model": "\#(model)", "output": "out", "tileSize": 32, "overlap": 8, "outputs": {"probabilities": true}}"#.utf8)
            .write(to: URL(fileURLWithPath: pipeline))
        var result = try TileRunBinary.run(["run", pipeline, "--threads", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let out = directory.appendingPathComponent("out").path
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".tif") }.sorted(),
                       ["a-classes.tif", "a-probabilities.tif", "b-classes.tif", "b-probabilities.tif"])
        let other = path("other")
        result = try TileRunBinary.run(["run", pipeline, "--input", directory.appendingPathComponent("scenes/a.tif").path, "--output", other])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: other).filter { $0.hasSuffix(".tif") }.sorted(),
                       ["a-classes.tif", "a-probabilities.tif"])
    }

    // MARK: Real scenes from ../shared

    /// Runs the test model on real scenes and checks the class maps with GDAL: CRS, geotransform,
    /// palette, nodata (RGB.byte.tif's black border is nodata 0).
    func testRealScenesGiveMapsGDALReadsWithTheInputsGeoreferencing() throws {
        let joplin = try SharedData.path("scenes/joplin-2011/pre.tif")
        let rgb = try SharedData.corpus("rasterio/RGB.byte.tif")
        // uint16 samples, and a planar-separate file without georeferencing.
        let rgb16 = try SharedData.corpus("rio-color/rgb16.tif")
        let planar = try SharedData.corpus("image-tiff/images__planar-rgb-u8.tif")
        let output = directory.appendingPathComponent("real")
        var settings = try PipelineFixtures.settings(inputs: [joplin, rgb, rgb16, planar], output: output, threads: 2, probabilities: false)
        settings.tileSize = 256
        settings.overlap = 32
        let outcome = try run(settings)
        XCTAssertEqual(outcome.failures, [])
        XCTAssertEqual(outcome.results.count, 4)

        for result in outcome.results {
            let scene = result.scene.files[0]
            let input = try gdalinfo(scene)
            let map = try gdalinfo(result.classMap)
            let inputWKT = (input["coordinateSystem"] as? [String: Any])?["wkt"] as? String
            let mapWKT = (map["coordinateSystem"] as? [String: Any])?["wkt"] as? String
            XCTAssertEqual(mapWKT == nil, scene == planar, scene)
            XCTAssertEqual(epsg(mapWKT), epsg(inputWKT), scene)
            XCTAssertEqual(map["geoTransform"] as? [Double], input["geoTransform"] as? [Double], scene)
            let band = try XCTUnwrap((map["bands"] as? [[String: Any]])?.first)
            XCTAssertEqual(band["noDataValue"] as? Double, 255)
            XCTAssertEqual(band["colorInterpretation"] as? String, "Palette")
            let entries = try XCTUnwrap((band["colorTable"] as? [String: Any])?["entries"] as? [[Int]])
            XCTAssertEqual(Array(entries[20].prefix(3)), [0, 0x64, 0])
            XCTAssertFalse((band["overviews"] as? [Any] ?? []).isEmpty, "COG overviews")
        }

        // RGB.byte.tif: nodata (0 in every band) exactly where the class map says 255.
        let rgbResult = try XCTUnwrap(outcome.results.first { $0.scene.files == [rgb] })
        let source = try RasterReader(path: rgb)
        let pixels = try source.readNative(source.info.bounds)
        let classes = try RasterReader(path: rgbResult.classMap).readNative(source.info.bounds)
        let plane = source.info.width * source.info.height
        var mismatches = 0, nodata = 0
        for p in 0..<plane {
            let empty = (0..<3).allSatisfy { pixels.bytes[$0 * plane + p] == 0 }
            if empty { nodata += 1 }
            if empty != (classes.bytes[p] == 255) { mismatches += 1 }
        }
        XCTAssertGreaterThan(nodata, plane / 10, "RGB.byte.tif has a wide nodata border")
        XCTAssertEqual(mismatches, 0)
        XCTAssertEqual(rgbResult.statistics.nodataPixels, nodata)
        XCTAssertTrue(rgbResult.statistics.crs?.hasPrefix("EPSG:32618") == true)
    }

    /// A whole-world geographic raster: the class areas add up to the WGS84 ellipsoid's surface.
    func testGeographicAreasAddUpToTheEarthsSurface() throws {
        let world = try SharedData.corpus("rasterio/world.rgb.tif")
        let outcome = try run(try PipelineFixtures.settings(inputs: [world], output: directory.appendingPathComponent("world"),
                                                            probabilities: false))
        let stats = try XCTUnwrap(outcome.results.first?.statistics, "\(outcome.failures)")
        XCTAssertTrue(stats.areaMethod.hasPrefix("geographic"), stats.areaMethod)
        let total = stats.classes.compactMap(\.areaSquareMetres).reduce(0, +)
        XCTAssertEqual(total / 1e6, 510_065_621.7, accuracy: 510_065_621.7 * 1e-6)
    }

    /// The Joplin 2011 pre/post pair through a pre-post model: one class map with the pre scene's
    /// georeferencing, as GDAL reads it.
    func testTheRealJoplinPairGivesAMapGDALReadsWithThePreScenesGeoreferencing() throws {
        let folder = (try SharedData.path("scenes/joplin-2011/pre.tif") as NSString).deletingLastPathComponent
        var settings = try PipelineFixtures.settings(inputs: [folder + "/pre.tif", folder + "/post.tif"],
                                                     output: directory.appendingPathComponent("pair"), threads: 2, probabilities: false)
        settings.modelPath = try PipelineFixtures.model(prePost: true)
        settings.tileSize = 256
        settings.overlap = 32
        let outcome = try run(settings)
        XCTAssertEqual(outcome.failures, [])
        let result = try XCTUnwrap(outcome.results.first)
        XCTAssertEqual(result.scene.name, "joplin-2011")
        let input = try gdalinfo(folder + "/pre.tif")
        let map = try gdalinfo(result.classMap)
        let wkt = { (info: [String: Any]) in (info["coordinateSystem"] as? [String: Any])?["wkt"] as? String }
        XCTAssertEqual(epsg(wkt(map)), "32615")
        XCTAssertEqual(epsg(wkt(map)), epsg(wkt(input)))
        XCTAssertEqual(map["geoTransform"] as? [Double], input["geoTransform"] as? [Double])
        let band = try XCTUnwrap((map["bands"] as? [[String: Any]])?.first)
        XCTAssertEqual(band["noDataValue"] as? Double, 255)
        XCTAssertEqual(band["colorInterpretation"] as? String, "Palette")
    }

    private func gdalinfo(_ path: String) throws -> [String: Any] {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdalinfo") else { throw XCTSkip("gdalinfo is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/gdalinfo")
        process.arguments = ["-json", path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The CRS's own EPSG code: the last ID in the WKT.
    private func epsg(_ wkt: String?) -> String? {
        guard let wkt, let range = wkt.range(of: "ID[\"EPSG\",", options: .backwards) else { return nil }
        return String(wkt[range.upperBound...].prefix { $0.isNumber })
    }
}
