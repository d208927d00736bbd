import Foundation

/// What one scene produced.
public struct SceneResult: Sendable {
    /// The input scene's path.
    public var scene: String
    /// The paths written: class map, probabilities (when asked for), statistics.
    public var classMap: String
    public var probabilities: String?
    public var statisticsJSON: String
    public var statisticsCSV: String
    public var statistics: SceneStatistics
    /// Tiles in the scene's grid.
    public var tiles: Int
    /// Tiles left out because every pixel under them is nodata.
    public var skippedTiles: Int
}

/// Runs one scene through the stages: read tile windows (padded by reflection), normalize, infer,
/// convert to probabilities, blend, argmax, and stream finished rows to the class map writer.
public struct SceneProcessor: Sendable {
    public let plan: ModelPlan

    /// A processor for scenes run with `plan`'s model and settings.
    public init(plan: ModelPlan) { self.plan = plan }

    /// The output paths for `scene` in the plan's output folder: `NAME-classes.tif`,
    /// `NAME-probabilities.tif`, `NAME-statistics.json`, `NAME-statistics.csv`.
    public func outputPaths(scene: String) -> (classes: String, probabilities: String, json: String, csv: String) {
        let stem = URL(fileURLWithPath: scene).deletingPathExtension().lastPathComponent
        let folder = plan.settings.outputFolder as NSString
        return (folder.appendingPathComponent("\(stem)-classes.tif"), folder.appendingPathComponent("\(stem)-probabilities.tif"),
                folder.appendingPathComponent("\(stem)-statistics.json"), folder.appendingPathComponent("\(stem)-statistics.csv"))
    }

