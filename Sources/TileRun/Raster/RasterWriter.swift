import CLibTIFF
import Foundation
import Synchronization

/// How a `RasterWriter` lays out and encodes its GeoTIFF.
public struct RasterWriterOptions: Sendable {
    /// The codec for every tile.
    public enum Compression: String, Sendable, CaseIterable {
        case deflate, lzw, zstd, none

        /// The TIFF Compression tag value.
        var tiffCode: UInt16 {
            switch self {
            case .deflate: return 8
            case .lzw: return 5
            case .zstd: return 50000
            case .none: return 1
            }
        }
    }

    /// The TIFF Predictor applied before compression.
    public enum Predictor: Sendable {
        /// Horizontal differencing for integer imagery, floating-point prediction for float samples,
        /// none for palette class maps (their long runs compress as well without it) or uncompressed files.
        case automatic
        case none
        /// Predictor 2: horizontal differencing (integer samples).
        case horizontal
        /// Predictor 3: floating-point prediction (float samples).
        case floatingPoint
    }

    /// How each overview pixel is made from the 2×2 pixels under it.
    public enum Resampling: String, Sendable {
        /// The top-left pixel of each 2×2 block: keeps class labels intact.
        case nearest
        /// The mean of the pixels that are neither nodata nor NaN; for continuous data.
        case average
    }

    /// Whether the file is a BigTIFF (64-bit offsets).
    public enum BigTIFF: Sendable {
        /// BigTIFF when the uncompressed size of all images could exceed the classic 4 GiB limit.
        case automatic
        case always
        case never
    }

    public var sampleType: SampleType
    public var bandCount: Int
    /// Tile width and height in pixels: a multiple of 16 from 16 to 4096, usually 256 or 512.
    public var tileSize: Int
    public var compression: Compression
    public var predictor: Predictor
    /// Written as GDAL_NODATA; NaN inputs are stored as this value.
    public var noData: NoData?
    /// Georeferencing; its raw GeoTIFF tags are written unchanged.
    public var geo: GeoReference?
    /// A palette for single-band uint8 or uint16 class maps (photometric palette); missing entries are black.
    public var colorMap: [PaletteColor]?
    /// Cloud-Optimized GeoTIFF layout with internal overviews; otherwise one tiled image, no overviews.
    public var cloudOptimized: Bool
    public var overviewResampling: Resampling
    public var bigTIFF: BigTIFF
    /// How many tiles are compressed at once (Deflate without a predictor, as for class maps); the bytes
    /// written are the same for any number.
    public var threads: Int

    public init(sampleType: SampleType = .uint8, bandCount: Int = 1, tileSize: Int = 512,
                compression: Compression = .deflate, predictor: Predictor = .automatic, noData: NoData? = nil,
                geo: GeoReference? = nil, colorMap: [PaletteColor]? = nil, cloudOptimized: Bool = true,
                overviewResampling: Resampling = .nearest, bigTIFF: BigTIFF = .automatic, threads: Int = 1) {
        self.sampleType = sampleType
        self.bandCount = bandCount
        self.tileSize = tileSize
        self.compression = compression
        self.predictor = predictor
        self.noData = noData
        self.geo = geo
        self.colorMap = colorMap
        self.cloudOptimized = cloudOptimized
        self.overviewResampling = overviewResampling
        self.bigTIFF = bigTIFF
        self.threads = threads
    }

    /// The most memory one full-resolution row of tiles may take; the writer holds about twice that.
    static let maxTileRowBytes: Int64 = 4 << 30

    /// The Predictor tag value these options resolve to.
    var predictorCode: UInt16 {
        guard compression != .none else { return 1 }
        switch predictor {
        case .none: return 1
        case .horizontal: return 2
        case .floatingPoint: return 3
        case .automatic:
            if sampleType.isFloatingPoint { return 3 }
            return colorMap == nil ? 2 : 1
        }
    }

    /// Why these options cannot describe a `width` × `height` raster, or nil when they can.
    func problem(width: Int, height: Int) -> String? {
        if width < 1 || height < 1 || width > RasterReader.maxDimension || height > RasterReader.maxDimension {
            return "invalid size \(width)x\(height) (1 to \(RasterReader.maxDimension) pixels per side)"
        }
        if bandCount < 1 || bandCount > RasterReader.maxBands {
            return "invalid band count \(bandCount) (1 to \(RasterReader.maxBands))"
        }
        if tileSize < 16 || tileSize > 4096 || tileSize % 16 != 0 {
            return "invalid tile size \(tileSize) (a multiple of 16 from 16 to 4096)"
        }
        let tileRowBytes = Int64(tileSize) * Int64(width) * Int64(bandCount) * Int64(sampleType.byteSize)
        if tileRowBytes > RasterWriterOptions.maxTileRowBytes {
            return "one row of tiles would need \(tileRowBytes) bytes of memory (limit \(RasterWriterOptions.maxTileRowBytes))"
        }
        if let noData, let problem = noData.problem(for: sampleType) { return problem }
        if let colorMap {
            if bandCount != 1 { return "a color map needs a single band, not \(bandCount)" }
            guard sampleType == .uint8 || sampleType == .uint16 else {
                return "a color map needs uint8 or uint16 samples, not \(sampleType.rawValue)"
            }
            let capacity = 1 << sampleType.tiffFormat.bitsPerSample
            if colorMap.isEmpty || colorMap.count > capacity {
                return "a color map for \(sampleType.rawValue) holds 1 to \(capacity) entries, not \(colorMap.count)"
            }
        }
        switch predictorCode {
        case 2 where sampleType.isFloatingPoint:
            return "horizontal prediction needs integer samples, not \(sampleType.rawValue)"
        case 3 where !sampleType.isFloatingPoint:
            return "floating-point prediction needs float samples, not \(sampleType.rawValue)"
        default: break
        }
        return nil
    }
}

