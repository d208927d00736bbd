import Foundation
@testable import TileRun
import XCTest

final class ReportQuicklookTests: FolderTestCase {
    private let red = PaletteColor(red: 230, green: 30, blue: 30)
    private let green = PaletteColor(red: 30, green: 200, blue: 60)
    private let blue = PaletteColor(red: 40, green: 60, blue: 220)
    private var classes: [LegendClass] {
        [LegendClass(value: 10, name: "water", color: blue), LegendClass(value: 20, name: "forest", color: green),
         LegendClass(value: 30, name: "built-up", color: red)]
    }

    /// Every pixel of a `width`-wide window of `bands` bands, band after band, from `value(band, x, y)`.
    private func window(_ w: RasterWindow, bands: Int, _ value: (Int, Int, Int) -> Float) -> [Float] {
        (0..<bands).flatMap { b in (w.y..<w.maxY).flatMap { y in (w.x..<w.maxX).map { x in value(b, x, y) } } }
    }

    /// Tile windows over a scene: origins every `step`, the last flush with the edge, clipped to the scene.
    private func tiles(width: Int, height: Int, size: Int, step: Int) -> (windows: [RasterWindow], columns: [Int], rows: [Int]) {
        func origins(_ length: Int) -> [Int] { Array(stride(from: 0, to: length - size, by: step)) + [max(0, length - size)] }
        let columns = origins(width), rows = origins(height)
        let windows = rows.flatMap { y in
            columns.map { x in RasterWindow(x: x, y: y, width: min(size, width - x), height: min(size, height - y)) }
        }
        return (windows, columns, rows)
    }

    func testPNGRoundTrip() throws {
        var image = RGBImage(width: 7, height: 5, fill: PaletteColor(red: 1, green: 2, blue: 3))
        image[6, 4] = red
        image[0, 0] = PaletteColor(red: 255, green: 0, blue: 128)
        try image.writePNG(to: path("round.png"))
        XCTAssertEqual(try decodePNG(path("round.png")), image)
        XCTAssertThrowsError(try image.writePNG(to: path("missing-folder/round.png")))
        XCTAssertThrowsError(try RGBImage(width: 0, height: 3, fill: red).png(), "libpng refuses an empty image")
    }

    /// Every printable ASCII character has a glyph; anything else draws as '?'.
    func testFontCoversPrintableASCII() {
        for code in 33...126 {
            XCTAssertTrue(BitmapFont.rows(of: Unicode.Scalar(UInt8(code))).contains { $0 != 0 }, "no glyph for \(code)")
        }
        XCTAssertEqual(BitmapFont.rows(of: "é"), BitmapFont.rows(of: "?"))
        var image = RGBImage(width: 30, height: 20, fill: QuicklookComposer.background)
        image.draw(text: "Hi", x: 1, y: 1, scale: 2, color: QuicklookComposer.ink)
        // 'H' has its left stem in column 0 of rows 0-6: at scale 2, x 1-2 and y 1-14.
        XCTAssertEqual(image[1, 1], QuicklookComposer.ink)
        XCTAssertEqual(image[2, 14], QuicklookComposer.ink)
        XCTAssertEqual(image[1, 15], QuicklookComposer.background)
    }

