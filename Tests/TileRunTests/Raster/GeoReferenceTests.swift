import TileRun
import XCTest

final class GeoReferenceTests: XCTestCase {
    func testNorthUpStatesItsTransformAndEPSGKeys() {
        let geo = GeoReference.northUp(epsg: 32633, originX: 500000, originY: 6000000, pixelSize: 0.5)
        XCTAssertEqual(geo.transform?.coefficients, [500000, 0.5, 0, 6000000, 0, -0.5])
        XCTAssertEqual(geo.tags.modelTiepoints, [0, 0, 0, 500000, 6000000, 0])
        XCTAssertEqual(geo.tags.modelPixelScale, [0.5, 0.5, 0])
        let keys = geo.tags.keyDirectory!
        XCTAssertEqual(Array(keys[0..<4]), [1, 1, 0, 3], "version 1.1.0 with three keys")
        XCTAssertEqual(Array(keys[12..<16]), [3072, 0, 1, 32633], "ProjectedCSTypeGeoKey")
        XCTAssertEqual(geo.coordinateSystem?.summary, "EPSG:32633")
    }

    func testApplyAndOrientation() {
        let t = GeoTransform(originX: 10, pixelWidth: 2, originY: 100, pixelHeight: -3)
        XCTAssertEqual(t.apply(column: 5, row: 2).x, 20)
        XCTAssertEqual(t.apply(column: 5, row: 2).y, 94)
        XCTAssertTrue(t.isNorthUp)
        XCTAssertFalse(GeoTransform(originX: 0, pixelWidth: 1, originY: 0, pixelHeight: 1).isNorthUp)
        XCTAssertTrue(GeoTransform(originX: 0, pixelWidth: 1, rowRotation: 0.1, originY: 0, pixelHeight: -1).isRotated)
    }

    func testWindowIntersection() {
        let a = RasterWindow(x: 0, y: 0, width: 10, height: 10)
        XCTAssertEqual(a.intersection(RasterWindow(x: 5, y: 8, width: 10, height: 10)),
                       RasterWindow(x: 5, y: 8, width: 5, height: 2))
        XCTAssertNil(a.intersection(RasterWindow(x: 10, y: 0, width: 1, height: 1)))
    }
}

final class NoDataTests: XCTestCase {
    func testParsesNumbersNaNAndInfinityLikeGDAL() {
        XCTAssertEqual(NoData(text: "0")?.value, 0)
        XCTAssertEqual(NoData(text: " -9999 \0")?.value, -9999)
        XCTAssertEqual(NoData(text: "1e-3")?.value, 0.001)
        XCTAssertTrue(NoData(text: "nan")?.value.isNaN == true)
        XCTAssertTrue(NoData(text: "NaN")?.value.isNaN == true)
        XCTAssertEqual(NoData(text: "-inf")?.value, -.infinity)
        XCTAssertNil(NoData(text: "none"))
        XCTAssertNil(NoData(text: ""))
    }

    func testChecksTheValueAgainstTheSampleType() {
        XCTAssertNil(NoData(value: 255).problem(for: .uint8))
        XCTAssertNotNil(NoData(value: 256).problem(for: .uint8))
        XCTAssertNotNil(NoData(value: -1).problem(for: .uint16))
        XCTAssertNotNil(NoData(value: 0.5).problem(for: .int16))
        XCTAssertNotNil(NoData(value: .nan).problem(for: .int32))
        XCTAssertNil(NoData(value: .nan).problem(for: .float32))
        XCTAssertNil(NoData(value: -3.4e38).problem(for: .float32))
        XCTAssertNotNil(NoData(value: -1e39).problem(for: .float32))
        XCTAssertNil(NoData(value: -1e39).problem(for: .float64))
    }

    func testNaNMatchesNaN() {
        XCTAssertTrue(NoData(value: .nan).matches(.nan))
        XCTAssertFalse(NoData(value: .nan).matches(0))
        XCTAssertTrue(NoData(value: -9999).matches(-9999))
    }

    func testFloat32NoDataComparesAtFloat32Precision() {
        let nd = NoData(text: "-3.39999995214436425e+38")!.rounded(to: .float32)
        XCTAssertTrue(nd.matches(Double(Float(-3.4e38))))
    }
}
