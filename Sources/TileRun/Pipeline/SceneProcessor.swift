import Foundation
import TileRunKernels

/// What one scene produced.
public struct SceneResult: Sendable {
    /// The scene: its name and file (or pre and post files).
    public var scene: SceneInput
    /// The paths written: class map, probabilities (when asked for), quicklook (when asked for), statistics.
    public var classMap: String
    public var probabilities: String?
    public var quicklook: String?
    public var statisticsJSON: String
    public var statisticsCSV: String
    public var statistics: SceneStatistics
    /// Tiles in the scene's grid.
    public var tiles: Int
    /// Tiles left out because every pixel under them is nodata.
    public var skippedTiles: Int
}

/// The output paths of one scene in the output folder.
public struct SceneOutputPaths: Sendable {
    public var classes: String
    public var probabilities: String
    public var quicklook: String
    public var json: String
    public var csv: String

    /// `NAME-classes.tif`, `NAME-probabilities.tif`, `NAME-quicklook.png`, `NAME-statistics.json`/`.csv`.
    public init(folder: String, name: String) {
        func path(_ suffix: String) -> String { (folder as NSString).appendingPathComponent(name + suffix) }
        classes = path("-classes.tif")
        probabilities = path("-probabilities.tif")
        quicklook = path("-quicklook.png")
        json = path("-statistics.json")
        csv = path("-statistics.csv")
    }
}

/// Runs one scene through the stages, streaming: read and normalize tile windows (one thread, a batch
/// or two ahead), infer (the caller's thread, the kernels' threads), then blend, finish and encode rows
/// (one thread, two batches or four tiles behind at most, whichever is more). Hand-offs are bounded, so
/// memory does not grow with the scene's height, and the stages overlap; all but inference run at a
/// lower priority.
public struct SceneProcessor: Sendable {
    public let plan: ModelPlan

    /// A processor for scenes run with `plan`'s model and settings.
    public init(plan: ModelPlan) { self.plan = plan }

    /// The output paths for `scene` in the plan's output folder.
    public func outputPaths(_ scene: SceneInput) -> SceneOutputPaths {
        SceneOutputPaths(folder: plan.settings.outputFolder, name: scene.name)
    }

    /// Tiles in the scene's grid, from the first file's header (nil when it cannot be read).
    public func tileCount(_ scene: SceneInput) -> Int? {
        guard let reader = try? RasterReader(path: scene.files[0]) else { return nil }
        let grid = TileGrid(width: reader.info.width, height: reader.info.height, tileSize: plan.tileSize, overlap: plan.overlap)
        return grid.rows.count * grid.columns.count
    }

    /// Processes `scene` completely; see `stream`.
    public func process(_ scene: SceneInput, progress: (Int) -> Void = { _ in }) throws -> SceneResult {
        try stream(scene, progress: progress).complete()
    }

