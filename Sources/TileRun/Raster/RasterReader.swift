import CLibTIFF
import CTIFFBridge
import Foundation

/// Reads windows of a (Geo)TIFF through libtiff, decoding only the blocks a window touches.
///
/// Memory is bounded by the window requested plus a cache of decoded blocks (`maxCachedBlockBytes`, or one
/// block if larger), whatever the file's size. One reader may be shared between threads: reads are
/// serialized, as a libtiff handle requires; open one reader per thread to decode in parallel.
public final class RasterReader: @unchecked Sendable {
    /// What the file holds, known without decoding pixels.
    public let info: RasterInfo

    /// The largest single buffer libtiff or the reader may allocate for one block or tag.
    public static let maxBlockBytes: Int64 = 512 << 20
    /// Limits that reject absurd headers before anything is allocated.
    public static let maxDimension = 10_000_000
    public static let maxBands = 4096
    static let maxDirectories = 2048

    private let tif: OpaquePointer
    private let diagnostics: UnsafeMutablePointer<tr_diagnostics>
    private let lock = NSLock()
    private let decodeMode: DecodeMode
    private let samplesPerBlockPixel: Int
    private let storedEncoding: StoredEncoding
    /// libtiff's output for blocks that are converted after decoding (packed bits, float16).
    private var blockBuffer: UnsafeMutableRawPointer?
    private var blockBufferBytes = 0
    private var rgbaBuffer: UnsafeMutablePointer<UInt32>?
    private var rgbaCapacity = 0
    /// Decoded blocks (by index into the strip/tile arrays), so that windows read one after another decode
    /// the blocks they share once. Tiles of a grid read row by row, as the pipeline reads them, share blocks
    /// with the next tile along the row and with the tile row below; `readBlocks` sizes the cache for that.
    private let blockCache = BlockCache(maxBlocks: 1, maxBytes: RasterReader.maxCachedBlockBytes)
    /// Blocks decoded so far (cache misses), for tests.
    private(set) var decodedBlockCount = 0
    /// The most bytes of decoded blocks a reader keeps (the block in use stays, however large). For 512-pixel
    /// tiles of a 16384-pixel-wide 3-band 8-bit scene, the cache needs 13.5 MiB when the file has 256² tiles
    /// and 24 MiB when it has one-row strips.
    static let maxCachedBlockBytes = 32 << 20

    typealias DecodeModeTag = DecodeMode

    /// How decoded samples differ from the type the reader serves.
    enum StoredEncoding {
        /// As served: 8, 16, 32 or 64-bit samples.
        case native
        /// Unsigned integers of this many bits (1–32, not 8/16/32), bit-packed.
        case packedBits(Int)
        /// IEEE half precision, served as float32.
        case float16
    }

    enum DecodeMode {
        /// libtiff's encoded-block reads; samples as stored.
        case direct
        /// libtiff's RGBA interface, for encodings only it converts (old-style JPEG, raw YCbCr, CIE Lab, LogLuv).
        case rgba
    }

