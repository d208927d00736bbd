import Foundation

/// One tile ready for the model.
struct TileInput: Sendable {
    /// Grid position.
    var row: Int
    var column: Int
    /// The part of the tile inside the scene.
    var window: RasterWindow
    /// Channel after channel, `tileSize`² each, normalized and padded by reflection (empty when `hasData` is false).
    var values: [Float]
    /// Per pixel of `window`: 1 where the input holds data.
    var valid: [UInt8]
    var hasData: Bool
    /// The raw display bands (up to three) of the part of `window` this tile finishes, band after band,
    /// for the quicklook; NaN where the input holds no data.
    var preview: [Float]
    var previewWindow: RasterWindow
}

/// Reads the model's input for tile windows of one scene — the chosen bands of its file, or of the
/// pre-event then the post-event file — with the nodata mask (GDAL_NODATA on every band, NaN, alpha 0,
/// the internal mask), normalized and padded by reflection at the scene's edges.
final class TileSource: @unchecked Sendable {
    let scene: SceneInput
    /// The first file's description (size, georeferencing); a pair's files share the grid.
    let info: RasterInfo
    /// Per model channel, `pixel × multiply + add`.
    let affine: [(multiply: Float, add: Float)]
    private let readers: [RasterReader]
    private let masks: [RasterReader?]
    private let plan: ModelPlan

    /// Opens the scene's files and checks them against the model; throws a `RasterError` naming the file.
    init(scene: SceneInput, plan: ModelPlan) throws {
        self.scene = scene
        self.plan = plan
        guard scene.isPair == plan.isPrePost else {
            let problem = plan.isPrePost
                ? "the model takes a pre-event and a post-event scene, but this file has no partner (name them NAME-pre.tif and NAME-post.tif, or list pairs in the pipeline)"
                : "the model takes one scene, not a pre/post pair"
            throw RasterError(path: scene.files[0], problem: problem)
        }
        readers = try scene.files.map { try RasterReader(path: $0) }
        info = readers[0].info
        for reader in readers {
            let i = reader.info
            if let highest = plan.bands.max(), highest >= i.bandCount {
                let bands = plan.bands.map { String($0 + 1) }.joined(separator: ",")
                throw RasterError(path: i.path, problem: "the model reads bands \(bands) but the file has \(i.bandCount) band\(i.bandCount == 1 ? "" : "s")")
            }
        }
        if readers.count == 2 { try TileSource.checkSameGrid(readers[0].info, readers[1].info) }
        masks = try readers.map { try $0.openInternalMask() }
        if let p = plan.percentiles {
            var affine: [(multiply: Float, add: Float)] = []
            for (f, reader) in readers.enumerated() {
                let stretch = try BandPercentiles.compute(reader, bands: plan.bands, low: p.low, high: p.high)
                for (b, range) in stretch.enumerated() {
                    let (mean, std) = plan.standardization[f * plan.bands.count + b]
                    let span = max(range.high - range.low, .leastNormalMagnitude)
                    affine.append((1 / (span * std), -range.low / (span * std) - mean / std))
                }
            }
            self.affine = affine
        } else {
            affine = plan.affine
        }
    }

