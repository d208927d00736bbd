import Foundation
@testable import TileRun
import XCTest

final class BatchReportTests: FolderTestCase {
    private let classes = [LegendClass(value: 1, name: "water", color: PaletteColor(red: 0, green: 80, blue: 255)),
                           LegendClass(value: 2, name: "forest", color: PaletteColor(red: 20, green: 160, blue: 40)),
                           LegendClass(value: 3, name: "glacier", color: PaletteColor(red: 240, green: 240, blue: 255))]

    /// One succeeded scene's summary: 100 × 50 pixels, 1 m² each when `area`, outputs in the temporary folder.
    private func succeeded(_ name: String, water: Int, forest: Int, area: Bool = true) -> SceneSummary {
        let nodata = 100 * 50 - water - forest
        func total(_ value: Int, _ pixels: Int) -> SceneStatistics.ClassTotal {
            SceneStatistics.ClassTotal(value: value, name: nil, pixels: pixels, areaSquareMetres: area ? Double(pixels) : nil,
                                       areaHectares: area ? Double(pixels) / 10_000 : nil)
        }
        let statistics = SceneStatistics(scene: "in/\(name).tif", width: 100, height: 50, crs: area ? "EPSG:32615" : nil,
                                         areaMethod: area ? "projected" : "none", classes: [total(1, water), total(2, forest), total(3, 0)],
                                         nodataPixels: nodata)
        return .succeeded(scene: "in/\(name).tif", statistics: statistics,
                          outputs: SceneOutputs(classMap: path("\(name)-classes.tif"), statisticsJSON: path("\(name)-statistics.json"),
                                                statisticsCSV: path("\(name)-statistics.csv"), quicklook: path("\(name) quicklook.png")),
                          tiles: 6, skippedTiles: 1)
    }

    private var summary: BatchSummary {
        BatchSummary(classes: classes, scenes: [
            succeeded("north", water: 1000, forest: 3000),
            .failed(scene: "in/broken.tif", reason: "in/broken.tif: not a TIFF <bad magic> & more"),
            succeeded("south", water: 4000, forest: 1000),
        ])
    }

    func testTotalsSumTheScenesThatSucceeded() {
        let totals = summary.totals
        XCTAssertEqual([totals.scenes, totals.succeeded, totals.failed], [3, 2, 1])
        XCTAssertEqual(totals.pixels, 10_000)
        XCTAssertEqual(totals.nodataPixels, 1000)
        XCTAssertEqual(totals.classes.map(\.pixels), [5000, 4000, 0])
        XCTAssertEqual(totals.classes.map(\.areaHectares), [0.5, 0.4, 0])
        XCTAssertEqual(totals.classes.map(\.name), ["water", "forest", "glacier"])
        // One scene without area: the batch's areas are unknown rather than partial.
        let mixed = BatchSummary(classes: classes, scenes: [succeeded("a", water: 1, forest: 1), succeeded("b", water: 1, forest: 1, area: false)])
        XCTAssertEqual(mixed.totals.classes.map(\.areaHectares), [nil, nil, nil])
    }

    /// summary.json decodes to the summary, with output paths relative to the folder; writing twice gives the same bytes.
    func testSummaryJSONDecodesWithRelativePaths() throws {
        let written = try summary.write(to: directory.path)
        XCTAssertEqual(written.json, path("summary.json"))
        let json = try Data(contentsOf: URL(fileURLWithPath: written.json))
        let decoded = try JSONDecoder().decode(BatchSummary.self, from: json)
        XCTAssertEqual(decoded.scenes.map(\.scene), ["in/north.tif", "in/broken.tif", "in/south.tif"])
        XCTAssertEqual(decoded.scenes.map(\.status), [.succeeded, .failed, .succeeded])
        XCTAssertEqual(decoded.scenes[0].outputs?.classMap, "north-classes.tif")
        XCTAssertEqual(decoded.scenes[0].outputs?.quicklook, "north quicklook.png")
        XCTAssertEqual(decoded.scenes[1].failure, "in/broken.tif: not a TIFF <bad magic> & more")
        XCTAssertEqual(decoded.classes, classes)
        XCTAssertEqual(decoded.totals, summary.totals)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains("\"color\" : \"#0050FF\""))

        let html = try Data(contentsOf: URL(fileURLWithPath: written.html))
        try summary.write(to: directory.path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: written.json)), json)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: written.html)), html)
    }

    /// The page names every scene, links each quicklook and output relatively, gives the failure's reason
    /// escaped, the class totals, and loads nothing from elsewhere.
    func testReportPageListsScenesQuicklooksAndFailures() throws {
        let html = try String(contentsOfFile: try summary.write(to: directory.path).html, encoding: .utf8)
        for scene in ["in/north.tif", "in/broken.tif", "in/south.tif"] { XCTAssertTrue(html.contains(scene), scene) }
        XCTAssertTrue(html.contains("<img src=\"north%20quicklook.png\""))
        XCTAssertTrue(html.contains("<img src=\"south%20quicklook.png\""))
        XCTAssertTrue(html.contains("<a href=\"south-classes.tif\">class map</a>"))
        XCTAssertTrue(html.contains("<a href=\"#scene-3\">"))
        XCTAssertTrue(html.contains("id=\"scene-3\""))
        XCTAssertTrue(html.contains("not a TIFF &lt;bad magic&gt; &amp; more"))
        XCTAssertFalse(html.contains("<bad magic>"))
        XCTAssertTrue(html.contains("3 scenes: 2 succeeded, 1 failed."))
        // Water over the batch: 5000 pixels, 0.50 ha, half of all pixels; glacier is absent from every table.
        XCTAssertTrue(html.contains("water</td><td class=\"number\">1</td><td class=\"number\">5\u{2009}000</td><td class=\"number\">0.50</td><td class=\"number\">50.0 %</td>"))
        XCTAssertFalse(html.contains("glacier"))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("http:") || html.contains("https:") || html.contains("//"))
    }

    func testRelativePaths() {
        XCTAssertEqual(relativePath("/a/b/c.png", from: "/a/b"), "c.png")
        XCTAssertEqual(relativePath("/a/b/c/d.png", from: "/a/b/"), "c/d.png")
        XCTAssertEqual(relativePath("/a/x/d.png", from: "/a/b"), "../x/d.png")
    }

    func testFormatting() {
        XCTAssertEqual(ReportFormatting.percent(1, of: 3), "33.3 %")
        XCTAssertEqual(ReportFormatting.percent(1, of: 100_000), "<0.1 %")
        XCTAssertEqual(ReportFormatting.percent(0, of: 5), "0.0 %")
        XCTAssertEqual(ReportFormatting.grouped(1_234_567), "1\u{2009}234\u{2009}567")
        XCTAssertEqual(ReportFormatting.grouped(999), "999")
        XCTAssertEqual(ReportFormatting.hectares(1234.567), "1\u{2009}234.57")
        XCTAssertEqual(ReportFormatting.hectares(0.4), "0.40")
    }
}