    /// Runs every tile of `scene` and streams the finished rows to the outputs, calling `progress` with
    /// the number of tiles done after each batch. What is left — building the Cloud-Optimized files and
    /// writing the statistics — is returned, to be completed on any thread (while the next scene streams).
    /// Throws a `RasterError` or `ModelError` naming the file and the reason, leaving no partial outputs.
    ///
    /// With `checkpoints`, each finished band is saved, and the bands an earlier attempt saved are written
    /// from there instead of being inferred again; the outputs are the same bytes either way. When `stop` is
    /// requested, stops after the batch of tiles in flight and throws `SceneInterrupted`.
    public func stream(_ scene: SceneInput, checkpoints: BandCheckpoints? = nil, stop: StopRequest? = nil,
                       progress: (Int) -> Void = { _ in }) throws -> StreamedScene {
        let source = try TileSource(scene: scene, plan: plan)
        let info = source.info
        let grid = TileGrid(width: info.width, height: info.height, tileSize: plan.tileSize, overlap: plan.overlap)
        let classes = plan.outputChannels
        let values = plan.classValues(channels: classes)
        let outputs = outputPaths(scene)
        let sink = try SceneSink(plan: plan, scene: scene, info: info, values: values, outputs: outputs)
        let readTile: @Sendable (Int, Int) throws -> TileInput = { row, column in
            let rows = grid.finishedRows(tileRow: row), done = grid.finishedColumns(tileColumn: column)
            let finished = RasterWindow(x: done.lowerBound, y: rows.lowerBound, width: done.count, height: rows.count)
            return try source.read(row: row, column: column, grid: grid, finished: finished)
        }
        let saved = min(checkpoints?.saved ?? 0, grid.rows.count)
        // Inference restarts at the first tile row whose tiles reach the first unsaved band: the blend there
        // then gets every contribution it got in an uninterrupted run.
        let firstInferred = saved < grid.rows.count ? grid.firstTileRow(reaching: grid.rows[saved]) : grid.rows.count
        var skipped = 0
        do {
            for k in 0..<saved {
                let rows = grid.finishedRows(tileRow: k)
                let band = try SavedBand.decode(checkpoints!.load(k), k: k, scene: scene.files[0], top: rows.lowerBound, rows: rows.count,
                                                width: info.width, classes: classes, probabilities: plan.settings.writeProbabilities)
                try sink.write(band.band)
                if k < firstInferred { skipped += band.skippedTiles }
            }
            // The quicklook needs the imagery of the rows not inferred again, in grid order as before.
            if sink.quicklook != nil {
                for row in 0..<firstInferred {
                    for column in grid.columns.indices { sink.preview(try readTile(row, column)) }
                }
            }
        } catch {
            sink.discard()
            throw error
        }
        if firstInferred > 0 { progress(firstInferred * grid.columns.count) }
        let finisher = TileFinisher(plan: plan, grid: grid, sink: sink, firstTileRow: firstInferred, savedBands: saved,
                                    checkpoints: checkpoints)

        // Tiles go to the model in batches of neighbouring columns of one tile row, in grid order.
        let batchSize = plan.settings.batch
        let batches: [(row: Int, columns: Range<Int>)] = grid.rows.indices.dropFirst(firstInferred).flatMap { row in
            stride(from: 0, to: grid.columns.count, by: batchSize).map { (row, $0..<min($0 + batchSize, grid.columns.count)) }
        }
        // Reading runs ahead at a lower priority than inference (Dispatch's background QoS: nice 10 on
        // Linux, relative to this process's own threads where the kernel groups processes by session), so
        // that on a CPU it fills the moments inference leaves a core idle rather than preempting its workers.
        let readQueue = DispatchQueue(label: "tilerun.read", qos: .background)
        let readBatch: @Sendable (Int) -> Result<[TileInput], Error> = { index in
            let (row, columns) = batches[index]
            return Result { try columns.map { try readTile(row, $0) } }
        }
        let readAhead = 2
        var reads = (0..<min(readAhead, batches.count)).map { index in Prefetch(on: readQueue) { readBatch(index) } }

        // Blending and encoding run between inferences, on all the threads inference uses: beside it, on a
        // CPU, they only took cores from its workers (a worker preempted mid-layer holds up the whole layer),
        // which cost inference about the whole time they took. On a device, each batch is submitted before
        // the previous one is waited for and finished, so the device computes while the CPU finishes;
        // batches are still finished one by one in grid order. A batch computed when it was submitted (the
        // CPU kernels) is finished at once, so that a stop request between batches comes before the next
        // one is computed.
        var inFlight: (tiles: [TileInput], ticket: InferenceTicket?)?
        func finish(_ batch: (tiles: [TileInput], ticket: InferenceTicket?)) throws {
            let logits = try batch.ticket.map { try collect($0, tiles: batch.tiles.lazy.filter(\.hasData).count) } ?? []
            try finisher.take(batch.tiles, output: logits)
            progress(batch.tiles.count)
        }
        do {
            for index in batches.indices {
                if stop?.isRequested == true {
                    if let batch = inFlight { try finish(batch) }
                    throw SceneInterrupted()
                }
                let tiles = try reads.removeFirst().value.get()
                if index + readAhead < batches.count {
                    reads.append(Prefetch(on: readQueue) { readBatch(index + readAhead) })
                }
                let inferred = tiles.filter(\.hasData)
                skipped += tiles.count - inferred.count
                let ticket = inferred.isEmpty ? nil : try submit(inferred.map(\.values))
                if let previous = inFlight { try finish(previous) }
                inFlight = (tiles, ticket)
                if ticket?.isComplete ?? true, let batch = inFlight {
                    inFlight = nil
                    try finish(batch)
                }
            }
            if let batch = inFlight { try finish(batch) }
        } catch {
            sink.discard()
            throw error
        }
        return StreamedScene(scene: scene, sink: sink, tiles: grid.rows.count * grid.columns.count, skipped: skipped)
    }