/// Writes a tiled GeoTIFF from rows handed over in order, holding only one tile-row per resolution level
/// in memory, so any size of raster can be written.
///
/// With `cloudOptimized` (the default) the result is a Cloud-Optimized GeoTIFF: the full-resolution image
/// and each overview are first written to temporary tiled files beside the destination, then assembled
/// with every image directory at the start, the smallest overview's tiles first and full resolution last.
/// The file appears under its name only when `finish()` succeeds; on any error, or when the writer is
/// dropped unfinished, every temporary file is removed.
///
/// A writer is used from one thread at a time.
public final class RasterWriter {
    /// The destination.
    public let path: String
    public let width: Int
    public let height: Int
    public let options: RasterWriterOptions
    /// Rows written so far; the next `write` starts at this row.
    public private(set) var rowsWritten = 0

    /// The finished file under a temporary name, renamed to `path` when complete.
    private let temporaryPath: String
    /// Per-level temporary files; empty when the full-resolution image is written to `temporaryPath` directly.
    private let scratchPaths: [String]
    private let levelSizes: [(width: Int, height: Int)]
    private let usesBigTIFF: Bool
    /// The levels' open files, full resolution first; empty once closed.
    private var files: [TIFFHandle] = []
    private var pyramid: SamplePyramid?
    private var state = State.writing

    private enum State { case writing, finished, failed }

    /// Distinguishes the temporary files of writers in one process.
    private static let sequence = Atomic<Int>(0)

    /// The classic-TIFF budget for pixel data, leaving headroom under 4 GiB for directories and offset arrays.
    static let classicTIFFDataLimit: Int64 = 4_000_000_000

    /// Creates the temporary files for a `width` × `height` raster at `path`; nothing appears at `path`
    /// until `finish()`. Throws a `RasterError` naming `path` when the options are unusable or the
    /// destination folder cannot be written.
    public init(path: String, width: Int, height: Int, options: RasterWriterOptions) throws {
        self.path = path
        self.width = width
        self.height = height
        self.options = options
        if let problem = options.problem(width: width, height: height) {
            throw RasterError(path: path, problem: problem)
        }
        guard TIFFIsCODECConfigured(options.compression.tiffCode) != 0 else {
            throw RasterError(path: path, problem: "\(options.compression.rawValue) compression is not available in this libtiff")
        }

        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RasterError(path: path, problem: "folder \(folder) does not exist")
        }
        let id = RasterWriter.sequence.add(1, ordering: .relaxed).newValue
        let base = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(id)").path
        temporaryPath = base

        let sizes = RasterWriter.levelSizes(width: width, height: height, options: options)
        levelSizes = sizes
        scratchPaths = options.cloudOptimized ? sizes.indices.map { "\(base).level\($0)" } : []
        usesBigTIFF = RasterWriter.usesBigTIFF(width: width, height: height, options: options)

