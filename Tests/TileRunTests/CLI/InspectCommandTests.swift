import Foundation
import XCTest

/// Runs the built `tilerun` executable, as users and cron do.
enum TileRunBinary {
    /// The executable SwiftPM built beside this test bundle.
    static func url() throws -> URL {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("tilerun")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw XCTSkip("the tilerun executable is not built beside the tests (run `swift build` first)")
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try url()
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

final class InspectCommandTests: XCTestCase {
    func testReportsLikeGdalinfoAndExitsZero() throws {
        let scene = try SharedData.path("scenes/joplin-2011/pre.tif")
        let result = try TileRunBinary.run(["inspect", "--stats", scene])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Size: 1024 x 1024, 3 bands, uint8"), result.stdout)
        XCTAssertTrue(result.stdout.contains("CRS: EPSG:32615"), result.stdout)
        XCTAssertTrue(result.stdout.contains("Band 3: min 14.0 max 255.0"), result.stdout)
        XCTAssertEqual(result.stderr, "", "no libtiff warnings about GeoTIFF tags")
    }

    func testJSONHasTheFactsAndFailuresAreListed() throws {
        let scene = try SharedData.path("scenes/joplin-2011/pre.tif")
        let result = try TileRunBinary.run(["inspect", "--json", "--checksum", scene, "/nonexistent/x.tif"])
        XCTAssertEqual(result.status, 1, "one file failed")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let file = try XCTUnwrap((json["files"] as? [[String: Any]])?.first)
        XCTAssertEqual(file["epsg"] as? Int, 32615)
        XCTAssertEqual(file["compression"] as? String, "none")
        XCTAssertEqual((file["bands"] as? [[String: Any]])?.compactMap { $0["checksum"] as? Int }, [42422, 52113, 15274])
        let failures = try XCTUnwrap(json["failures"] as? [[String: String]])
        XCTAssertEqual(failures.first?["path"], "/nonexistent/x.tif")
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)
        XCTAssertTrue(result.stderr.contains("/nonexistent/x.tif: no such file"), result.stderr)
    }

    func testEachBadFileGetsOneLineAndTheRestAreStillReported() throws {
        let scene = try SharedData.path("scenes/joplin-2011/pre.tif")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.tif")
        try Data(repeating: 0x49, count: 100).write(to: junk)
        let result = try TileRunBinary.run(["inspect", junk.path, scene, dir.path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("EPSG:32615"))
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, result.stderr)
        XCTAssertTrue(lines[0].contains(junk.path))
        XCTAssertTrue(lines[1].contains(dir.path))
    }

    func testUsageErrorsExitTwo() throws {
        XCTAssertEqual(try TileRunBinary.run(["inspect"]).status, 2)
        XCTAssertEqual(try TileRunBinary.run(["inspect", "--bogus", "x.tif"]).status, 2)
        XCTAssertEqual(try TileRunBinary.run(["frobnicate"]).status, 2)
        XCTAssertEqual(try TileRunBinary.run([]).status, 2)
        XCTAssertEqual(try TileRunBinary.run(["--help"]).status, 0)
    }
}