    /// Processes the scene at `path`; throws a `RasterError` or `ModelError` naming the file and the
    /// reason, leaving no partial outputs.
    public func process(scene path: String) throws -> SceneResult {
        let reader = try RasterReader(path: path)
        let info = reader.info
        if let highest = plan.bands.max(), highest >= info.bandCount {
            let bands = plan.bands.map { String($0 + 1) }.joined(separator: ",")
            throw RasterError(path: path, problem: "the model reads bands \(bands) but the file has \(info.bandCount) band\(info.bandCount == 1 ? "" : "s")")
        }
        let grid = TileGrid(width: info.width, height: info.height, tileSize: plan.tileSize, overlap: plan.overlap)
        let classes = plan.outputChannels
        let values = plan.classValues(channels: classes)
        let outputs = outputPaths(scene: path)
        let classMap = try ClassMapOutput(path: outputs.classes, width: info.width, height: info.height, geo: info.geo,
                                          values: values, colors: plan.metadata.classes)
        let probabilityWriter = plan.settings.writeProbabilities
            ? try RasterWriter(path: outputs.probabilities, width: info.width, height: info.height, options: RasterWriterOptions(
                sampleType: .float32, bandCount: classes, tileSize: 256, noData: NoData(value: .nan), geo: info.geo,
                overviewResampling: .average))
            : nil
        let area = PixelArea(geo: info.geo)
        var pixels = [Int](repeating: 0, count: classes)
        var areas = [Double](repeating: 0, count: classes)
        var nodataPixels = 0
        let tileReader = TileReader(reader: reader, plan: plan)
        var buffer = BlendBuffer(width: info.width, rows: min(plan.tileSize, info.height), classes: classes)
        let columnWeights = grid.columns.map { grid.axisWeights(position: $0, sceneLength: info.width, blending: plan.settings.blending) }
        var skipped = 0

        // Tiles go to the model in batches of neighbouring columns of one tile row. Decoding the next batch
        // overlaps inference on this one, so at most two batches of tiles are held.
        let batchSize = plan.settings.batch
        let batches: [(row: Int, columns: Range<Int>)] = grid.rows.indices.flatMap { row in
            stride(from: 0, to: grid.columns.count, by: batchSize).map { (row, $0..<min($0 + batchSize, grid.columns.count)) }
        }
        let readBatch: @Sendable (Int) -> Result<[TileInput], Error> = { index in
            let (row, columns) = batches[index]
            return Result { try columns.map { try tileReader.read(x: grid.columns[$0], y: grid.rows[row]) } }
        }
        var next: Prefetch<Result<[TileInput], Error>>? = Prefetch { readBatch(0) }
        var rowWeights: [Float] = []
        for (index, (rowIndex, columns)) in batches.enumerated() {
            let tiles = try next!.value.get()
            next = index + 1 < batches.count ? Prefetch { readBatch(index + 1) } : nil
            let y = grid.rows[rowIndex]
            if columns.lowerBound == 0 {
                rowWeights = grid.axisWeights(position: y, sceneLength: info.height, blending: plan.settings.blending)
            }
            var inferred: [(column: Int, tile: TileInput)] = []
            for (column, tile) in zip(columns, tiles) {
                buffer.markValid(tile.window, mask: tile.valid)
                if tile.hasData { inferred.append((column, tile)) } else { skipped += 1 }
            }
            if !inferred.isEmpty {
                let probabilities = try infer(inferred.map(\.tile.values))
                probabilities.withUnsafeBufferPointer { p in
                    for (n, item) in inferred.enumerated() {
                        buffer.add(tile: p.baseAddress! + n * classes * plan.tileSize * plan.tileSize, tileSize: plan.tileSize,
                                   x: grid.columns[item.column], y: y, sceneHeight: info.height,
                                   columnWeights: columnWeights[item.column], rowWeights: rowWeights)
                    }
                }
            }
            guard columns.upperBound == grid.columns.count else { continue }
            // No later tile reaches above the next tile row, so the rows before it are final.
            let finished = rowIndex + 1 < grid.rows.count ? grid.rows[rowIndex + 1] : info.height
            let firstRow = buffer.top
            guard finished > firstRow else { continue }
            let done = buffer.finish(through: finished, probabilities: probabilityWriter != nil)
            let rows = finished - firstRow
            for r in 0..<rows {
                var rowPixels = [Int](repeating: 0, count: classes)
                for i in 0..<info.width {
                    let label = Int(done.labels[r * info.width + i])
                    if label < 0 { nodataPixels += 1 } else { rowPixels[label] += 1 }
                }
                let rowArea = area.squareMetres(firstRow + r)
                for k in 0..<classes {
                    pixels[k] += rowPixels[k]
                    if let rowArea { areas[k] += Double(rowPixels[k]) * rowArea }
                }
            }
            try classMap.write(rows: firstRow, height: rows, labels: done.labels)
            if let probabilityWriter, let p = done.probabilities {
                try probabilityWriter.write(rows: firstRow, height: rows, values: p)
            }
        }

        let hasArea = area.squareMetres(0) != nil
        let statistics = SceneStatistics(
            scene: path, width: info.width, height: info.height, crs: info.geo?.coordinateSystem?.summary,
            areaMethod: area.method,
            classes: (0..<classes).map { k in
                SceneStatistics.ClassTotal(value: values[k], name: plan.className(values[k]), pixels: pixels[k],
                                           areaSquareMetres: hasArea ? areas[k] : nil,
                                           areaHectares: hasArea ? areas[k] / 10_000 : nil)
            },
            nodataPixels: nodataPixels)
        try probabilityWriter?.finish()
        try classMap.finish()
        try writeAtomically(statistics.json(), to: outputs.json)
        try writeAtomically(Data(statistics.csv().utf8), to: outputs.csv)
        return SceneResult(scene: path, classMap: outputs.classes, probabilities: probabilityWriter == nil ? nil : outputs.probabilities,
                           statisticsJSON: outputs.json, statisticsCSV: outputs.csv, statistics: statistics,
                           tiles: grid.rows.count * grid.columns.count, skippedTiles: skipped)
    }