    /// Submits a batch of normalized tiles to the model (`collect` returns its output).
    private func submit(_ tiles: [[Float]]) throws -> InferenceTicket {
        let t = plan.tileSize
        let count = plan.fixedBatch ?? tiles.count
        var input: [Float]
        if tiles.count == 1 && count == 1 {
            input = tiles[0]  // as it is: no copy
        } else {
            input = []
            input.reserveCapacity(count * plan.channels * t * t)
            for tile in tiles { input += tile }
            // A model with a fixed batch size gets blank tiles after the last real one; their outputs are dropped.
            input += [Float](repeating: 0, count: (count - tiles.count) * plan.channels * t * t)
        }
        return try plan.session.submit([plan.inputName: Tensor(shape: [count, plan.channels, t, t], floats: input)],
                                       threads: plan.settings.threads)
    }

    /// The output (logits or probabilities) of a batch of `tiles` tiles submitted with `submit`, tile
    /// after tile, each `classes` planes of `tileSize`².
    private func collect(_ ticket: InferenceTicket, tiles: Int) throws -> [Float] {
        let t = plan.tileSize
        let count = plan.fixedBatch ?? tiles
        let outputs = try plan.session.wait(ticket)
        guard let output = outputs[plan.outputName], var values = output.floats,
              output.shape == [count, plan.outputChannels, t, t] else {
            throw ModelError(path: plan.settings.modelPath,
                             problem: "output '\(plan.outputName)' has shape \(outputs[plan.outputName]?.shape ?? []), expected [\(count), \(plan.outputChannels), \(t), \(t)] float32")
        }
        if count > tiles { values.removeLast((count - tiles) * plan.outputChannels * t * t) }
        return values
    }
}

/// The blend-and-write stage of one scene: takes inferred batches in grid order, from tile row
/// `firstTileRow` on, and writes (and saves) the bands from `savedBands` on.
final class TileFinisher: @unchecked Sendable {
    private let plan: ModelPlan
    private let grid: TileGrid
    private let sink: SceneSink
    private let blender: TileBlender
    private let savedBands: Int
    private let checkpoints: BandCheckpoints?
    /// Tiles of the current tile row left out as all nodata.
    private var skippedInRow = 0

    init(plan: ModelPlan, grid: TileGrid, sink: SceneSink, firstTileRow: Int = 0, savedBands: Int = 0,
         checkpoints: BandCheckpoints? = nil) {
        self.plan = plan
        self.grid = grid
        self.sink = sink
        self.savedBands = savedBands
        self.checkpoints = checkpoints
        blender = TileBlender(grid: grid, classes: plan.outputChannels, blending: plan.settings.blending,
                              probabilities: plan.settings.writeProbabilities, outputIsProbabilities: plan.outputIsProbabilities,
                              firstTileRow: firstTileRow, threads: plan.settings.threads)
    }

    /// Blends a batch of tiles (the model's `output` holds those with data, in order) and writes the rows
    /// each finished tile row completes; rows already written from saved bands are only blended, for the
    /// overlaps they carry into later rows.
    func take(_ tiles: [TileInput], output: [Float]) throws {
        let tilePlanes = plan.outputChannels * plan.tileSize * plan.tileSize
        try output.withUnsafeBufferPointer { p in
            var n = 0
            for tile in tiles {
                let tileOutput = tile.hasData ? p.baseAddress! + n * tilePlanes : nil
                if tile.hasData { n += 1 } else { skippedInRow += 1 }
                // The quicklook's imagery beside the blend, which takes the other threads.
                DispatchQueue.concurrentPerform(iterations: 2) { job in
                    if job == 0 {
                        blender.add(row: tile.row, column: tile.column, output: tileOutput, valid: tile.valid)
                    } else {
                        sink.preview(tile)
                    }
                }
                guard tile.column + 1 == grid.columns.count else { continue }
                if tile.row >= savedBands {
                    let band = blender.band
                    try sink.write(band)
                    try checkpoints?.save(tile.row, band.top, band.rows, SavedBand(band: band, skippedTiles: skippedInRow).encoded())
                }
                skippedInRow = 0
            }
        }
    }
}

/// A scene whose tiles are all done; `complete` builds its files and returns the result.
public struct StreamedScene: @unchecked Sendable {
    let scene: SceneInput
    let sink: SceneSink
    let tiles: Int
    let skipped: Int

    /// Finishes the Cloud-Optimized outputs, the quicklook and the statistics.
    public func complete() throws -> SceneResult {
        let statistics = try sink.complete()
        let outputs = sink.outputs
        return SceneResult(scene: scene, classMap: outputs.classes,
                           probabilities: sink.probabilityWriter == nil ? nil : outputs.probabilities,
                           quicklook: sink.quicklook == nil ? nil : outputs.quicklook, statisticsJSON: outputs.json, statisticsCSV: outputs.csv,
                           statistics: statistics, tiles: tiles, skippedTiles: skipped)
    }
}