    /// A pre/post pair must share size, CRS and pixel size, and their origins may differ by less than a
    /// pixel (real pairs are often misregistered by a fraction of a pixel: Joplin 2011's by 0.47 m and
    /// 0.27 m at 0.6 m pixels); otherwise says how they differ.
    static func checkSameGrid(_ pre: RasterInfo, _ post: RasterInfo) throws {
        var differences: [String] = []
        if pre.width != post.width || pre.height != post.height {
            differences.append("size \(post.width)x\(post.height) vs \(pre.width)x\(pre.height)")
        }
        let a = pre.geo?.coordinateSystem?.summary ?? "none", b = post.geo?.coordinateSystem?.summary ?? "none"
        if a != b { differences.append("CRS \(b) vs \(a)") }
        switch (pre.geo?.transform, post.geo?.transform) {
        case let (p?, q?):
            let scale = max(abs(p.pixelWidth), abs(p.pixelHeight))
            let linear = [(p.pixelWidth, q.pixelWidth), (p.rowRotation, q.rowRotation),
                          (p.columnRotation, q.columnRotation), (p.pixelHeight, q.pixelHeight)]
            if linear.contains(where: { abs($0 - $1) > scale * 1e-6 }) {
                differences.append("pixel size or rotation \([q.pixelWidth, q.rowRotation, q.columnRotation, q.pixelHeight]) vs \([p.pixelWidth, p.rowRotation, p.columnRotation, p.pixelHeight])")
            } else if abs(p.originX - q.originX) >= abs(p.pixelWidth) || abs(p.originY - q.originY) >= abs(p.pixelHeight) {
                differences.append("origin (\(q.originX), \(q.originY)) vs (\(p.originX), \(p.originY)), a pixel or more apart")
            }
        case (nil, nil): break
        default: differences.append("only one of them is georeferenced")
        }
        guard differences.isEmpty else {
            throw RasterError(path: post.path, problem: "does not share the grid of its pre-event scene \(pre.path): \(differences.joined(separator: "; "))")
        }
    }

    /// Reads the tile at grid position (`row`, `column`); `finished` is the part of its window it finishes
    /// (for the quicklook's preview).
    func read(row: Int, column: Int, grid: TileGrid, finished: RasterWindow) throws -> TileInput {
        let t = grid.tileSize
        let x = grid.columns[column], y = grid.rows[row]
        let window = RasterWindow(x: x, y: y, width: min(t, info.width - x), height: min(t, info.height - y))
        let plane = window.pixelCount
        let perScene = plan.bands.count
        var valid = [UInt8](repeating: 1, count: plane)
        var masked = false
        var raw: [[Float]] = []
        for (f, reader) in readers.enumerated() {
            let alpha = reader.info.alphaBand
            let values = try reader.readFloat(window, bands: plan.bands + (alpha.map { [$0] } ?? []))
            let noData = reader.info.noData.map { Float($0.rounded(to: reader.info.sampleType).value) }
            let mask = try masks[f]?.readFloat(window, bands: [0])
            // Integer samples without nodata, alpha or mask are all valid (no NaN either): no per-pixel test.
            let canBeInvalid = noData != nil || alpha != nil || mask != nil || reader.info.sampleType.isFloatingPoint
            if canBeInvalid {
                masked = true
                values.withUnsafeBufferPointer { v in
                    for p in 0..<plane where valid[p] != 0 {
                        var allNoData = noData != nil
                        var anyNaN = false
                        for c in 0..<perScene {
                            let x = v[c * plane + p]
                            if x.isNaN { anyNaN = true }
                            if let noData, !(x == noData || (noData.isNaN && x.isNaN)) { allNoData = false }
                        }
                        let transparent = alpha != nil && v[perScene * plane + p] == 0
                        if allNoData || anyNaN || transparent || mask?[p] == 0 { valid[p] = 0 }
                    }
                }
            }
            raw.append(values)
        }
        let hasData = !masked || valid.contains(1)
        let preview = previewValues(raw.last!, window: window, finished: finished, valid: valid, allValid: !masked || !valid.contains(0))
        guard hasData else {
            return TileInput(row: row, column: column, window: window, values: [], valid: valid, hasData: false,
                             preview: preview, previewWindow: finished)
        }
        // Reflection without repeating the edge pixel (numpy's "reflect"), for scenes smaller than a tile.
        func reflect(_ i: Int, _ length: Int) -> Int {
            guard length > 1 else { return 0 }
            let period = 2 * (length - 1)
            let m = i % period
            return m < length ? m : period - m
        }
        let sourceColumns = (0..<t).map { reflect($0, window.width) }
        let values = [Float](unsafeUninitializedCapacity: plan.channels * t * t) { out, initialized in
            for c in 0..<plan.channels {
                let band = c % perScene
                let (multiply, add) = affine[c]
                raw[c / perScene].withUnsafeBufferPointer { source in
                    for j in 0..<t {
                        let sourceRow = source.baseAddress! + band * plane + reflect(j, window.height) * window.width
                        let outRow = out.baseAddress! + (c * t + j) * t
                        // NaN would spread through every convolution it reaches.
                        if window.width == t {
                            for i in 0..<t { let v = sourceRow[i]; outRow[i] = v.isNaN ? 0 : v * multiply + add }
                        } else {
                            for i in 0..<t { let v = sourceRow[sourceColumns[i]]; outRow[i] = v.isNaN ? 0 : v * multiply + add }
                        }
                    }
                }
            }
            initialized = plan.channels * t * t
        }
        return TileInput(row: row, column: column, window: window, values: values, valid: valid, hasData: true,
                         preview: preview, previewWindow: finished)
    }