        let targets: [(path: String, role: DirectoryRole)] = options.cloudOptimized
            ? scratchPaths.map { ($0, .scratch) }
            : [(temporaryPath, .fullResolution)]
        do {
            for (index, target) in targets.enumerated() {
                // Scratch files are private, so they are always BigTIFF: no size can outgrow them.
                let mode = target.role == .scratch || usesBigTIFF ? "w8" : "w"
                let handle = try TIFFHandle(path: target.path, mode: mode, reportPath: path)
                files.append(handle)
                try handle.configure(width: sizes[index].width, height: sizes[index].height,
                                     role: target.role, options: options)
            }
            pyramid = SamplePyramid(handles: files, sizes: sizes, options: options)
        } catch {
            abandon()
            throw error
        }
    }

    deinit {
        if state == .writing { abandon() }
    }

    /// Writes `height` full-width rows starting at row `y`, which must be `rowsWritten`; any number of rows
    /// per call. `values` is band after band: `values[band * width * height + row * width + column]`, with
    /// `row` counted from `y`.
    /// Values are rounded and clamped to integer sample types; NaN is stored as the nodata value
    /// (0 for integer samples without one).
    public func write(rows y: Int, height: Int, values: [Float]) throws {
        try values.withUnsafeBufferPointer { try write(rows: y, height: height, buffer: $0) }
    }

    /// Writes `height` rows of 8-bit values (class labels, for instance); see `write(rows:height:values:)`.
    public func write(rows y: Int, height: Int, values: [UInt8]) throws {
        try values.withUnsafeBufferPointer { try write(rows: y, height: height, buffer: $0) }
    }

    /// Writes `height` rows of 16-bit values; see `write(rows:height:values:)`.
    public func write(rows y: Int, height: Int, values: [UInt16]) throws {
        try values.withUnsafeBufferPointer { try write(rows: y, height: height, buffer: $0) }
    }

    /// Completes the file and moves it to `path`, replacing any file there. Throws a `RasterError` naming
    /// `path` when rows are missing or the file cannot be completed; the temporary files are removed either way.
    public func finish() throws {
        try checkWriting()
        do {
            guard rowsWritten == height else {
                throw RasterError(path: path, problem: "only \(rowsWritten) of \(height) rows were written")
            }
            pyramid = nil
            for file in files { try file.close() }
            files = []
            if options.cloudOptimized {
                try assembleCloudOptimized(levelPaths: scratchPaths, levelSizes: levelSizes,
                                           temporaryPath: temporaryPath, bigTIFF: usesBigTIFF)
            }
            try moveIntoPlace()
            state = .finished
        } catch {
            abandon()
            throw error
        }
    }

    /// Gives up the file: closes it and removes the temporary files; nothing appears at `path`.
    /// Does nothing once `finish()` has succeeded.
    public func discard() {
        if state == .writing { abandon() }
    }

    // MARK: Internals

    private func write<I: StoredSample>(rows y: Int, height rows: Int, buffer: UnsafeBufferPointer<I>) throws {
        try checkWriting()
        do {
            guard y == rowsWritten else {
                throw RasterError(path: path, problem: "rows must be written in order: expected row \(rowsWritten), got \(y)")
            }
            guard rows >= 1 else {
                throw RasterError(path: path, problem: "a write needs at least one row, got \(rows)")
            }
            guard rows <= height - y else {
                throw RasterError(path: path, problem: "rows \(y)..<\(y + rows) are outside the raster's \(height) rows")
            }
            let expected = rows * width * options.bandCount
            guard buffer.count == expected else {
                throw RasterError(path: path, problem: "\(rows) rows of \(width)x\(options.bandCount) need \(expected) values, got \(buffer.count)")
            }
            try pyramid!.append(rows: rows, values: buffer)
            rowsWritten += rows
        } catch {
            abandon()
            throw error
        }
    }

    private func checkWriting() throws {
        switch state {
        case .writing: return
        case .finished: throw RasterError(path: path, problem: "the writer has already finished")
        case .failed: throw RasterError(path: path, problem: "the writer has already failed")
        }
    }

    /// Closes every handle and removes every temporary file, leaving nothing behind.
    private func abandon() {
        state = .failed
        pyramid = nil
        for file in files { file.discard() }
        files = []
        removeTemporaryFiles()
    }

    private func removeTemporaryFiles() {
        for file in scratchPaths + [temporaryPath] { unlink(file) }
    }

    /// Makes the finished file durable, then gives it its name in one step, so readers never see a partial file.
    private func moveIntoPlace() throws {
        try RasterWriter.sync(temporaryPath, reportPath: path)
        guard rename(temporaryPath, path) == 0 else {
            throw RasterError(path: path, problem: "cannot rename the finished file into place: \(String(cString: strerror(errno)))")
        }
        // The rename is durable only once the folder itself is synced; a failure here loses nothing already written.
        _ = try? RasterWriter.sync(URL(fileURLWithPath: path).deletingLastPathComponent().path, reportPath: path)
    }

    private static func sync(_ file: String, reportPath: String) throws {
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else {
            throw RasterError(path: reportPath, problem: "cannot open \(file) to sync it: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw RasterError(path: reportPath, problem: "cannot sync \(file): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether a `width` × `height` raster written with `options` becomes a BigTIFF: with `.automatic`, when the
    /// tiles of the image and its overviews, uncompressed, could outgrow a classic TIFF.
    public static func usesBigTIFF(width: Int, height: Int, options: RasterWriterOptions) -> Bool {
        switch options.bigTIFF {
        case .always: return true
        case .never: return false
        case .automatic:
            let tile = Int64(options.tileSize)
            let bytesPerPixel = Int64(options.bandCount * options.sampleType.byteSize)
            let total = levelSizes(width: width, height: height, options: options).reduce(Int64(0)) { sum, level in
                let across = (Int64(level.width) + tile - 1) / tile
                let down = (Int64(level.height) + tile - 1) / tile
                return sum + across * down * tile * tile * bytesPerPixel
            }
            return total > classicTIFFDataLimit
        }
    }

    /// Full resolution, then (Cloud-Optimized only) halvings, rounded up, until one tile holds the smallest.
    static func levelSizes(width: Int, height: Int, options: RasterWriterOptions) -> [(width: Int, height: Int)] {
        var sizes = [(width: width, height: height)]
        guard options.cloudOptimized, options.tileSize > 0 else { return sizes }
        while sizes.last!.width > options.tileSize || sizes.last!.height > options.tileSize {
            let last = sizes.last!
            sizes.append(((last.width + 1) / 2, (last.height + 1) / 2))
        }
        return sizes
    }
}