    /// Opens `path` (its image directory `directory`, 0 for the main image); throws a `RasterError`
    /// naming the file and the problem when it cannot be read.
    public init(path: String, directory: Int = 0) throws {
        let diag = UnsafeMutablePointer<tr_diagnostics>.allocate(capacity: 1)
        diag.initialize(to: tr_diagnostics())
        func fail(_ problem: String) -> RasterError { RasterError(path: path, problem: problem) }

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            diag.deallocate()
            throw fail("no such file")
        }
        guard !isDirectory.boolValue else {
            diag.deallocate()
            throw fail("is a directory, not a TIFF file")
        }
        guard let handle = tr_open(path, "rm", diag, RasterReader.maxBlockBytes) else {
            let message = RasterReader.message(diag, path: path) ?? "not a readable TIFF file"
            diag.deallocate()
            throw fail(message)
        }
        do {
            let scanned = try RasterReader.scanDirectories(handle, path: path, diag: diag, fail: fail)
            if directory != 0 {
                guard directory > 0, TIFFSetDirectory(handle, UInt32(directory)) != 0 else {
                    throw fail("has no image directory \(directory)")
                }
            }
            let built = try RasterReader.describe(handle, path: path, diag: diag, scanned: scanned, fail: fail)
            info = built.info
            decodeMode = built.mode
            samplesPerBlockPixel = built.samplesPerBlockPixel
            storedEncoding = built.storedEncoding
        } catch {
            TIFFClose(handle)
            diag.deallocate()
            throw error
        }
        tif = handle
        diagnostics = diag
    }

    deinit {
        TIFFClose(tif)
        diagnostics.deallocate()
        blockBuffer?.deallocate()
        rgbaBuffer?.deallocate()
    }

    /// A reader for the file's internal mask (0 where the image holds no data), when it has one.
    public func openInternalMask() throws -> RasterReader? {
        guard let directory = info.internalMaskDirectory else { return nil }
        let mask = try RasterReader(path: info.path, directory: directory)
        guard mask.info.width == info.width, mask.info.height == info.height, mask.info.bandCount == 1 else {
            throw RasterError(path: info.path, problem: "the internal mask is \(mask.info.width)x\(mask.info.height)x\(mask.info.bandCount), not one band the image's size")
        }
        return mask
    }

    // MARK: Reading windows

    /// Reads `window` of the chosen `bands` (zero-based; all when nil) as float32, band after band
    /// (`result[band * width * height + row * width + column]`). Sparse blocks read as nodata (0 without one).
    public func readFloat(_ window: RasterWindow, bands: [Int]? = nil) throws -> [Float] {
        try read(window, bands: bands, fill: Float(info.noData?.value ?? 0)) { (x: Float) in x }
    }

    /// Reads `window` as float64; the exact path for statistics and checksums of any sample type.
    public func readDouble(_ window: RasterWindow, bands: [Int]? = nil) throws -> [Double] {
        try read(window, bands: bands, fill: info.noData?.value ?? 0) { (x: Double) in x }
    }

    /// Reads `window` in the file's own sample type, band after band, as raw native-endian bytes.
    public func readNative(_ window: RasterWindow, bands: [Int]? = nil) throws -> RasterData {
        let bandList = try resolve(bands)
        let count = try checkedCount(window, bands: bandList.count, elementSize: info.sampleType.byteSize)
        // readBlocks writes every sample of the window (data or fill) or throws, so zero-filling first
        // would only be a second pass over the whole output.
        let bytes = try [UInt8](unsafeUninitializedCapacity: count * info.sampleType.byteSize) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            switch info.sampleType.byteSize {
            case 1: try readNativeCarrier(UInt8.self, window, bandList, raw)
            case 2: try readNativeCarrier(UInt16.self, window, bandList, raw)
            case 4: try readNativeCarrier(UInt32.self, window, bandList, raw)
            default: try readNativeCarrier(UInt64.self, window, bandList, raw)
            }
            initialized = buffer.count
        }
        return RasterData(sampleType: info.sampleType, window: window, bandCount: bandList.count, bytes: bytes)
    }

    /// True when every block under `window` is sparse (stored with no bytes), so it holds no data.
    public func isSparse(_ window: RasterWindow) -> Bool {
        lock.lock(); defer { lock.unlock() }
        var sparse = true
        forEachBlock(in: window) { index, _ in
            if TIFFGetStrileByteCount(tif, UInt32(index)) != 0 { sparse = false }
        }
        return sparse
    }

    /// Windows that follow the file's blocks, at most `maxPixels` each, covering the raster row by row.
    /// Reading in this order decodes every block once.
    public func blockAlignedWindows(maxPixels: Int = 1 << 22) -> [RasterWindow] {
        let bw = info.blockWidth, bh = info.blockHeight
        var windows: [RasterWindow] = []
        var y = 0
        while y < info.height {
            let h = min(bh, info.height - y)
            var x = 0
            while x < info.width {
                let w = min(bw, info.width - x)
                let rowsPerPart = max(1, min(h, maxPixels / max(w, 1)))
                var r = 0
                while r < h {
                    let part = min(rowsPerPart, h - r)
                    windows.append(RasterWindow(x: x, y: y + r, width: w, height: part))
                    r += part
                }
                x += w
            }
            y += h
        }
        return windows
    }

    // MARK: Internals

    private func resolve(_ bands: [Int]?) throws -> [Int] {
        guard let bands else { return Array(0..<info.bandCount) }
        for b in bands where b < 0 || b >= info.bandCount {
            throw RasterError(path: info.path, problem: "band \(b + 1) requested, but the file has \(info.bandCount)")
        }
        return bands
    }

    private func checkedCount(_ window: RasterWindow, bands: Int, elementSize: Int) throws -> Int {
        guard window.width > 0, window.height > 0, window.x >= 0, window.y >= 0,
              window.maxX <= info.width, window.maxY <= info.height else {
            throw RasterError(path: info.path,
                              problem: "window \(window) is outside the \(info.width)x\(info.height) raster")
        }
        let (a, o1) = window.width.multipliedReportingOverflow(by: window.height)
        let (b, o2) = a.multipliedReportingOverflow(by: max(bands, 1))
        let (_, o3) = b.multipliedReportingOverflow(by: elementSize)
        guard !o1, !o2, !o3 else { throw RasterError(path: info.path, problem: "window \(window) is too large") }
        return b
    }

    private func readNativeCarrier<C>(_: C.Type, _ window: RasterWindow, _ bands: [Int],
                                      _ raw: UnsafeMutableRawBufferPointer) throws {
        let out = raw.baseAddress!.assumingMemoryBound(to: C.self)
        let fill: C = nativeFill(C.self)
        try readBlocks(window, bands: bands, out: out, fill: fill, source: C.self) { (x: C) in x }
    }

    /// The nodata value in the file's own representation (0 when absent or not representable).
    private func nativeFill<C>(_: C.Type) -> C {
        guard let nd = info.noData, nd.problem(for: info.sampleType) == nil else {
            return withUnsafeBytes(of: UInt64(0)) { $0.load(as: C.self) }
        }
        let bits: UInt64
        switch info.sampleType {
        case .uint8: bits = UInt64(UInt8(nd.value))
        case .int8: bits = UInt64(UInt8(bitPattern: Int8(nd.value)))
        case .uint16: bits = UInt64(UInt16(nd.value))
        case .int16: bits = UInt64(UInt16(bitPattern: Int16(nd.value)))
        case .uint32: bits = UInt64(UInt32(nd.value))
        case .int32: bits = UInt64(UInt32(bitPattern: Int32(nd.value)))
        case .float32: bits = UInt64(Float(nd.value).bitPattern)
        case .float64: bits = nd.value.bitPattern
        }
        return withUnsafeBytes(of: bits) { $0.load(as: C.self) }
    }

    private func read<D: BinaryFloatingPoint>(_ window: RasterWindow, bands: [Int]?, fill: D,
                                              identity: (D) -> D) throws -> [D] {
        let bandList = try resolve(bands)
        let count = try checkedCount(window, bands: bandList.count, elementSize: MemoryLayout<D>.size)
        var result = [D](repeating: 0, count: count)
        try result.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            switch info.sampleType {
            case .uint8: try readBlocks(window, bands: bandList, out: out, fill: fill, source: UInt8.self) { D($0) }
            case .int8: try readBlocks(window, bands: bandList, out: out, fill: fill, source: Int8.self) { D($0) }
            case .uint16: try readBlocks(window, bands: bandList, out: out, fill: fill, source: UInt16.self) { D($0) }
            case .int16: try readBlocks(window, bands: bandList, out: out, fill: fill, source: Int16.self) { D($0) }
            case .uint32: try readBlocks(window, bands: bandList, out: out, fill: fill, source: UInt32.self) { D($0) }
            case .int32: try readBlocks(window, bands: bandList, out: out, fill: fill, source: Int32.self) { D($0) }
            case .float32: try readBlocks(window, bands: bandList, out: out, fill: fill, source: Float.self) { D($0) }
            case .float64: try readBlocks(window, bands: bandList, out: out, fill: fill, source: Double.self) { D($0) }
            }
        }
        return result
    }

    /// Calls `body` with (block index, block rectangle) for every block of plane 0 under `window`.
    private func forEachBlock(in window: RasterWindow, plane: Int = 0, _ body: (Int, RasterWindow) -> Void) {
        let bw = info.blockWidth, bh = info.blockHeight
        let tilesAcross = (info.width + bw - 1) / bw
        let blocksDown = (info.height + bh - 1) / bh
        let perPlane = info.layout.isTiled ? tilesAcross * blocksDown : blocksDown
        for by in (window.y / bh)...((window.maxY - 1) / bh) {
            if info.layout.isTiled {
                for bx in (window.x / bw)...((window.maxX - 1) / bw) {
                    let rect = RasterWindow(x: bx * bw, y: by * bh, width: bw, height: bh)
                    body(plane * perPlane + by * tilesAcross + bx, rect)
                }
            } else {
                let rect = RasterWindow(x: 0, y: by * bh, width: info.width, height: min(bh, info.height - by * bh))
                body(plane * perPlane + by, rect)
            }
        }
    }

    /// The engine of every read: walks the blocks under `window`, decodes each once, and copies the
    /// requested bands out with `convert`. Output is band-sequential.
    private func readBlocks<S, D>(_ window: RasterWindow, bands: [Int], out: UnsafeMutablePointer<D>, fill: D,
                                  source: S.Type, convert: (S) -> D) throws {
        lock.lock(); defer { lock.unlock() }
        let planeSize = window.width * window.height
        let separate = info.planar == .separate && decodeMode == .direct
        let planes: [Int] = separate ? Array(Set(bands)).sorted() : [0]
        growBlockCache(for: window, planes: planes.count)
        var failure: RasterError?
        for plane in planes {
            forEachBlock(in: window, plane: plane) { index, rect in
                guard failure == nil, let overlap = rect.intersection(window) else { return }
                let outputBands = bands.enumerated().filter { !separate || $0.element == plane }
                if decodeMode == .direct && TIFFGetStrileByteCount(tif, UInt32(index)) == 0 {
                    for (j, _) in outputBands {
                        for r in overlap.y..<overlap.maxY {
                            let dst = out + j * planeSize + (r - window.y) * window.width + (overlap.x - window.x)
                            dst.update(repeating: fill, count: overlap.width)
                        }
                    }
                    return
                }
                let block: UnsafeRawPointer
                do { block = try decode(index: index, rect: rect) } catch {
                    // A skipped block would leave its samples unwritten, so any error fails the read.
                    failure = error as? RasterError ?? problem("cannot decode block \(index): \(error)")
                    return
                }
                let pixelStride = separate ? 1 : samplesPerBlockPixel
                let rowStride = rect.width * pixelStride
                let src = block.assumingMemoryBound(to: S.self)
                for (j, band) in outputBands {
                    let bandOffset = separate ? 0 : band
                    let s = src + (overlap.y - rect.y) * rowStride + (overlap.x - rect.x) * pixelStride + bandOffset
                    let dst = out + j * planeSize + (overlap.y - window.y) * window.width + (overlap.x - window.x)
                    // A constant pixel stride lets the compiler vectorize the gather of one band out of
                    // interleaved pixels; a stride known only at run time leaves a byte-at-a-time loop.
                    switch pixelStride {
                    case 1: copyRows(s, rowStride, dst, window.width, overlap, pixelStride: 1, convert)
                    case 2: copyRows(s, rowStride, dst, window.width, overlap, pixelStride: 2, convert)
                    case 3: copyRows(s, rowStride, dst, window.width, overlap, pixelStride: 3, convert)
                    case 4: copyRows(s, rowStride, dst, window.width, overlap, pixelStride: 4, convert)
                    default: copyRows(s, rowStride, dst, window.width, overlap, pixelStride: pixelStride, convert)
                    }
                }
                // The next window of a grid read row by row shares the blocks of this window's last block
                // column and last block row; it is unlikely to need the others (unless windows overlap by
                // more than a block), so they go first.
                if rect.maxX < window.maxX && rect.maxY < window.maxY { blockCache.demote(index) }
            }
            if let failure { throw failure }
        }
    }

    /// Lets the block cache hold the blocks of one block row across the image and of two block columns as
    /// tall as `window`, and two more (per plane read, for separate planes), within
    /// `maxCachedBlockBytes`. For tiles read row by row that is what the next tile along the row and the
    /// tile row below share with tiles already read (the blocks `readBlocks` demotes go first); for strips,
    /// the strips of one tile row, twice.
    private func growBlockCache(for window: RasterWindow, planes: Int) {
        let bh = info.blockHeight
        let blocksAcross = info.layout.isTiled ? (info.width + info.blockWidth - 1) / info.blockWidth : 1
        let blockRows = (window.maxY - 1) / bh - window.y / bh + 1
        blockCache.maxBlocks = max(blockCache.maxBlocks, planes * (blocksAcross + 2 * blockRows + 2))
    }

    /// Copies `area.height` rows of `area.width` samples, one every `pixelStride` in the source, converting each.
    @inline(__always)
    private func copyRows<S, D>(_ src: UnsafePointer<S>, _ srcRowStride: Int, _ dst: UnsafeMutablePointer<D>,
                                _ dstRowStride: Int, _ area: RasterWindow, pixelStride: Int, _ convert: (S) -> D) {
        for r in 0..<area.height {
            let s = src + r * srcRowStride
            let d = dst + r * dstRowStride
            for i in 0..<area.width { d[i] = convert(s[i &* pixelStride]) }
        }
    }

    /// Block `index` (rectangle `rect`) decoded, top row first, one byte or more per sample: from the cache,
    /// or decoded now and cached. A block that fails to decode is not cached. The bytes stay valid until
    /// the next call.
    private func decode(index: Int, rect: RasterWindow) throws -> UnsafeRawPointer {
        if let block = blockCache.lookup(index) { return block }
        diagnostics.pointee.error_count = 0
        let rows = min(rect.height, info.height - rect.y)
        let (block, bytes): (UnsafeMutableRawPointer, Int)
        switch decodeMode {
        case .direct:
            let size = info.layout.isTiled ? TIFFTileSize64(tif) : TIFFStripSize64(tif)
            guard size > 0, size <= UInt64(RasterReader.maxBlockBytes) else {
                throw problem("block \(index) would need \(size) bytes to decode")
            }
            let samples = rect.width * samplesPerBlockPixel * rows
            switch storedEncoding {
            case .native: bytes = Int(size)
            case .packedBits: bytes = max(samples, 1) * info.sampleType.byteSize
            case .float16: bytes = max(samples, 1) * MemoryLayout<Float>.size
            }
            block = blockCache.allocate(bytes: bytes)
            // Samples as served are decoded straight into the cached block; the others are converted there.
            let decoded: UnsafeMutableRawPointer
            if case .native = storedEncoding { decoded = block } else { decoded = ensureBlockBuffer(Int(size)) }
            let got = info.layout.isTiled
                ? TIFFReadEncodedTile(tif, UInt32(index), decoded, tmsize_t(size))
                : TIFFReadEncodedStrip(tif, UInt32(index), decoded, tmsize_t(size))
            // libtiff reports some corrupt data (bad fax code words, short LZW streams) as errors yet still
            // returns a block; a block decoded with errors is not data to trust.
            if got < 0 || diagnostics.pointee.error_count > 0 {
                blockCache.recycle(block, bytes: bytes)
                throw problem("cannot decode \(info.layout.isTiled ? "tile" : "strip") \(index) (corrupt or truncated data)")
            }
            switch storedEncoding {
            case .native: break
            case .packedBits(let bits): unpack(decoded, bits: bits, width: rect.width, rows: rows, into: block)
            case .float16: widenFloat16(decoded, count: samples, into: block)
            }
        case .rgba:
            let pixels = rect.width * rect.height
            guard Int64(pixels) * 4 * 2 <= RasterReader.maxBlockBytes else {
                throw problem("block \(index) is too large to convert to RGBA")
            }
            if rgbaBuffer == nil || rgbaCapacity < pixels {
                rgbaBuffer?.deallocate()
                rgbaBuffer = .allocate(capacity: pixels)
                rgbaCapacity = pixels
            }
            let rgba = rgbaBuffer!
            let ok = info.layout.isTiled
                ? TIFFReadRGBATile(tif, UInt32(rect.x), UInt32(rect.y), rgba)
                : TIFFReadRGBAStrip(tif, UInt32(rect.y), rgba)
            if ok == 0 { throw problem("cannot decode block \(index) through the RGBA interface") }
            // The RGBA interface returns rows bottom-up: block row i sits at raster row (n - 1 - i), where n
            // is the tile height for tiles and the rows actually read for strips.
            let n = info.layout.isTiled ? rect.height : rows
            let bands = info.bandCount
            bytes = pixels * bands
            block = blockCache.allocate(bytes: bytes)
            let buffer = block.assumingMemoryBound(to: UInt8.self)
            for i in 0..<rows {
                let srcRow = rgba + (n - 1 - i) * rect.width
                let dstRow = buffer + i * rect.width * bands
                for x in 0..<rect.width {
                    let v = srcRow[x]
                    for b in 0..<bands { dstRow[x * bands + b] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(b))) }
                }
            }
        }
        decodedBlockCount += 1
        blockCache.insert(index, memory: block, bytes: bytes)
        return UnsafeRawPointer(block)
    }

    private func ensureBlockBuffer(_ bytes: Int) -> UnsafeMutableRawPointer {
        if let blockBuffer, blockBufferBytes >= bytes { return blockBuffer }
        blockBuffer?.deallocate()
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        blockBuffer = buffer
        blockBufferBytes = bytes
        return buffer
    }

    /// Expands samples of any width from 1 to 32 bits, packed most significant bit first with rows padded
    /// to whole bytes, to one `info.sampleType` element each in `output`.
    private func unpack(_ packed: UnsafeMutableRawPointer, bits: Int, width: Int, rows: Int,
                        into output: UnsafeMutableRawPointer) {
        let samplesPerRow = width * samplesPerBlockPixel
        let packedRowBytes = (samplesPerRow * bits + 7) / 8
        let src = packed.assumingMemoryBound(to: UInt8.self)
        let mask = UInt64((1 << bits) - 1)
        func expand<T: FixedWidthInteger>(_: T.Type) {
            let out = output.assumingMemoryBound(to: T.self)
            for r in 0..<rows {
                let row = src + r * packedRowBytes
                for i in 0..<samplesPerRow {
                    let bit = i * bits
                    // Gather the (at most 5) bytes that hold this sample, then shift it out.
                    let first = bit >> 3
                    let last = (bit + bits - 1) >> 3
                    var window: UInt64 = 0
                    for b in first...last { window = window << 8 | UInt64(row[b]) }
                    let shift = UInt64((last + 1) * 8 - bit - bits)
                    out[r * samplesPerRow + i] = T(truncatingIfNeeded: (window >> shift) & mask)
                }
            }
        }
        switch info.sampleType.byteSize {
        case 1: expand(UInt8.self)
        case 2: expand(UInt16.self)
        default: expand(UInt32.self)
        }
    }

    /// Converts `count` IEEE half-precision samples (which libtiff passes through undecoded) to float32 in
    /// `output`.
    private func widenFloat16(_ buffer: UnsafeMutableRawPointer, count: Int, into output: UnsafeMutableRawPointer) {
        let src = buffer.assumingMemoryBound(to: UInt16.self)
        let out = output.assumingMemoryBound(to: Float.self)
        for i in 0..<count { out[i] = Float(Float16(bitPattern: src[i])) }
    }

    private func problem(_ what: String) -> RasterError {
        let detail = RasterReader.message(diagnostics, path: info.path).map { ": \($0)" } ?? ""
        return RasterError(path: info.path, problem: what + detail)
    }

    /// libtiff's first error for this handle, without the file name it sometimes puts in front.
    static func message(_ diag: UnsafeMutablePointer<tr_diagnostics>, path: String) -> String? {
        guard diag.pointee.error_count > 0 else { return nil }
        var text = withUnsafeBytes(of: &diag.pointee.first_error) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if text.hasPrefix(path + ": ") { text.removeFirst(path.count + 2) }
        return text
    }
}

/// Pixels read in a file's own sample type, band after band, native-endian.
public struct RasterData: Sendable {
    public let sampleType: SampleType
    public let window: RasterWindow
    public let bandCount: Int
    public let bytes: [UInt8]

    /// One sample as a Double, for tests and reports (not for hot loops).
    public func value(band: Int, x: Int, y: Int) -> Double {
        let i = (band * window.height + y) * window.width + x
        return bytes.withUnsafeBytes { raw -> Double in
            switch sampleType {
            case .uint8: return Double(raw.load(fromByteOffset: i, as: UInt8.self))
            case .int8: return Double(raw.load(fromByteOffset: i, as: Int8.self))
            case .uint16: return Double(raw.load(fromByteOffset: i * 2, as: UInt16.self))
            case .int16: return Double(raw.load(fromByteOffset: i * 2, as: Int16.self))
            case .uint32: return Double(raw.load(fromByteOffset: i * 4, as: UInt32.self))
            case .int32: return Double(raw.load(fromByteOffset: i * 4, as: Int32.self))
            case .float32: return Double(raw.load(fromByteOffset: i * 4, as: Float.self))
            case .float64: return raw.load(fromByteOffset: i * 8, as: Double.self)
            }
        }
    }
}