    private func previewValues(_ raw: [Float], window: RasterWindow, finished: RasterWindow, valid: [UInt8],
                               allValid: Bool) -> [Float] {
        let bands = min(3, plan.bands.count)
        return [Float](unsafeUninitializedCapacity: bands * finished.pixelCount) { out, initialized in
            raw.withUnsafeBufferPointer { raw in
                valid.withUnsafeBufferPointer { valid in
                    for b in 0..<bands {
                        for j in 0..<finished.height {
                            let s = (finished.y - window.y + j) * window.width + finished.x - window.x
                            let source = raw.baseAddress! + b * window.pixelCount + s, mask = valid.baseAddress! + s
                            let target = out.baseAddress! + (b * finished.height + j) * finished.width
                            if allValid {
                                target.initialize(from: source, count: finished.width)
                            } else {
                                for i in 0..<finished.width { target[i] = mask[i] != 0 ? source[i] : .nan }
                            }
                        }
                    }
                }
            }
            initialized = bands * finished.pixelCount
        }
    }
}

/// Low and high percentiles of bands, from histograms streamed over the file's blocks (valid pixels only:
/// not nodata, not NaN).
enum BandPercentiles {
    static func compute(_ reader: RasterReader, bands: [Int], low: Double, high: Double) throws -> [(low: Float, high: Float)] {
        let info = reader.info
        let noData = info.noData.map { Float($0.rounded(to: info.sampleType).value) }
        func usable(_ v: Float) -> Bool { !v.isNaN && v != noData }
        // 8 and 16-bit integers get one bin per value; other types one bin per 1/65536 of their range.
        var lower: Float, upper: Float
        switch info.sampleType {
        case .uint8: (lower, upper) = (0, 255)
        case .int8: (lower, upper) = (-128, 127)
        case .uint16: (lower, upper) = (0, 65535)
        case .int16: (lower, upper) = (-32768, 32767)
        default:
            (lower, upper) = (.infinity, -.infinity)
            for window in reader.blockAlignedWindows() {
                let values = try reader.readFloat(window, bands: bands)
                for v in values where usable(v) {
                    lower = min(lower, v)
                    upper = max(upper, v)
                }
            }
            if lower > upper { return bands.map { _ in (0, 1) } }
        }
        let bins = 65536
        let binWidth = max((upper - lower) / Float(bins - 1), .leastNormalMagnitude)
        var histograms = [[Int]](repeating: [Int](repeating: 0, count: bins), count: bands.count)
        for window in reader.blockAlignedWindows() {
            let values = try reader.readFloat(window, bands: bands)
            let plane = window.pixelCount
            for b in 0..<bands.count {
                for v in values[(b * plane)..<((b + 1) * plane)] where usable(v) {
                    histograms[b][min(bins - 1, max(0, Int(((v - lower) / binWidth).rounded())))] += 1
                }
            }
        }
        return histograms.map { histogram in
            let total = histogram.reduce(0, +)
            guard total > 0 else { return (0, 1) }
            func value(at percent: Double) -> Float {
                let rank = max(1, Int((percent / 100 * Double(total)).rounded(.up)))
                var seen = 0
                for (bin, count) in histogram.enumerated() {
                    seen += count
                    if seen >= rank { return lower + Float(bin) * binWidth }
                }
                return upper
            }
            return (value(at: low), value(at: high))
        }
    }
}
