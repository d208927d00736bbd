import Foundation
import TileRun
import XCTest

final class RasterReaderTests: XCTestCase {
    /// Every window of a file must equal the same region cut from one read of the whole file.
    private func assertWindowsMatchWholeRead(_ path: String, windows: [RasterWindow], file: StaticString = #filePath,
                                             line: UInt = #line) throws {
        let reader = try RasterReader(path: path)
        let info = reader.info
        let whole = try reader.readDouble(info.bounds)
        let plane = info.width * info.height
        for window in windows {
            // A fresh reader per window too, so the block cache cannot hide a decoding difference.
            for r in [reader, try RasterReader(path: path)] {
                let part = try r.readDouble(window)
                for b in 0..<info.bandCount {
                    for y in 0..<window.height {
                        for x in 0..<window.width {
                            let expected = whole[b * plane + (window.y + y) * info.width + window.x + x]
                            let got = part[(b * window.height + y) * window.width + x]
                            if !(expected == got || (expected.isNaN && got.isNaN)) {
                                XCTFail("\(path) band \(b) (\(window.x + x), \(window.y + y)) in \(window): \(got) != \(expected)",
                                        file: file, line: line)
                                return
                            }
                        }
                    }
                }
            }
        }
    }

    private func windows(width: Int, height: Int) -> [RasterWindow] {
        [RasterWindow(x: 0, y: 0, width: 1, height: 1),
         RasterWindow(x: width - 1, y: height - 1, width: 1, height: 1),
         RasterWindow(x: width / 3, y: height / 5, width: width / 2, height: height / 2),
         RasterWindow(x: 0, y: height / 2, width: width, height: height - height / 2),
         RasterWindow(x: 7 % width, y: 3 % height, width: min(300, width - 7 % width), height: min(3, height - 3 % height))]
    }

    func testWindowsOfStrippedFileMatchWholeRead() throws {
        let path = try SharedData.path("scenes/joplin-2011/pre.tif")
        try assertWindowsMatchWholeRead(path, windows: windows(width: 1024, height: 1024))
    }

    func testWindowsOfTiledFileMatchWholeRead() throws {
        let path = try SharedData.corpus("rasterio/RGB.byte.tif")
        let info = try RasterReader(path: path).info
        try assertWindowsMatchWholeRead(path, windows: windows(width: info.width, height: info.height))
    }

    func testWindowsOfPlanarSeparateAndPackedFilesMatchWholeRead() throws {
        for name in ["image-tiff/images__planar-rgb-u8.tif", "image-tiff/seq/images__seq__seq-3c-12b-planar-e29e8e25.tiff",
                     "image-tiff/seq/images__seq__seq-1c-3b-ef237c07.tiff"] {
            let path = try SharedData.corpus(name)
            let info = try RasterReader(path: path).info
            try assertWindowsMatchWholeRead(path, windows: windows(width: info.width, height: info.height))
        }
    }

    func testPlanarSeparateIsReportedAndPackedSamplesWiden() throws {
        let planar = try RasterReader(path: try SharedData.corpus("image-tiff/images__planar-rgb-u8.tif")).info
        XCTAssertEqual(planar.planar, .separate)
        XCTAssertEqual(planar.bandCount, 3)
        let packed = try RasterReader(path: try SharedData.corpus("image-tiff/seq/images__seq__seq-3c-12b-planar-e29e8e25.tiff"))
        XCTAssertEqual(packed.info.sampleType, .uint16)
        XCTAssertEqual(packed.info.bitsPerSample, 12)
        let values = try packed.readDouble(packed.info.bounds)
        XCTAssertLessThanOrEqual(values.max()!, 4095, "12-bit samples cannot exceed 4095")
        XCTAssertGreaterThan(Set(values).count, 16, "a 12-bit ramp has many distinct values")
    }