/// Where a scene's finished rows go: the class map, the probabilities, the quicklook, the statistics.
final class SceneSink: @unchecked Sendable {
    let outputs: SceneOutputPaths
    let probabilityWriter: RasterWriter?
    let quicklook: QuicklookBuilder?
    private let classMap: ClassMapOutput
    private let plan: ModelPlan
    private let scene: SceneInput
    private let info: RasterInfo
    private let values: [Int]
    private let area: PixelArea
    private var pixels: [Int]
    private var areas: [Double]
    private var nodataPixels = 0

    init(plan: ModelPlan, scene: SceneInput, info: RasterInfo, values: [Int], outputs: SceneOutputPaths) throws {
        self.plan = plan
        self.scene = scene
        self.info = info
        self.values = values
        self.outputs = outputs
        classMap = try ClassMapOutput(path: outputs.classes, width: info.width, height: info.height, geo: info.geo,
                                      values: values, colors: plan.metadata.classes, threads: plan.settings.threads)
        probabilityWriter = plan.settings.writeProbabilities
            ? try RasterWriter(path: outputs.probabilities, width: info.width, height: info.height, options: RasterWriterOptions(
                sampleType: .float32, bandCount: values.count, tileSize: 256, noData: NoData(value: .nan), geo: info.geo,
                overviewResampling: .average))
            : nil
        quicklook = plan.settings.writeQuicklook
            ? QuicklookBuilder(sceneWidth: info.width, sceneHeight: info.height, classes: plan.legend,
                               displayBands: QuicklookBuilder.displayBands(windowBands: Array(plan.bands.prefix(3))),
                               sampleType: info.sampleType)
            : nil
        area = PixelArea(geo: info.geo)
        pixels = [Int](repeating: 0, count: values.count)
        areas = [Double](repeating: 0, count: values.count)
    }

    /// Takes a tile's preview pixels for the quicklook.
    func preview(_ tile: TileInput) {
        quicklook?.addImagery(tile.preview, window: tile.previewWindow)
    }