    /// Runs the model on a batch of normalized tiles; returns probabilities, tile after tile, each
    /// `classes` planes of `tileSize`².
    private func infer(_ tiles: [[Float]]) throws -> [Float] {
        let t = plan.tileSize
        let count = plan.fixedBatch ?? tiles.count
        var input: [Float] = []
        input.reserveCapacity(count * plan.channels * t * t)
        for tile in tiles { input += tile }
        // A model with a fixed batch size gets blank tiles after the last real one; their outputs are dropped.
        input += [Float](repeating: 0, count: (count - tiles.count) * plan.channels * t * t)
        let outputs = try plan.session.run([plan.inputName: Tensor(shape: [count, plan.channels, t, t], floats: input)],
                                           threads: plan.settings.threads)
        guard let output = outputs[plan.outputName], var values = output.floats,
              output.shape == [count, plan.outputChannels, t, t] else {
            throw ModelError(path: plan.settings.modelPath,
                             problem: "output '\(plan.outputName)' has shape \(outputs[plan.outputName]?.shape ?? []), expected [\(count), \(plan.outputChannels), \(t), \(t)] float32")
        }
        values.removeLast((count - tiles.count) * plan.outputChannels * t * t)
        if !plan.outputIsProbabilities { softmax(&values, items: tiles.count, channels: plan.outputChannels, plane: t * t) }
        return values
    }
}

/// Softmax over the channel axis of `items` × `channels` × `plane` values, in place.
func softmax(_ values: inout [Float], items: Int, channels: Int, plane: Int) {
    values.withUnsafeMutableBufferPointer { v in
        for n in 0..<items {
            let base = n * channels * plane
            for p in 0..<plane {
                var peak = -Float.infinity
                for c in 0..<channels { peak = max(peak, v[base + c * plane + p]) }
                var sum: Float = 0
                for c in 0..<channels {
                    let e = expf(v[base + c * plane + p] - peak)
                    v[base + c * plane + p] = e
                    sum += e
                }
                for c in 0..<channels { v[base + c * plane + p] /= sum }
            }
        }
    }
}

/// A value computed on a background thread, waited for when needed.
final class Prefetch<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Value?

    init(_ work: @escaping @Sendable () -> Value) {
        DispatchQueue.global().async {
            self.result = work()
            self.done.signal()
        }
    }

    /// Waits for the value; call once.
    var value: Value {
        done.wait()
        return result!
    }
}

/// One tile ready for the model.
struct TileInput: Sendable {
    /// The part of the tile inside the scene.
    var window: RasterWindow
    /// Channel after channel, `tileSize`² each, normalized and padded by reflection.
    var values: [Float]
    /// Per pixel of `window`: 1 where the input holds data.
    var valid: [UInt8]
    var hasData: Bool
}

/// Reads tile windows of the model's bands, with the nodata mask (GDAL_NODATA on every band, alpha 0, NaN).
struct TileReader: Sendable {
    let reader: RasterReader
    let plan: ModelPlan

