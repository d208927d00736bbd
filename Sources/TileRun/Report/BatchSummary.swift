import Foundation

/// What a batch produced, scene by scene in the order given, with totals per class: written as
/// `summary.json` and `report.html` by `write(to:)`. Holds no timestamps or timings, so the same
/// results give the same bytes.
public struct BatchSummary: Codable, Equatable, Sendable {
    /// The model's classes in channel order, with their palette colours.
    public var classes: [LegendClass]
    public var scenes: [SceneSummary]
    public var totals: BatchTotals

    /// The summary of `scenes`, with totals over those that succeeded.
    public init(classes: [LegendClass], scenes: [SceneSummary]) {
        self.classes = classes
        self.scenes = scenes
        totals = BatchTotals(classes: classes, scenes: scenes)
    }

    /// The JSON document (keys sorted).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Writes `summary.json` and `report.html` into `folder`, each atomically, with the scenes' output
    /// paths made relative to `folder` (so the folder can move and the report's links still work).
    /// Returns the two paths.
    @discardableResult
    public func write(to folder: String) throws -> (json: String, html: String) {
        var relative = self
        for i in relative.scenes.indices {
            relative.scenes[i].outputs = scenes[i].outputs?.relative(to: folder)
        }
        let paths = ((folder as NSString).appendingPathComponent("summary.json"),
                     (folder as NSString).appendingPathComponent("report.html"))
        try AtomicFile.write(relative.json(), to: paths.0)
        try AtomicFile.write(Data(BatchReportPage(summary: relative).html().utf8), to: paths.1)
        return paths
    }
}

/// What the batch report says about one scene.
public struct SceneSummary: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        case succeeded, failed
    }

    /// The input scene's path, as given.
    public var scene: String
    public var status: Status
    /// Why the scene failed, in one line; nil when it succeeded.
    public var failure: String?
    /// Size, CRS and pixels and area per class; nil when the scene failed.
    public var statistics: SceneStatistics?
    /// The files written; nil when the scene failed.
    public var outputs: SceneOutputs?
    /// Tiles in the scene's grid, and those left out because they held only nodata.
    public var tiles: Int?
    public var skippedTiles: Int?

    /// A scene that was processed.
    public static func succeeded(scene: String, statistics: SceneStatistics, outputs: SceneOutputs, tiles: Int,
                                 skippedTiles: Int) -> SceneSummary {
        SceneSummary(scene: scene, status: .succeeded, statistics: statistics, outputs: outputs, tiles: tiles,
                     skippedTiles: skippedTiles)
    }

    /// A scene (or an input that matched none) that failed, with the reason.
    public static func failed(scene: String, reason: String) -> SceneSummary {
        SceneSummary(scene: scene, status: .failed, failure: reason)
    }
}

/// The files one scene produced.
public struct SceneOutputs: Codable, Equatable, Sendable {
    public var classMap: String
    public var probabilities: String?
    public var statisticsJSON: String
    public var statisticsCSV: String
    public var quicklook: String?

    public init(classMap: String, probabilities: String? = nil, statisticsJSON: String, statisticsCSV: String,
                quicklook: String? = nil) {
        self.classMap = classMap
        self.probabilities = probabilities
        self.statisticsJSON = statisticsJSON
        self.statisticsCSV = statisticsCSV
        self.quicklook = quicklook
    }

    /// The same outputs with every path relative to `folder`.
    func relative(to folder: String) -> SceneOutputs {
        func r(_ path: String) -> String { relativePath(path, from: folder) }
        return SceneOutputs(classMap: r(classMap), probabilities: probabilities.map(r), statisticsJSON: r(statisticsJSON),
                            statisticsCSV: r(statisticsCSV), quicklook: quicklook.map(r))
    }
}

/// Pixels and area per class over the scenes that succeeded.
public struct BatchTotals: Codable, Equatable, Sendable {
    public var scenes: Int
    public var succeeded: Int
    public var failed: Int
    /// Every scene pixel of the scenes that succeeded, nodata included.
    public var pixels: Int
    public var nodataPixels: Int
    /// One total per class, in channel order; areas only when every scene has them.
    public var classes: [SceneStatistics.ClassTotal]

    init(classes: [LegendClass], scenes: [SceneSummary]) {
        let statistics = scenes.compactMap(\.statistics)
        self.scenes = scenes.count
        succeeded = scenes.filter { $0.status == .succeeded }.count
        failed = self.scenes - succeeded
        pixels = statistics.reduce(0) { $0 + $1.width * $1.height }
        nodataPixels = statistics.reduce(0) { $0 + $1.nodataPixels }
        self.classes = classes.map { c in
            let matching = statistics.compactMap { $0.classes.first { $0.value == c.value } }
            let areas = matching.compactMap(\.areaSquareMetres)
            let area = !matching.isEmpty && areas.count == matching.count ? areas.reduce(0, +) : nil
            return SceneStatistics.ClassTotal(value: c.value, name: c.name, pixels: matching.reduce(0) { $0 + $1.pixels },
                                              areaSquareMetres: area, areaHectares: area.map { $0 / 10_000 })
        }
    }
}

/// `path` relative to `folder` (both taken from the current directory when relative), with ".." where
/// it lies outside.
func relativePath(_ path: String, from folder: String) -> String {
    let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
    let base = URL(fileURLWithPath: folder, isDirectory: true).standardizedFileURL.pathComponents
    let common = zip(target, base).prefix { $0 == $1 }.count
    return (Array(repeating: "..", count: base.count - common) + target[common...]).joined(separator: "/")
}