    func testChosenBandsComeInTheOrderAsked() throws {
        let reader = try RasterReader(path: try SharedData.path("scenes/joplin-2011/pre.tif"))
        let window = RasterWindow(x: 100, y: 200, width: 40, height: 30)
        let all = try reader.readFloat(window)
        let picked = try reader.readFloat(window, bands: [2, 0])
        let n = window.pixelCount
        XCTAssertEqual(Array(picked[0..<n]), Array(all[(2 * n)..<(3 * n)]))
        XCTAssertEqual(Array(picked[n..<(2 * n)]), Array(all[0..<n]))
        XCTAssertThrowsError(try reader.readFloat(window, bands: [3])) { error in
            XCTAssertTrue("\(error)".contains("band 4 requested, but the file has 3"), "\(error)")
        }
    }

    func testNativeReadKeepsTheSampleType() throws {
        let reader = try RasterReader(path: try SharedData.corpus("rio-color/rgb16.tif"))
        XCTAssertEqual(reader.info.sampleType, .uint16)
        let window = RasterWindow(x: 10, y: 10, width: 20, height: 10)
        let native = try reader.readNative(window)
        let floats = try reader.readFloat(window)
        XCTAssertEqual(native.bytes.count, window.pixelCount * 3 * 2)
        for b in 0..<3 {
            for y in 0..<10 {
                for x in 0..<20 {
                    XCTAssertEqual(native.value(band: b, x: x, y: y), Double(floats[(b * 10 + y) * 20 + x]))
                }
            }
        }
        XCTAssertGreaterThan(floats.max()!, 255, "uint16 reflectance is not squeezed into bytes")
    }

    func testSparseTilesReadAsEmptyWithoutErrors() throws {
        // GDAL wrote this BigTIFF COG with every tile sparse (offset and byte count 0).
        let reader = try RasterReader(path: try SharedData.corpus("cogeotiff/sparse.tiff"))
        XCTAssertEqual(reader.info.width, 20480)
        XCTAssertTrue(reader.info.isBigTIFF)
        let tile = RasterWindow(x: 512 * 7, y: 512 * 3, width: 512, height: 512)
        XCTAssertTrue(reader.isSparse(tile))
        let values = try reader.readFloat(RasterWindow(x: 512 * 7 - 10, y: 512 * 3, width: 30, height: 600))
        XCTAssertTrue(values.allSatisfy { $0 == 0 }, "sparse tiles of a file without nodata read as 0, as in GDAL")
        // Statistics account for sparse tiles without decoding 400 million pixels.
        let stats = try RasterAnalysis.analyze(reader, statistics: true, checksums: false).statistics![0]
        XCTAssertEqual(stats.validCount, 20480 * 20480)
        XCTAssertEqual(stats.maximum, 0)
        let stored = try RasterReader(path: try SharedData.corpus("rasterio/RGB.byte.tif"))
        XCTAssertFalse(stored.isSparse(RasterWindow(x: 0, y: 0, width: 10, height: 10)))
    }

    func testOverviewsMasksAndAlphaAreRecognized() throws {
        let cog = try RasterReader(path: try SharedData.corpus("rasterio/cogeo.tif")).info
        XCTAssertTrue(cog.hasInternalMask)
        XCTAssertEqual(cog.overviews.first.map { [$0.width, $0.height] }, [512, 512])
        XCTAssertEqual(cog.photometric, "RGB", "JPEG YCbCr is served as RGB")
        let alpha = try RasterReader(path: try SharedData.corpus("cogeotiff/rgba8_cog.tiff")).info
        XCTAssertEqual(alpha.alphaBand, 3)
        XCTAssertFalse(alpha.overviews.isEmpty)
    }

    func testBigEndianFileReadsLikeItsLittleEndianTwin() throws {
        let big = try RasterReader(path: try SharedData.corpus("cogeotiff/big.endian.tiff"))
        XCTAssertTrue(big.info.isBigEndian)
        let stats = try RasterAnalysis.analyze(big, statistics: true, checksums: false).statistics!
        XCTAssertEqual(stats.count, 3)
        XCTAssertTrue(stats.allSatisfy { ($0.maximum ?? 0) > 0 })
    }

    // MARK: Georeferencing