    /// Class colours blend over the imagery at 45 %; nodata shows the imagery; the legend lists the classes
    /// present with their colours and nothing of the absent ones; the title is drawn.
    func testQuicklookBlendsClassesAndDrawsLegend() throws {
        let (width, height) = (120, 80)
        let builder = QuicklookBuilder(sceneWidth: width, sceneHeight: height, classes: classes, displayBands: [0, 1, 2],
                                       sampleType: .uint8)
        // Imagery: red band 100, green 150, blue 200 everywhere, in two windows.
        for w in [RasterWindow(x: 0, y: 0, width: width, height: 50), RasterWindow(x: 0, y: 50, width: width, height: 30)] {
            builder.addImagery(window(w, bands: 3) { b, _, _ in Float(100 + 50 * b) }, window: w)
        }
        // Classes as the blender gives them: water on the left half, forest on the right, the last 20 rows
        // nodata; an empty band of rows changes nothing.
        let labels: [UInt16] = (0..<height).flatMap { y in (0..<width).map { x in y >= 60 ? .max : x < width / 2 ? 0 : 1 } }
        builder.addClassRows(Array(labels[0..<(30 * width)]), firstRow: 0, nodata: .max)
        builder.addClassRows([UInt16](), firstRow: 0, nodata: .max)
        builder.addClassRows(Array(labels[(30 * width)...]), firstRow: 30, nodata: .max)
        try builder.write(to: path("scene.png"), title: "scene.tif")

        let png = try decodePNG(path("scene.png"))
        let imagery = PaletteColor(red: 100, green: 150, blue: 200)
        let (left, top) = (QuicklookComposer.mapLeft, QuicklookComposer.mapTop)
        XCTAssertEqual(png[left + 10, top + 10], QuicklookComposer.blend(blue, over: imagery))
        XCTAssertEqual(png[left + 10, top + 10], PaletteColor(red: 73, green: 110, blue: 209))
        XCTAssertEqual(png[left + 100, top + 10], QuicklookComposer.blend(green, over: imagery))
        XCTAssertEqual(png[left + 100, top + 70], imagery)

        // The legend: swatches of water, forest and nodata grey, one row apart; no built-up.
        let legend = QuicklookComposer.legendLeft(mapWidth: width)
        let swatchColors = (0..<4).map { png[legend + 9, top + 9 + 24 * $0] }
        XCTAssertEqual(swatchColors, [blue, green, QuicklookComposer.neutralGrey, QuicklookComposer.background])
        XCTAssertFalse((0..<png.height).contains { y in (0..<png.width).contains { png[$0, y] == red } })
        // Legend text in ink beside the swatch, and the title above the map.
        XCTAssertTrue((legend + 26..<png.width).contains { png[$0, top + 2 + 6] == QuicklookComposer.ink })
        XCTAssertTrue((0..<png.width).contains { png[$0, 12 + 2] == QuicklookComposer.ink })
        XCTAssertGreaterThanOrEqual(png.height, top + height)
    }

    /// The legend's shares: of every scene pixel, nodata included, one decimal.
    func testLegendSharesOfTheScene() {
        let grid = QuicklookGrid(sceneWidth: 10, sceneHeight: 10, maxSide: 1024)
        var labels = LabelAccumulator(grid: grid, classCount: 3)
        labels.add(rows: (0..<100).map { $0 < 25 ? 0 : $0 < 99 ? 2 : -1 } as [Int32], firstRow: 0, nodata: -1)
        let composer = QuicklookComposer(imagery: ImageryAccumulator(grid: grid, displayBands: [0]), labels: labels,
                                         classes: classes, stretch: false)
        XCTAssertEqual(composer.legendEntries().map(\.name), ["water", "built-up", "nodata"])
        XCTAssertEqual(composer.legendEntries().map(\.share), ["25.0 %", "74.0 %", "1.0 %"])
    }

    /// Box means for imagery and the most frequent class (ties to the lower channel, nodata last) for labels.
    func testDownsamplingTakesBoxMeansAndModes() {
        let grid = QuicklookGrid(sceneWidth: 4, sceneHeight: 4, maxSide: 2)
        XCTAssertEqual([grid.width, grid.height], [2, 2])
        var imagery = ImageryAccumulator(grid: grid, displayBands: [0])
        let whole = RasterWindow(x: 0, y: 0, width: 4, height: 4)
        var valid = [UInt8](repeating: 1, count: 16)
        valid[0] = 0
        // Pixel 0 is masked, pixel 15 NaN: both are left out.
        imagery.add((0..<16).map { $0 == 15 ? .nan : Float($0) }, window: whole, valid: valid, counted: whole)
        XCTAssertEqual(imagery.mean(cell: 0, band: 0), Double(1 + 4 + 5) / 3)
        XCTAssertEqual(imagery.mean(cell: 1, band: 0), Double(2 + 3 + 6 + 7) / 4)
        XCTAssertEqual(imagery.mean(cell: 3, band: 0), Double(10 + 11 + 14) / 3)

        var labels = LabelAccumulator(grid: grid, classCount: 3)
        labels.add(rows: [2, 2, 1, 0,
                          1, 0, 0, 1] as [Int32], firstRow: 0, nodata: -1)
        labels.add(rows: [-1, -1, 2, 2,
                          -1, 0, 2, 1] as [Int32], firstRow: 2, nodata: -1)
        XCTAssertEqual(labels.labels, [2, 0, -1, 2])
        XCTAssertEqual(labels.pixels, [4, 4, 5])
        XCTAssertEqual(labels.nodataPixels, 3)
    }