    /// Writes finished rows and counts their classes: the counts (and the quicklook's labels) beside the
    /// files, as neither reads what the other writes.
    func write(_ band: FinishedBand) throws {
        var failure: Error?
        DispatchQueue.concurrentPerform(iterations: 2) { job in
            if job == 0 {
                count(band)
                quicklook?.addClassRows(band.labels, firstRow: band.top, nodata: FinishedBand.nodata)
                return
            }
            do {
                try classMap.write(rows: band.top, height: band.rows, labels: band.labels)
                if let probabilityWriter, let p = band.probabilities {
                    try probabilityWriter.write(rows: band.top, height: band.rows, values: p)
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Adds the band's pixels per class (and nodata) to the statistics.
    private func count(_ band: FinishedBand) {
        let classes = values.count
        // Per class, then nodata: the pixels of one row (areas depend on the row's latitude).
        var rowPixels = [Int](repeating: 0, count: classes + 1)
        band.labels.withUnsafeBufferPointer { labels in
            rowPixels.withUnsafeMutableBufferPointer { counts in
                for r in 0..<band.rows {
                    counts.update(repeating: 0)
                    for label in labels[(r * band.width)..<((r + 1) * band.width)] {
                        counts[label == FinishedBand.nodata ? classes : Int(label)] += 1
                    }
                    nodataPixels += counts[classes]
                    let rowArea = area.squareMetres(band.top + r)
                    for k in 0..<classes {
                        pixels[k] += counts[k]
                        if let rowArea { areas[k] += Double(counts[k]) * rowArea }
                    }
                }
            }
        }
    }

    /// Builds the files and writes the statistics; on failure no temporary file is left behind.
    func complete() throws -> SceneStatistics {
        let hasArea = area.squareMetres(0) != nil
        let statistics = SceneStatistics(
            scene: scene.description, width: info.width, height: info.height, crs: info.geo?.coordinateSystem?.summary,
            areaMethod: area.method,
            classes: values.indices.map { k in
                SceneStatistics.ClassTotal(value: values[k], name: plan.className(values[k]), pixels: pixels[k],
                                           areaSquareMetres: hasArea ? areas[k] : nil,
                                           areaHectares: hasArea ? areas[k] / 10_000 : nil)
            },
            nodataPixels: nodataPixels)
        // The quicklook is drawn and encoded while the GeoTIFFs are assembled (each takes one thread).
        let quicklookWritten = quicklook.map { quicklook in
            Prefetch(on: .global(qos: .background)) { [outputs, scene] in
                Result { try quicklook.write(to: outputs.quicklook, title: scene.name) }
            }
        }
        let assembled = Result {
            try probabilityWriter?.finish()
            try classMap.finish()
        }
        let drawn = quicklookWritten?.value ?? .success(())
        do {
            try assembled.get()
            try drawn.get()
            try AtomicFile.write(statistics.json(), to: outputs.json)
            try AtomicFile.write(Data(statistics.csv().utf8), to: outputs.csv)
        } catch {
            discard()
            throw error
        }
        return statistics
    }

    /// Gives up the outputs not yet in place (their temporary files are removed).
    func discard() {
        probabilityWriter?.discard()
        classMap.discard()
    }
}

/// A value computed on a background thread, waited for when needed.
final class Prefetch<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Value?

    init(on queue: DispatchQueue = .global(), _ work: @escaping @Sendable () -> Value) {
        queue.async {
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

/// The class map GeoTIFF: uint8 (uint16 when a class value exceeds 254), nodata 255 (65535), the palette
/// from the model's colours, the input's georeferencing, Cloud-Optimized with nearest overviews.
final class ClassMapOutput {
    let writer: RasterWriter
    let values: [Int]
    let wide: Bool
    /// The map's sample per output channel, and for `FinishedBand.nodata` the map's nodata.
    private let table8: [UInt8]
    private let table16: [UInt16]
    /// Reused row buffers (width-sized: a new one per band would fragment the heap on wide scenes).
    private var byteRows: [UInt8] = []
    private var wideRows: [UInt16] = []

    /// `threads`: how many of the map's tiles are compressed at once.
    init(path: String, width: Int, height: Int, geo: GeoReference?, values: [Int], colors: [ModelMetadata.ModelClass]?,
         threads: Int = 1) throws {
        let largest = values.max() ?? 0
        wide = largest > 254
        guard largest < 65535 else { throw RasterError(path: path, problem: "class value \(largest) does not fit a uint16 class map") }
        self.values = values
        var table8 = [UInt8](repeating: .max, count: 256), table16 = [UInt16](repeating: .max, count: 256)
        for (k, value) in values.enumerated() {  // at most 255 channels: `FinishedBand.nodata` stays nodata
            table8[k] = UInt8(truncatingIfNeeded: value)
            table16[k] = UInt16(truncatingIfNeeded: value)
        }
        (self.table8, self.table16) = (table8, table16)
        var palette = (0...largest).map { ClassMapOutput.defaultColor($0) }
        for c in colors ?? [] where c.value <= largest { if let color = c.color { palette[c.value] = color } }
        writer = try RasterWriter(path: path, width: width, height: height, options: RasterWriterOptions(
            sampleType: wide ? .uint16 : .uint8, bandCount: 1, tileSize: 256, noData: NoData(value: wide ? 65535 : 255),
            geo: geo, colorMap: palette, overviewResampling: .nearest, threads: threads))
    }

    /// Writes rows of output channels (`FinishedBand.nodata` for nodata) as class values.
    func write(rows y: Int, height: Int, labels: [UInt8]) throws {
        if wide {
            ClassMapOutput.map(labels, through: table16, into: &wideRows)
            try writer.write(rows: y, height: height, values: wideRows)
        } else {
            ClassMapOutput.map(labels, through: table8, into: &byteRows)
            try writer.write(rows: y, height: height, values: byteRows)
        }
    }

    /// `out[i] = table[labels[i]]`, reusing `out`'s storage.
    private static func map<Sample>(_ labels: [UInt8], through table: [Sample], into out: inout [Sample]) {
        // Sized to the band (only the first and last bands differ), then every sample overwritten.
        if out.count > labels.count {
            out.removeLast(out.count - labels.count)
        } else {
            out.append(contentsOf: repeatElement(table[0], count: labels.count - out.count))
        }
        table.withUnsafeBufferPointer { table in
            labels.withUnsafeBufferPointer { labels in
                out.withUnsafeMutableBufferPointer { out in
                    for i in labels.indices { out[i] = table[Int(labels[i])] }
                }
            }
        }
    }

    func finish() throws { try writer.finish() }

    func discard() { writer.discard() }

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
