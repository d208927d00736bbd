import Foundation
import XCTest

/// Paths into ../shared (real GeoTIFFs beside the checkout); tests that need them skip when it is absent.
enum SharedData {
    /// The package root, found from this file's location.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let root = packageRoot.appendingPathComponent("../shared").standardized

    /// The path of `relative` under ../shared, or an XCTSkip naming what is missing.
    static func path(_ relative: String) throws -> String {
        let url = root.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.path) is absent: ../shared is not beside this checkout")
        }
        return url.path
    }

    /// A file of the real-world TIFF corpus.
    static func corpus(_ relative: String) throws -> String { try path("tiff-corpus/" + relative) }
}

/// A fresh temporary folder, removed by the caller's tearDown.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tilerun-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A test case with a fresh temporary folder for each test, removed afterwards.
class FolderTestCase: XCTestCase {
    private(set) var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// `name` inside the test's folder.
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}