    /// Longer side at most maxSide, aspect kept, every quicklook pixel covered.
    func testGridShrinksToMaxSide() {
        let grid = QuicklookGrid(sceneWidth: 3000, sceneHeight: 1000, maxSide: 1024)
        XCTAssertEqual([grid.width, grid.height], [1024, 341])
        XCTAssertEqual(Set(grid.cellColumns), Set(0..<1024))
        XCTAssertEqual(Set((0..<1000).map(grid.cellRow)), Set(0..<341))
        let small = QuicklookGrid(sceneWidth: 300, sceneHeight: 200, maxSide: 1024)
        XCTAssertEqual([small.width, small.height], [300, 200])
    }

    func testDisplayBandsPreferTheFilesRGB() {
        XCTAssertEqual(QuicklookBuilder.displayBands(windowBands: [0, 1, 2]), [0, 1, 2])
        XCTAssertEqual(QuicklookBuilder.displayBands(windowBands: [2, 1, 0, 3]), [2, 1, 0])
        XCTAssertEqual(QuicklookBuilder.displayBands(windowBands: [3, 4, 5, 6]), [0, 1, 2])
        XCTAssertEqual(QuicklookBuilder.displayBands(windowBands: [7]), [0])
    }

    func testStretchMapsPercentilesToTheByteRange() {
        let stretch = DisplayStretch(quantilesOf: (0...100).reversed().map(Double.init))
        XCTAssertEqual([stretch.low, stretch.high], [2, 98])
        XCTAssertEqual([stretch.byte(0), stretch.byte(2), stretch.byte(50), stretch.byte(98), stretch.byte(1000)], [0, 0, 128, 255, 255])
        XCTAssertEqual(DisplayStretch(quantilesOf: [7, 7, 7]).byte(7), 128)
        XCTAssertEqual(DisplayStretch.identity.byte(200.4), 200)
    }

    /// The owned parts of a tile grid's overlapping windows cover every scene pixel exactly once.
    func testOwnedPartsCoverTheSceneOnce() {
        let (width, height) = (150, 97)
        let grid = tiles(width: width, height: height, size: 64, step: 48)
        var coverage = [Int](repeating: 0, count: width * height)
        for w in grid.windows {
            let part = QuicklookBuilder.ownedPart(of: w, columns: grid.columns, rows: grid.rows)
            for y in part.y..<part.maxY { for x in part.x..<part.maxX { coverage[y * width + x] += 1 } }
        }
        XCTAssertEqual(Set(coverage), [1])
    }