    func testTiepointAndScaleGiveGDALsTransformAndEPSG() throws {
        let info = try RasterReader(path: try SharedData.path("scenes/joplin-2011/pre.tif")).info
        let geo = try XCTUnwrap(info.geo)
        XCTAssertEqual(geo.coordinateSystem?.epsg, 32615)
        XCTAssertEqual(geo.coordinateSystem?.modelType, .projected)
        XCTAssertEqual(geo.coordinateSystem?.metresPerUnit, 1)
        XCTAssertEqual(geo.rasterSpace, .pixelIsArea)
        let t = try XCTUnwrap(geo.transform)
        // Values gdalinfo 3.6 prints for this file.
        XCTAssertEqual(t.originX, 366676.200000795419328, accuracy: 1e-6)
        XCTAssertEqual(t.originY, 4104257.116570945363492, accuracy: 1e-6)
        XCTAssertEqual(t.pixelWidth, 0.600000000003718, accuracy: 1e-12)
        XCTAssertEqual(t.pixelHeight, -0.673961640416796, accuracy: 1e-12)
        XCTAssertTrue(t.isNorthUp)
    }

    func testPixelIsPointIsShiftedHalfAPixelLikeGDAL() throws {
        let info = try RasterReader(path: try SharedData.corpus("libgeotiff/pixel_is_point_wgs84.tif")).info
        XCTAssertEqual(info.geo?.rasterSpace, .pixelIsPoint)
        XCTAssertEqual(info.geo?.coordinateSystem?.epsg, 4326)
        XCTAssertEqual(info.geo?.coordinateSystem?.modelType, .geographic)
        XCTAssertEqual(info.geo?.transform?.coefficients, [-2, 2, 0, 54, 0, -2])
        // The stored tiepoint is the pixel centre, half a pixel inside the reported corner.
        XCTAssertEqual(info.geo?.tags.modelTiepoints?[3], -1)
    }

    func testModelTransformationRotationAndSouthUpAreReported() throws {
        let rotated = try RasterReader(path: try SharedData.corpus("rasterio/rotated.tif")).info
        let t = try XCTUnwrap(rotated.geo?.transform)
        for (got, expected) in zip(t.coefficients, [100, 17.320508075688775, 5, 200, 10, -8.660254037844387]) {
            XCTAssertEqual(got, expected, accuracy: 1e-12)
        }
        XCTAssertTrue(t.isRotated)
        XCTAssertTrue(rotated.notes.contains { $0.contains("rotated") })
        let southUp = try RasterReader(path: try SharedData.corpus("cogeotiff/model_transformation.tif")).info
        XCTAssertEqual(southUp.geo?.transform?.coefficients, [418080, 10, 0, 4423680, 0, 10])
        XCTAssertTrue(southUp.geo?.transform?.isSouthUp == true)
        XCTAssertTrue(southUp.notes.contains { $0.contains("south-up") })
    }

    func testGroundControlPointsOnlyMeansNoTransform() throws {
        let info = try RasterReader(path: try SharedData.corpus("rio-tiler/cog_gcps_ovr.tif")).info
        XCTAssertNil(info.geo?.transform)
        XCTAssertEqual(info.geo?.groundControlPointCount, 210)
        XCTAssertTrue(info.notes.contains { $0.contains("ground control points") })
    }

    func testUserDefinedCRSCarriesItsCitation() throws {
        let info = try RasterReader(path: try SharedData.corpus("ets-geotiff11/cea.tif")).info
        let crs = try XCTUnwrap(info.geo?.coordinateSystem)
        XCTAssertNil(crs.epsg)
        XCTAssertEqual(crs.modelType, .projected)
        XCTAssertTrue(crs.summary.hasPrefix("user-defined projected CRS"), crs.summary)
        XCTAssertTrue(crs.citation?.contains("NAD27") == true, crs.citation ?? "no citation")
    }

