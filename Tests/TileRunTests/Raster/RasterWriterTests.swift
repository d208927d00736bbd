import Foundation
import XCTest
import TileRun

final class RasterWriterTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("RasterWriterTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: Fixtures

    private static let classColors = [
        PaletteColor(red: 0, green: 0, blue: 0), PaletteColor(red: 255, green: 0, blue: 0),
        PaletteColor(red: 0, green: 200, blue: 0), PaletteColor(red: 0, green: 0, blue: 255),
        PaletteColor(red: 250, green: 250, blue: 10), PaletteColor(red: 128, green: 64, blue: 32),
    ]
    private static let utm = GeoReference.northUp(epsg: 32615, originX: 366_000, originY: 4_104_000, pixelSize: 0.5)

    /// A 700x600 class map: stripes of classes 0-5 with a nodata (255) corner.
    private static func classLabel(x: Int, y: Int) -> UInt8 {
        if x < 50 && y < 40 { return 255 }
        return UInt8((x / 37 + y / 23) % 6)
    }

    private static let classMapOptions = RasterWriterOptions(
        sampleType: .uint8, tileSize: 256, noData: NoData(value: 255), geo: utm, colorMap: classColors)

    /// Writes a `width` x `height` class map in chunks of `chunk` rows.
    private func writeClassMap(_ path: String, width: Int = 700, height: Int = 600, chunk: Int = 37,
                               options: RasterWriterOptions = classMapOptions) throws {
        let writer = try RasterWriter(path: path, width: width, height: height, options: options)
        var y = 0
        while y < height {
            let rows = min(chunk, height - y)
            var values = [UInt8](repeating: 0, count: rows * width)
            for r in 0..<rows {
                for x in 0..<width { values[r * width + x] = Self.classLabel(x: x, y: y + r) }
            }
            try writer.write(rows: y, height: rows, values: values)
            y += rows
        }
        try writer.finish()
    }

    private func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    // MARK: Round trips

    func testClassMapRoundTripsThroughTheReader() throws {
        let path = folder.appendingPathComponent("classes.tif").path
        try writeClassMap(path)

        let reader = try RasterReader(path: path)
        let info = reader.info
        XCTAssertEqual(info.width, 700)
        XCTAssertEqual(info.height, 600)
        XCTAssertEqual(info.bandCount, 1)
        XCTAssertEqual(info.sampleType, .uint8)
        XCTAssertEqual(info.layout, .tiles(width: 256, height: 256))
        XCTAssertEqual(info.compression, "Deflate")
        XCTAssertEqual(info.photometric, "palette")
        XCTAssertEqual(info.predictor, 1, "class maps are written without a predictor")
        XCTAssertFalse(info.isBigTIFF)
        XCTAssertEqual(info.noData, NoData(value: 255))
        XCTAssertEqual(info.geo?.tags, Self.utm.tags)
        XCTAssertEqual(info.geo?.transform, Self.utm.transform)
        XCTAssertEqual(info.geo?.coordinateSystem?.epsg, 32615)
        XCTAssertEqual(info.overviews.map { [$0.width, $0.height] }, [[350, 300], [175, 150]])
        let palette = try XCTUnwrap(info.colorMap)
        XCTAssertEqual(palette.count, 256)
        XCTAssertEqual(Array(palette.prefix(6)), Self.classColors)
        XCTAssertEqual(palette[6], PaletteColor(red: 0, green: 0, blue: 0))

        let data = try reader.readNative(RasterWindow(x: 0, y: 0, width: 700, height: 600))
        var expected = [UInt8](repeating: 0, count: 700 * 600)
        for y in 0..<600 { for x in 0..<700 { expected[y * 700 + x] = Self.classLabel(x: x, y: y) } }
        XCTAssertEqual(data.bytes, expected)
        XCTAssertEqual(try contents(), ["classes.tif"], "no temporary files remain")
    }

    func testTilesCompressedOnSeveralThreadsAreTheBytesLibTIFFWrites() throws {
        // One thread: libtiff encodes every tile; several: the writer compresses a row of tiles at once and
        // hands libtiff the bytes. The files must be identical, 8- and 16-bit, at every overview level.
        for sampleType in [SampleType.uint8, .uint16] {
            var files: [Data] = []
            for threads in [1, 2, 5] {
                var options = Self.classMapOptions
                options.sampleType = sampleType
                options.noData = NoData(value: sampleType == .uint8 ? 255 : 65535)
                options.threads = threads
                let path = folder.appendingPathComponent("classes-\(sampleType.rawValue)-\(threads).tif").path
                try writeClassMap(path, width: 1300, height: 900, options: options)
                files.append(try Data(contentsOf: URL(fileURLWithPath: path)))
            }
            XCTAssertGreaterThan(files[0].count, 1000)
            XCTAssertEqual(files[1], files[0], "\(sampleType.rawValue): 2 threads")
            XCTAssertEqual(files[2], files[0], "\(sampleType.rawValue): 5 threads")
        }
    }

    func testMultiBandUInt16RoundTripsWithRoundingAndClamping() throws {
        let path = folder.appendingPathComponent("bands.tif").path
        let width = 520, height = 300, bands = 3
        let options = RasterWriterOptions(sampleType: .uint16, bandCount: bands, tileSize: 256, compression: .zstd,
                                          geo: Self.utm, overviewResampling: .average)
        func value(_ b: Int, _ x: Int, _ y: Int) -> Float {
            if b == 0 && y == 0 {
                switch x {
                case 0: return -5
                case 1: return 70_000
                case 2: return 2.5
                case 3: return .nan
                default: break
                }
            }
            return Float(b * 10_000 + x * 7 + y * 3)
        }
        func stored(_ b: Int, _ x: Int, _ y: Int) -> UInt16 {
            let v = value(b, x, y)
            if v.isNaN { return 0 }
            return UInt16(min(max(v.rounded(), 0), 65535))
        }
        let writer = try RasterWriter(path: path, width: width, height: height, options: options)
        for y0 in stride(from: 0, to: height, by: 100) {
            let rows = min(100, height - y0)
            var values = [Float](repeating: 0, count: bands * rows * width)
            for b in 0..<bands {
                for r in 0..<rows {
                    for x in 0..<width { values[(b * rows + r) * width + x] = value(b, x, y0 + r) }
                }
            }
            try writer.write(rows: y0, height: rows, values: values)
        }
        try writer.finish()

        let reader = try RasterReader(path: path)
        XCTAssertEqual(reader.info.bandCount, 3)
        XCTAssertEqual(reader.info.sampleType, .uint16)
        XCTAssertEqual(reader.info.compression, "ZSTD")
        XCTAssertEqual(reader.info.predictor, 2)
        XCTAssertEqual(reader.info.overviews.map { [$0.width, $0.height] }, [[260, 150], [130, 75]])
        XCTAssertEqual(reader.info.geo?.tags, Self.utm.tags)
        let data = try reader.readDouble(RasterWindow(x: 0, y: 0, width: width, height: height))
        XCTAssertEqual(Array(data[0..<4]), [0, 65535, 3, 0], "rounded half away from zero, clamped, NaN as 0")
        var mismatches = 0
        for b in 0..<bands {
            for y in 0..<height {
                for x in 0..<width where data[(b * height + y) * width + x] != Double(stored(b, x, y)) {
                    mismatches += 1
                }
            }
        }
        XCTAssertEqual(mismatches, 0)

        try requireCOGValid(path)
        // Overview 1 (260x150) of band 2 is the rounded mean of each 2x2 block.
        let overview = try overviewSamples(path, overview: 0, band: 2, as: UInt16.self)
        XCTAssertEqual(overview.count, 260 * 150)
        var wrong = 0
        for i in 0..<150 {
            for j in 0..<260 {
                let mean = (Double(stored(1, 2 * j, 2 * i)) + Double(stored(1, 2 * j + 1, 2 * i))
                            + Double(stored(1, 2 * j, 2 * i + 1)) + Double(stored(1, 2 * j + 1, 2 * i + 1))) / 4
                if overview[i * 260 + j] != UInt16(mean.rounded()) { wrong += 1 }
            }
        }
        XCTAssertEqual(wrong, 0)
    }

    func testFloat32WithNaNNoDataRoundTripsAndAveragesAroundIt() throws {
        let path = folder.appendingPathComponent("scores.tif").path
        let width = 300, height = 200
        let options = RasterWriterOptions(sampleType: .float32, tileSize: 128, noData: NoData(value: .nan),
                                          geo: Self.utm, overviewResampling: .average)
        var values = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                // Isolated NaNs test the average around nodata; the NaN block tests all-nodata 2x2 blocks.
                let isNoData = (x + 3 * y) % 7 == 0 || (x >= 100 && x < 120 && y >= 50 && y < 70)
                values[y * width + x] = isNoData ? .nan : Float(x) * 0.25 - Float(y) * 1.5 + 0.125
            }
        }
        let writer = try RasterWriter(path: path, width: width, height: height, options: options)
        try writer.write(rows: 0, height: 77, values: Array(values[0..<(77 * width)]))
        try writer.write(rows: 77, height: 123, values: Array(values[(77 * width)...]))
        try writer.finish()

        let reader = try RasterReader(path: path)
        XCTAssertEqual(reader.info.sampleType, .float32)
        XCTAssertEqual(reader.info.predictor, 3)
        XCTAssertEqual(reader.info.noData?.text, "nan")
        XCTAssertEqual(reader.info.overviews.map { [$0.width, $0.height] }, [[150, 100], [75, 50]])
        let read = try reader.readFloat(RasterWindow(x: 0, y: 0, width: width, height: height))
        XCTAssertEqual(read.map(\.bitPattern), values.map(\.bitPattern))

        try requireCOGValid(path)
        let overview = try overviewSamples(path, overview: 0, band: 1, as: Float.self)
        XCTAssertEqual(overview.count, 150 * 100)
        var wrong = 0
        for i in 0..<100 {
            for j in 0..<150 {
                let block = [values[2 * i * width + 2 * j], values[2 * i * width + 2 * j + 1],
                             values[(2 * i + 1) * width + 2 * j], values[(2 * i + 1) * width + 2 * j + 1]]
                let valid = block.filter { !$0.isNaN }.map(Double.init)
                let got = overview[i * 150 + j]
                if valid.isEmpty {
                    if !got.isNaN { wrong += 1 }
                } else if got != Float(valid.reduce(0, +) / Double(valid.count)) {
                    wrong += 1
                }
            }
        }
        XCTAssertEqual(wrong, 0)
    }

    func testEverySampleTypeRoundTrips() throws {
        let width = 40, height = 30
        for type in SampleType.allCases {
            let path = folder.appendingPathComponent("\(type.rawValue).tif").path
            let options = RasterWriterOptions(sampleType: type, bandCount: 2, tileSize: 16)
            // Fits every type: -60...90 for signed ones, 0...150 for unsigned ones.
            let offset = type.valueRange.lowerBound < 0 ? -60.0 : 0
            let values = (0..<(2 * height * width)).map { Float(Double($0 % 151) + offset) }
            let writer = try RasterWriter(path: path, width: width, height: height, options: options)
            try writer.write(rows: 0, height: height, values: values)
            try writer.finish()
            let reader = try RasterReader(path: path)
            XCTAssertEqual(reader.info.sampleType, type)
            XCTAssertEqual(reader.info.overviews.map { [$0.width, $0.height] }, [[20, 15], [10, 8]], type.rawValue)
            let read = try reader.readDouble(RasterWindow(x: 0, y: 0, width: width, height: height))
            XCTAssertEqual(read, values.map(Double.init), type.rawValue)
        }
    }

    func testNotCloudOptimizedWritesOneTiledImage() throws {
        let path = folder.appendingPathComponent("plain.tif").path
        var options = Self.classMapOptions
        options.cloudOptimized = false
        options.compression = .lzw
        try writeClassMap(path, width: 300, height: 280, chunk: 280, options: options)
        let reader = try RasterReader(path: path)
        XCTAssertEqual(reader.info.overviews, [])
        XCTAssertEqual(reader.info.compression, "LZW")
        XCTAssertEqual(reader.info.geo?.tags, Self.utm.tags)
        let data = try reader.readNative(RasterWindow(x: 0, y: 0, width: 300, height: 280))
        XCTAssertEqual(data.value(band: 0, x: 299, y: 279), Double(Self.classLabel(x: 299, y: 279)))
        XCTAssertEqual(data.value(band: 0, x: 10, y: 10), 255)
        XCTAssertEqual(try contents(), ["plain.tif"])
    }

    // MARK: GDAL's view

    func testGDALReadsCRSGeotransformNoDataAndColorTable() throws {
        let path = folder.appendingPathComponent("classes.tif").path
        try writeClassMap(path)
        let info = try gdalinfo(path)

        let wkt = try XCTUnwrap((info["coordinateSystem"] as? [String: Any])?["wkt"] as? String)
        XCTAssertTrue(wkt.hasSuffix("ID[\"EPSG\",32615]]"), "CRS is not EPSG:32615: \(wkt.suffix(80))")
        XCTAssertEqual(info["geoTransform"] as? [Double], [366_000, 0.5, 0, 4_104_000, 0, -0.5])
        let band = try XCTUnwrap((info["bands"] as? [[String: Any]])?.first)
        XCTAssertEqual(band["noDataValue"] as? Double, 255)
        XCTAssertEqual(band["colorInterpretation"] as? String, "Palette")
        let table = try XCTUnwrap(band["colorTable"] as? [String: Any])
        XCTAssertEqual(table["count"] as? Int, 256)
        let entries = try XCTUnwrap(table["entries"] as? [[Int]])
        XCTAssertEqual(Array(entries.prefix(6)), Self.classColors.map { [Int($0.red), Int($0.green), Int($0.blue), 255] })
        let overviews = try XCTUnwrap(band["overviews"] as? [[String: Any]])
        XCTAssertEqual(overviews.map { $0["size"] as? [Int] ?? [] }, [[350, 300], [175, 150]])
    }

    func testCloudOptimizedLayoutPassesGDALValidatorAndOverviewsAreNearest() throws {
        let path = folder.appendingPathComponent("classes.tif").path
        try writeClassMap(path)
        try requireCOGValid(path)

        let first = try overviewSamples(path, overview: 0, band: 1, as: UInt8.self)
        let second = try overviewSamples(path, overview: 1, band: 1, as: UInt8.self)
        XCTAssertEqual(first.count, 350 * 300)
        XCTAssertEqual(second.count, 175 * 150)
        var wrong = 0
        for i in 0..<300 { for j in 0..<350 where first[i * 350 + j] != Self.classLabel(x: 2 * j, y: 2 * i) { wrong += 1 } }
        for i in 0..<150 { for j in 0..<175 where second[i * 175 + j] != Self.classLabel(x: 4 * j, y: 4 * i) { wrong += 1 } }
        XCTAssertEqual(wrong, 0, "overview pixels are the top-left pixel of each 2x2 block")
    }

    func testBigTIFFLayoutPassesGDALValidator() throws {
        let path = folder.appendingPathComponent("big.tif").path
        var options = Self.classMapOptions
        options.bigTIFF = .always
        try writeClassMap(path, options: options)
        XCTAssertTrue(try RasterReader(path: path).info.isBigTIFF)
        try requireCOGValid(path)
    }

    func testBigTIFFIsChosenWhenUncompressedLevelsCouldPassFourGiB() {
        let options = RasterWriterOptions(sampleType: .uint8, tileSize: 512)
        // 50000² bytes plus overviews is about 3.3 GB; 60000² plus overviews about 4.8 GB.
        XCTAssertFalse(RasterWriter.usesBigTIFF(width: 50_000, height: 50_000, options: options))
        XCTAssertTrue(RasterWriter.usesBigTIFF(width: 60_000, height: 60_000, options: options))
        var uint16 = options
        uint16.sampleType = .uint16
        XCTAssertTrue(RasterWriter.usesBigTIFF(width: 50_000, height: 50_000, options: uint16))
        var never = options
        never.bigTIFF = .never
        XCTAssertFalse(RasterWriter.usesBigTIFF(width: 70_000, height: 70_000, options: never))
    }

    func testCopiesGeoreferencingFromARealScene() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let scene = root.appendingPathComponent("../shared/scenes/joplin-2011/pre.tif").standardized.path
        guard FileManager.default.fileExists(atPath: scene) else {
            throw XCTSkip("\(scene) is absent: the shared scenes are not checked out")
        }
        let source = try RasterReader(path: scene)
        let geo = try XCTUnwrap(source.info.geo)
        var options = Self.classMapOptions
        options.geo = geo
        options.tileSize = 512
        let path = folder.appendingPathComponent("joplin-classes.tif").path
        try writeClassMap(path, width: source.info.width, height: source.info.height, chunk: 512, options: options)

        XCTAssertEqual(try RasterReader(path: path).info.geo?.tags, geo.tags)
        let written = try gdalinfo(path)
        let original = try gdalinfo(scene)
        let transform = try XCTUnwrap(written["geoTransform"] as? [Double])
        XCTAssertEqual(transform, original["geoTransform"] as? [Double])
        // Foundation's JSON parser may miss GDAL's 22-digit numbers by an ulp, so this comparison allows for it.
        let expected = try XCTUnwrap(geo.transform?.coefficients)
        for (got, want) in zip(transform, expected) { XCTAssertEqual(got, want, accuracy: 1e-12 * max(1, abs(want))) }
        let wkt = try XCTUnwrap((written["coordinateSystem"] as? [String: Any])?["wkt"] as? String)
        XCTAssertTrue(wkt.hasSuffix("ID[\"EPSG\",32615]]"), "CRS is not EPSG:32615: \(wkt.suffix(80))")
        try requireCOGValid(path)
    }

    // MARK: Failures and temporary files

    func testNonexistentFolderIsARasterErrorNamingThePath() {
        let path = folder.appendingPathComponent("missing/out.tif").path
        XCTAssertThrowsError(try RasterWriter(path: path, width: 10, height: 10, options: Self.classMapOptions)) { error in
            let rasterError = error as? RasterError
            XCTAssertEqual(rasterError?.path, path)
            XCTAssertTrue("\(error)".contains(path), "\(error)")
            XCTAssertTrue(rasterError?.problem.contains("does not exist") == true, "\(error)")
        }
    }

    func testMissingRowsFailFinishAndLeaveNothing() throws {
        let path = folder.appendingPathComponent("short.tif").path
        let writer = try RasterWriter(path: path, width: 300, height: 300, options: Self.classMapOptions)
        XCTAssertFalse(try contents().isEmpty, "temporary files exist while writing")
        try writer.write(rows: 0, height: 100, values: [UInt8](repeating: 1, count: 300 * 100))
        XCTAssertThrowsError(try writer.finish()) { error in
            XCTAssertEqual((error as? RasterError)?.path, path)
            XCTAssertTrue("\(error)".contains("only 100 of 300 rows"), "\(error)")
        }
        XCTAssertEqual(try contents(), [])
        XCTAssertThrowsError(try writer.finish(), "a failed writer stays failed")
    }

    func testAbandonedWriterLeavesNothing() throws {
        let path = folder.appendingPathComponent("abandoned.tif").path
        var writer: RasterWriter? = try RasterWriter(path: path, width: 600, height: 600, options: Self.classMapOptions)
        try writer?.write(rows: 0, height: 300, values: [UInt8](repeating: 2, count: 600 * 300))
        XCTAssertFalse(try contents().isEmpty)
        writer = nil
        XCTAssertEqual(try contents(), [])
    }

    func testFailureWhenRenamingOntoAFolderLeavesOnlyThatFolder() throws {
        let path = folder.appendingPathComponent("taken").path
        try FileManager.default.createDirectory(atPath: path + "/inside", withIntermediateDirectories: true)
        XCTAssertThrowsError(try writeClassMap(path, width: 100, height: 100)) { error in
            XCTAssertEqual((error as? RasterError)?.path, path)
            XCTAssertTrue("\(error)".contains("rename"), "\(error)")
        }
        XCTAssertEqual(try contents(), ["taken"])
    }

    func testReplacesAnExistingFile() throws {
        let path = folder.appendingPathComponent("classes.tif").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try writeClassMap(path, width: 100, height: 100)
        XCTAssertEqual(try RasterReader(path: path).info.width, 100)
        XCTAssertEqual(try contents(), ["classes.tif"])
    }

    func testRejectsUnusableOptionsAndMisplacedRows() throws {
        let path = folder.appendingPathComponent("bad.tif").path
        func problem(_ options: RasterWriterOptions, width: Int = 10, height: Int = 10) -> String? {
            do {
                _ = try RasterWriter(path: path, width: width, height: height, options: options)
                return nil
            } catch { return (error as? RasterError)?.problem }
        }
        var palette3 = Self.classMapOptions
        palette3.bandCount = 3
        XCTAssertEqual(problem(palette3), "a color map needs a single band, not 3")
        var badNoData = Self.classMapOptions
        badNoData.noData = NoData(value: 300)
        XCTAssertEqual(problem(badNoData), "nodata 300 is outside the range of uint8")
        var badTile = Self.classMapOptions
        badTile.tileSize = 100
        XCTAssertNotNil(problem(badTile))
        XCTAssertNotNil(problem(Self.classMapOptions, width: 0))
        XCTAssertNotNil(problem(RasterWriterOptions(sampleType: .uint8, predictor: .floatingPoint)))
        XCTAssertEqual(try contents(), [])

        let writer = try RasterWriter(path: path, width: 10, height: 10, options: Self.classMapOptions)
        XCTAssertThrowsError(try writer.write(rows: 5, height: 5, values: [UInt8](repeating: 0, count: 50))) { error in
            XCTAssertTrue("\(error)".contains("expected row 0"), "\(error)")
        }
        XCTAssertEqual(try contents(), [], "a failed write removes the temporary files")

        let counted = try RasterWriter(path: path, width: 10, height: 10, options: Self.classMapOptions)
        XCTAssertThrowsError(try counted.write(rows: 0, height: 5, values: [UInt8](repeating: 0, count: 49)))
        XCTAssertEqual(try contents(), [])
    }

    // MARK: Tools

    private func executable(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return (paths + ["/usr/bin"]).map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: Data, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output, String(decoding: errors, as: UTF8.self))
    }

    private func gdalinfo(_ path: String) throws -> [String: Any] {
        guard let tool = executable("gdalinfo") else { throw XCTSkip("gdalinfo is not installed") }
        let result = try run(tool, ["-json", path])
        XCTAssertEqual(result.status, 0, result.errors)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: result.output) as? [String: Any])
    }

    /// Python with GDAL's bindings: Debian's /usr/bin/python3, not whatever python3 comes first on PATH.
    private func gdalPython(_ script: String, _ arguments: [String]) throws -> Data {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python),
              try run(python, ["-c", "import osgeo_utils.samples.validate_cloud_optimized_geotiff"]).status == 0 else {
            throw XCTSkip("Python GDAL bindings (python3-gdal) are not installed")
        }
        let result = try run(python, ["-c", script] + arguments)
        XCTAssertEqual(result.status, 0, result.errors)
        return result.output
    }

    private func requireCOGValid(_ path: String) throws {
        let script = """
        import sys
        from osgeo_utils.samples import validate_cloud_optimized_geotiff as v
        warnings, errors, details = v.validate(sys.argv[1], full_check=True)
        print("\\n".join(errors) if errors else "valid")
        """
        let verdict = String(decoding: try gdalPython(script, [path]), as: UTF8.self)
        XCTAssertEqual(verdict.trimmingCharacters(in: .whitespacesAndNewlines), "valid")
    }

    /// One overview band's samples as GDAL decodes them (native byte order).
    private func overviewSamples<T>(_ path: String, overview: Int, band: Int, as: T.Type) throws -> [T] {
        let script = """
        import sys
        from osgeo import gdal
        dataset = gdal.Open(sys.argv[1])  # held: bands of a collected dataset are dangling
        b = dataset.GetRasterBand(int(sys.argv[3])).GetOverview(int(sys.argv[2]))
        sys.stdout.buffer.write(b.ReadRaster())
        """
        let bytes = try gdalPython(script, [path, String(overview), String(band)])
        return bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
    }
}