    /// Overlapping tiles fed in any order, with their owned parts, give the bytes one whole-scene window gives;
    /// uint16 and float imagery, stretched.
    func testQuicklookIsIndependentOfWindowOrder() throws {
        let (width, height) = (333, 250)
        let grid = tiles(width: width, height: height, size: 96, step: 80)
        let labels: [Int32] = (0..<(width * height)).map { Int32(($0 % width / 50 + $0 / width / 60) % 4) - 1 }
        let imagery: [(SampleType, (Int, Int, Int) -> Float)] = [
            (.uint16, { b, x, y in Float((x * 37 + y * 11 + b * 1000) % 4096) }),
            (.float32, { b, x, y in Float(x * y % 977) * 0.0137 + Float(b) }),
        ]
        for (sampleType, value) in imagery {
            func build(_ windows: [RasterWindow], overlapping: Bool) throws -> Data {
                let builder = QuicklookBuilder(sceneWidth: width, sceneHeight: height, classes: classes, displayBands: [2, 1, 0],
                                               sampleType: sampleType, maxSide: 100)
                for w in windows {
                    // A nodata hole, and a fourth band (alpha) the quicklook must ignore.
                    let valid = (w.y..<w.maxY).flatMap { y in (w.x..<w.maxX).map { x in UInt8((x - 150) * (x - 150) + (y - 100) * (y - 100) < 900 ? 0 : 1) } }
                    builder.addImagery(window(w, bands: 4) { b, x, y in b == 3 ? 255 : value(b, x, y) }, window: w, valid: valid,
                                       counted: overlapping ? QuicklookBuilder.ownedPart(of: w, columns: grid.columns, rows: grid.rows) : nil)
                }
                for y in stride(from: 0, to: height, by: 40) {
                    let rows = min(40, height - y)
                    builder.addClassRows(Array(labels[(y * width)..<((y + rows) * width)]), firstRow: y, nodata: -1)
                }
                return try builder.render(title: "order").png()
            }
            let rowMajor = try build(grid.windows, overlapping: true)
            XCTAssertEqual(try build(grid.windows.reversed(), overlapping: true), rowMajor, "\(sampleType)")
            XCTAssertEqual(try build(stride(from: 0, to: grid.windows.count, by: 1).map { grid.windows[($0 * 7) % grid.windows.count] },
                                     overlapping: true), rowMajor, "\(sampleType)")
            XCTAssertEqual(try build([RasterWindow(x: 0, y: 0, width: width, height: height)], overlapping: false), rowMajor, "\(sampleType)")
        }
    }

    /// Same inputs, same bytes; a scene with classes but no imagery shows the plain class colours, and grey
    /// where the class map is nodata.
    func testLabelOnlySceneIsDeterministic() throws {
        let (width, height) = (64, 48)
        func build() throws -> Data {
            let builder = QuicklookBuilder(sceneWidth: width, sceneHeight: height, classes: classes, displayBands: [0],
                                           sampleType: .float32)
            builder.addClassRows((0..<(width * height)).map { $0 % width < 16 ? -1 : Int32($0 / width / 16) }, firstRow: 0, nodata: -1)
            try builder.write(to: path("labels.png"), title: "labels only")
            return try Data(contentsOf: directory.appendingPathComponent("labels.png"))
        }
        let first = try build()
        XCTAssertEqual(try build(), first)
        let png = try decodePNG(path("labels.png"))
        let (left, top) = (QuicklookComposer.mapLeft, QuicklookComposer.mapTop)
        XCTAssertEqual(png[left + 3, top + 3], QuicklookComposer.neutralGrey)
        XCTAssertEqual(png[left + 40, top + 3], blue)
        XCTAssertEqual(png[left + 40, top + 20], green)
        XCTAssertEqual(png[left + 40, top + 40], red)
    }

    /// A real scene with nodata borders, read window by window: its quicklook shows the imagery's
    /// nodata border in grey when the class map is nodata there too.
    func testRealSceneWithNodataBorders() throws {
        let reader = try RasterReader(path: try SharedData.corpus("rasterio/RGB.byte.tif"))
        let info = reader.info
        let builder = QuicklookBuilder(sceneWidth: info.width, sceneHeight: info.height, classes: classes,
                                       displayBands: [0, 1, 2], sampleType: info.sampleType, maxSide: 256)
        var row = 0
        while row < info.height {
            let w = RasterWindow(x: 0, y: row, width: info.width, height: min(128, info.height - row))
            let values = try reader.readFloat(w)
            let valid = (0..<w.pixelCount).map { p in UInt8((0..<3).contains { values[$0 * w.pixelCount + p] != 0 } ? 1 : 0) }
            builder.addImagery(values, window: w, valid: valid)
            // A class map that follows the imagery: nodata where it is, classes by brightness elsewhere.
            builder.addClassRows((0..<w.pixelCount).map { p in valid[p] == 0 ? .max : UInt16(min(2, Int(values[p]) / 40)) },
                                 firstRow: row, nodata: .max)
            row += w.height
        }
        try builder.write(to: path("RGB.byte.png"), title: "RGB.byte.tif")
        let png = try decodePNG(path("RGB.byte.png"))
        // The scene's top-left corner is nodata in every band.
        XCTAssertEqual(png[QuicklookComposer.mapLeft, QuicklookComposer.mapTop], QuicklookComposer.neutralGrey)
    }
}