    func read(x: Int, y: Int) throws -> TileInput {
        let info = reader.info
        let t = plan.tileSize
        let window = RasterWindow(x: x, y: y, width: min(t, info.width - x), height: min(t, info.height - y))
        let alpha = info.alphaBand
        let raw = try reader.readFloat(window, bands: plan.bands + (alpha.map { [$0] } ?? []))
        let plane = window.pixelCount
        let channels = plan.channels
        let noData = info.noData.map { Float($0.rounded(to: info.sampleType).value) }
        var valid = [UInt8](repeating: 1, count: plane)
        var hasData = false
        for p in 0..<plane {
            var allNoData = noData != nil
            var anyNaN = false
            for c in 0..<channels {
                let v = raw[c * plane + p]
                if v.isNaN { anyNaN = true }
                if let noData, !(v == noData || (noData.isNaN && v.isNaN)) { allNoData = false }
            }
            let transparent = alpha != nil && raw[channels * plane + p] == 0
            if allNoData || anyNaN || transparent { valid[p] = 0 } else { hasData = true }
        }
        var values = [Float](repeating: 0, count: channels * t * t)
        guard hasData else { return TileInput(window: window, values: values, valid: valid, hasData: false) }
        // Reflection without repeating the edge pixel (numpy's "reflect"), for scenes smaller than a tile.
        func reflect(_ i: Int, _ length: Int) -> Int {
            guard length > 1 else { return 0 }
            let period = 2 * (length - 1)
            let m = i % period
            return m < length ? m : period - m
        }
        let sourceColumns = (0..<t).map { reflect($0, window.width) }
        for c in 0..<channels {
            let (multiply, add) = plan.affine[c]
            for j in 0..<t {
                let sourceRow = c * plane + reflect(j, window.height) * window.width
                let outRow = (c * t + j) * t
                for i in 0..<t {
                    let v = raw[sourceRow + sourceColumns[i]]
                    // NaN would spread through every convolution it reaches.
                    values[outRow + i] = v.isNaN ? 0 : v * multiply + add
                }
            }
        }
        return TileInput(window: window, values: values, valid: valid, hasData: true)
    }
}

/// The class map GeoTIFF: uint8 (uint16 when a class value exceeds 254), nodata 255 (65535), the palette
/// from the model's colours, the input's georeferencing, Cloud-Optimized with nearest overviews.
final class ClassMapOutput {
    let writer: RasterWriter
    let values: [Int]
    let wide: Bool

    init(path: String, width: Int, height: Int, geo: GeoReference?, values: [Int], colors: [ModelMetadata.ModelClass]?) throws {
        let largest = values.max() ?? 0
        wide = largest > 254
        guard largest < 65535 else { throw RasterError(path: path, problem: "class value \(largest) does not fit a uint16 class map") }
        self.values = values
        var palette = (0...largest).map { ClassMapOutput.defaultColor($0) }
        for c in colors ?? [] where c.value <= largest { if let color = c.color { palette[c.value] = color } }
        writer = try RasterWriter(path: path, width: width, height: height, options: RasterWriterOptions(
            sampleType: wide ? .uint16 : .uint8, bandCount: 1, tileSize: 256, noData: NoData(value: wide ? 65535 : 255),
            geo: geo, colorMap: palette, overviewResampling: .nearest))
    }

    /// Writes rows of channel labels (-1 for nodata) as class values.
    func write(rows y: Int, height: Int, labels: [Int32]) throws {
        if wide {
            try writer.write(rows: y, height: height, values: labels.map { $0 < 0 ? UInt16.max : UInt16(values[Int($0)]) })
        } else {
            try writer.write(rows: y, height: height, values: labels.map { $0 < 0 ? UInt8.max : UInt8(values[Int($0)]) })
        }
    }

    func finish() throws { try writer.finish() }

    /// A fixed, distinguishable colour for classes the model gives none (a golden-angle hue walk).
    static func defaultColor(_ value: Int) -> PaletteColor {
        let hue = (Double(value) * 137.508).truncatingRemainder(dividingBy: 360) / 60
        let x = 1 - abs(hue.truncatingRemainder(dividingBy: 2) - 1)
        let (r, g, b): (Double, Double, Double)
        switch Int(hue) {
        case 0: (r, g, b) = (1, x, 0)
        case 1: (r, g, b) = (x, 1, 0)
        case 2: (r, g, b) = (0, 1, x)
        case 3: (r, g, b) = (0, x, 1)
        case 4: (r, g, b) = (x, 0, 1)
        default: (r, g, b) = (1, 0, x)
        }
        func byte(_ v: Double) -> UInt8 { UInt8((40 + v * 200).rounded()) }
        return PaletteColor(red: byte(r), green: byte(g), blue: byte(b))
    }
}