    func testNoDataNaNAndOutOfRangeValues() throws {
        let nan = try RasterReader(path: try SharedData.corpus("rasterio/float_nan.tif"))
        XCTAssertTrue(nan.info.noData?.value.isNaN == true)
        let stats = try RasterAnalysis.analyze(nan, statistics: true, checksums: false).statistics![0]
        XCTAssertLessThan(stats.validCount, 6, "NaN pixels are not valid")
        let outOfRange = try RasterReader(path: try SharedData.corpus("rio-tiler/my-bucket__pix4d__pix4d_alpha_nodata.tif")).info
        XCTAssertNil(outOfRange.noData, "-10000 cannot be a uint8 sample")
        XCTAssertTrue(outOfRange.notes.contains { $0.contains("outside the range of uint8") })
        let rgb = try RasterReader(path: try SharedData.corpus("rasterio/RGB.byte.tif"))
        XCTAssertEqual(rgb.info.noData?.value, 0)
        let rgbStats = try RasterAnalysis.analyze(rgb, statistics: true, checksums: false).statistics![0]
        XCTAssertLessThan(rgbStats.validCount, rgb.info.width * rgb.info.height, "the nodata border is excluded")
        XCTAssertGreaterThan(rgbStats.minimum ?? 0, 0)
    }

    func testStatisticsAndChecksumsMatchGDAL() throws {
        let reader = try RasterReader(path: try SharedData.path("scenes/joplin-2011/pre.tif"))
        let analysis = try RasterAnalysis.analyze(reader, statistics: true, checksums: true)
        // gdalinfo -stats -checksum on the same file.
        XCTAssertEqual(analysis.checksums, [42422, 52113, 15274])
        let means = analysis.statistics!.map { $0.mean! }
        XCTAssertEqual(means[0], 134.37790775299, accuracy: 1e-9)
        XCTAssertEqual(means[1], 132.69667053223, accuracy: 1e-9)
        XCTAssertEqual(means[2], 114.83293914795, accuracy: 1e-9)
        XCTAssertEqual(analysis.statistics![0].standardDeviation!, 36.489388156301, accuracy: 1e-9)
    }

    // MARK: Bad input

    private func assertRefused(_ path: String, mentioning words: String? = nil, file: StaticString = #filePath,
                               line: UInt = #line) {
        XCTAssertThrowsError(try {
            let reader = try RasterReader(path: path)
            _ = try RasterAnalysis.analyze(reader, statistics: true, checksums: false)
        }(), file: file, line: line) { error in
            guard let error = error as? RasterError else {
                return XCTFail("not a RasterError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.path, path, file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), "one line: \(error)", file: file, line: line)
            if let words {
                XCTAssertTrue(error.problem.contains(words), "\(error.problem) should mention \(words)",
                              file: file, line: line)
            }
        }
    }

    func testMissingFilesFoldersAndNonTIFFsAreOneLineErrors() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        assertRefused(dir.appendingPathComponent("absent.tif").path, mentioning: "no such file")
        assertRefused(dir.path, mentioning: "directory")
        let text = dir.appendingPathComponent("notes.tif")
        try Data("this is not a TIFF\n".utf8).write(to: text)
        assertRefused(text.path, mentioning: "Not a TIFF")
        let empty = dir.appendingPathComponent("empty.tif")
        try Data().write(to: empty)
        assertRefused(empty.path)
    }

    func testTruncatedFilesAreRefusedNotCrashed() throws {
        assertRefused(try SharedData.corpus("derived-truncated/RGB.byte.trunc50pct.tif"))
        assertRefused(try SharedData.corpus("derived-truncated/rgb_lzw.trunc90pct.tif"), mentioning: "cannot decode")
    }

    func testTruncatedCopyMadeHereIsRefused() throws {
        let source = try SharedData.path("scenes/joplin-2011/pre.tif")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cut = dir.appendingPathComponent("cut.tif")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        try bytes.prefix(bytes.count / 3).write(to: cut)
        assertRefused(cut.path)
    }

    func testAbsurdHeadersAreRefusedBeforeAllocating() throws {
        assertRefused(try SharedData.corpus("pillow/libtiff_segfault.tif"), mentioning: "band count")
    }

    func testWindowsOutsideTheRasterAreRefused() throws {
        let reader = try RasterReader(path: try SharedData.path("scenes/joplin-2011/pre.tif"))
        for window in [RasterWindow(x: 1000, y: 0, width: 100, height: 10), RasterWindow(x: 0, y: 0, width: 0, height: 1),
                       RasterWindow(x: -1, y: 0, width: 10, height: 10)] {
            XCTAssertThrowsError(try reader.readFloat(window)) { error in
                XCTAssertTrue("\(error)".contains("outside"), "\(error)")
            }
        }
    }
}
