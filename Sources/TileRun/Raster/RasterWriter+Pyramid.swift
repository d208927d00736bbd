import CLibTIFF
import Foundation

/// The Swift types behind the sample types, with the conversions the writer needs.
protocol StoredSample {
    /// `value` in this type: rounded and clamped for integers (NaN becomes 0), converted for floats.
    init(rounding value: Double)
    var asDouble: Double { get }
    /// Float or Double: NaN is stored as the missing value, so samples are never copied as they are.
    static var isFloatingPoint: Bool { get }
}

extension StoredSample where Self: FixedWidthInteger {
    init(rounding value: Double) {
        if value.isNaN {
            self = 0
        } else if value <= Double(Self.min) {
            self = .min
        } else if value >= Double(Self.max) {
            self = .max
        } else {
            // Through Int64 (every stored integer type fits it): the generic Double-to-integer
            // conversion is many times slower than this one.
            self = Self(truncatingIfNeeded: Int64(value.rounded()))
        }
    }

    var asDouble: Double { Double(Int64(truncatingIfNeeded: self)) }
    static var isFloatingPoint: Bool { false }
}

extension UInt8: StoredSample {}
extension Int8: StoredSample {}
extension UInt16: StoredSample {}
extension Int16: StoredSample {}
extension UInt32: StoredSample {}
extension Int32: StoredSample {}

extension Float: StoredSample {
    init(rounding value: Double) { self = Float(value) }
    var asDouble: Double { Double(self) }
    static var isFloatingPoint: Bool { true }
}

extension Double: StoredSample {
    init(rounding value: Double) { self = value }
    var asDouble: Double { self }
    static var isFloatingPoint: Bool { true }
}

/// The pyramid for the options' sample type. An enum rather than a protocol existential, so that each
/// case's per-pixel loops are compiled for its concrete sample type.
enum SamplePyramid {
    case uint8(Pyramid<UInt8>)
    case int8(Pyramid<Int8>)
    case uint16(Pyramid<UInt16>)
    case int16(Pyramid<Int16>)
    case uint32(Pyramid<UInt32>)
    case int32(Pyramid<Int32>)
    case float32(Pyramid<Float>)
    case float64(Pyramid<Double>)

    /// `handles` are the levels' files, full resolution first, already configured.
    init(handles: [TIFFHandle], sizes: [(width: Int, height: Int)], options: RasterWriterOptions) {
        switch options.sampleType {
        case .uint8: self = .uint8(Pyramid(handles: handles, sizes: sizes, options: options))
        case .int8: self = .int8(Pyramid(handles: handles, sizes: sizes, options: options))
        case .uint16: self = .uint16(Pyramid(handles: handles, sizes: sizes, options: options))
        case .int16: self = .int16(Pyramid(handles: handles, sizes: sizes, options: options))
        case .uint32: self = .uint32(Pyramid(handles: handles, sizes: sizes, options: options))
        case .int32: self = .int32(Pyramid(handles: handles, sizes: sizes, options: options))
        case .float32: self = .float32(Pyramid(handles: handles, sizes: sizes, options: options))
        case .float64: self = .float64(Pyramid(handles: handles, sizes: sizes, options: options))
        }
    }

    /// Takes `rows` full-width rows, band after band, and writes every tile-row they complete at every level.
    func append<I: StoredSample>(rows: Int, values: UnsafeBufferPointer<I>) throws {
        switch self {
        case .uint8(let p): try p.append(rows: rows, values: values)
        case .int8(let p): try p.append(rows: rows, values: values)
        case .uint16(let p): try p.append(rows: rows, values: values)
        case .int16(let p): try p.append(rows: rows, values: values)
        case .uint32(let p): try p.append(rows: rows, values: values)
        case .int32(let p): try p.append(rows: rows, values: values)
        case .float32(let p): try p.append(rows: rows, values: values)
        case .float64(let p): try p.append(rows: rows, values: values)
        }
    }
}

/// Streams rows through every resolution level. Each level buffers one tile-row (pixel-interleaved);
/// when it fills, its tiles are encoded and it is halved into rows of the next level, so memory stays
/// at about two full-resolution tile-rows whatever the raster's height.
final class Pyramid<S: StoredSample> {
    private final class Level {
        let file: TIFFHandle
        let width: Int
        let height: Int
        /// `tileSize` rows of `width` pixels, bands interleaved.
        var strip: [S]
        var rowsInStrip = 0
        var rowsReceived = 0
        var tileRow = 0

        init(file: TIFFHandle, width: Int, height: Int, tileSize: Int, bands: Int) {
            self.file = file
            self.width = width
            self.height = height
            strip = [S](repeating: S(rounding: 0), count: tileSize * width * bands)
        }
    }

    private let levels: [Level]
    private let bands: Int
    private let tileSize: Int
    private let resampling: RasterWriterOptions.Resampling
    private let noData: NoData?
    /// Stored for NaN inputs and for overview pixels with nothing valid under them.
    private let missingValue: S
    /// Fills the parts of edge tiles beyond the image, as GDAL does.
    private let padValue: S
    private var tile: [S]
    /// Compresses each tile-row's tiles on `options.threads` threads into the bytes libtiff would have
    /// made of them one by one (Deflate without a predictor); nil: libtiff encodes them.
    private let compressor: TileCompressor?

    init(handles: [TIFFHandle], sizes: [(width: Int, height: Int)], options: RasterWriterOptions) {
        bands = options.bandCount
        tileSize = options.tileSize
        resampling = options.overviewResampling
        noData = options.noData
        missingValue = S(rounding: options.noData?.value ?? .nan)
        padValue = S(rounding: options.noData?.value ?? 0)
        tile = [S](repeating: padValue, count: tileSize * tileSize * bands)
        compressor = options.compression == .deflate && options.predictorCode == 1 && options.threads > 1
            ? TileCompressor(tileBytes: tile.count * MemoryLayout<S>.stride, threads: options.threads) : nil
        levels = zip(handles, sizes).map { handle, size in
            Level(file: handle, width: size.width, height: size.height, tileSize: options.tileSize,
                  bands: options.bandCount)
        }
    }

    func append<I: StoredSample>(rows: Int, values: UnsafeBufferPointer<I>) throws {
        let width = levels[0].width
        let plane = rows * width
        let source = values.baseAddress!
        // One band of integers of the stored type (class maps): stored as they are.
        let asTheyAre = bands == 1 && I.self == S.self && !S.isFloatingPoint
        for r in 0..<rows {
            try receiveRow(0) { row in
                if asTheyAre {
                    row.update(from: UnsafeRawPointer(source + r * width).assumingMemoryBound(to: S.self), count: width)
                    return
                }
                for b in 0..<bands {
                    let input = source + b * plane + r * width
                    for c in 0..<width {
                        let v = input[c].asDouble
                        row[c * bands + b] = v.isNaN ? missingValue : S(rounding: v)
                    }
                }
            }
        }
    }

    /// Lets `fill` write the next row of level `k`, then encodes the tile-row once it is complete.
    private func receiveRow(_ k: Int, _ fill: (UnsafeMutablePointer<S>) -> Void) throws {
        let level = levels[k]
        let rowLength = level.width * bands
        level.strip.withUnsafeMutableBufferPointer { fill($0.baseAddress! + level.rowsInStrip * rowLength) }
        level.rowsInStrip += 1
        level.rowsReceived += 1
        if level.rowsInStrip == tileSize || level.rowsReceived == level.height {
            try encodeTiles(level)
            if k + 1 < levels.count { try downsample(level, into: k + 1) }
            level.rowsInStrip = 0
            level.tileRow += 1
        }
    }

    private func encodeTiles(_ level: Level) throws {
        let across = (level.width + tileSize - 1) / tileSize
        let tileBytes = tile.count * MemoryLayout<S>.stride
        let firstIndex = level.tileRow * across
        try level.strip.withUnsafeBufferPointer { stripBuffer in
            let strip = stripBuffer.baseAddress!
            if let compressor {
                let compressed = try compressor.compress(count: across, fill: { tx, buffer in
                    fillTile(tx, of: level, strip: strip, into: buffer.bindMemory(to: S.self, capacity: tileSize * tileSize * bands))
                }, store: { tx, bytes in
                    let index = UInt32(firstIndex + tx)
                    guard TIFFWriteRawTile(level.file.tif, index, UnsafeMutableRawPointer(mutating: bytes.baseAddress!),
                                           tmsize_t(bytes.count)) == bytes.count else {
                        throw level.file.failure("cannot write tile \(index) of the \(level.width)x\(level.height) image")
                    }
                })
                guard compressed else { throw level.file.failure("cannot compress a tile of the \(level.width)x\(level.height) image") }
                return
            }
            try tile.withUnsafeMutableBufferPointer { tileBuffer in
                let out = tileBuffer.baseAddress!
                for tx in 0..<across {
                    fillTile(tx, of: level, strip: strip, into: out)
                    let index = UInt32(firstIndex + tx)
                    guard TIFFWriteEncodedTile(level.file.tif, index, out, tmsize_t(tileBytes)) == tileBytes else {
                        throw level.file.failure("cannot write tile \(index) of the \(level.width)x\(level.height) image")
                    }
                }
            }
        }
    }

    /// Copies tile column `tx` of `level`'s buffered tile-row into `out`, padding beyond the image.
    private func fillTile(_ tx: Int, of level: Level, strip: UnsafePointer<S>, into out: UnsafeMutablePointer<S>) {
        let tileRowLength = tileSize * bands
        let x0 = tx * tileSize
        let used = min(tileSize, level.width - x0) * bands
        for r in 0..<tileSize {
            let dst = out + r * tileRowLength
            guard r < level.rowsInStrip else {
                dst.update(repeating: padValue, count: tileRowLength)
                continue
            }
            dst.update(from: strip + (r * level.width + x0) * bands, count: used)
            (dst + used).update(repeating: padValue, count: tileRowLength - used)
        }
    }

    /// Halves the rows buffered in `source` into rows of level `k`. Tile sizes are even, so the 2×2 blocks
    /// never straddle two tile-rows; at the right and bottom edges of odd sizes a block is 1 pixel wide or tall.
    private func downsample(_ source: Level, into k: Int) throws {
        let sourceWidth = source.width
        let rows = source.rowsInStrip
        let width = levels[k].width
        try source.strip.withUnsafeBufferPointer { stripBuffer in
            let strip = stripBuffer.baseAddress!
            for i in 0..<(rows + 1) / 2 {
                let r0 = 2 * i, r1 = min(2 * i + 1, rows - 1)
                try receiveRow(k) { row in
                    switch resampling {
                    case .nearest:
                        let sourceRow = strip + r0 * sourceWidth * bands
                        for j in 0..<width {
                            for b in 0..<bands { row[j * bands + b] = sourceRow[2 * j * bands + b] }
                        }
                    case .average:
                        for j in 0..<width {
                            let c0 = 2 * j, c1 = min(2 * j + 1, sourceWidth - 1)
                            for b in 0..<bands {
                                var sum = 0.0
                                var count = 0
                                for r in r0...r1 {
                                    for c in c0...c1 {
                                        let v = strip[(r * sourceWidth + c) * bands + b].asDouble
                                        if v.isNaN || noData?.matches(v) == true { continue }
                                        sum += v
                                        count += 1
                                    }
                                }
                                row[j * bands + b] = count == 0 ? missingValue : S(rounding: sum / Double(count))
                            }
                        }
                    }
                }
            }
        }
    }
}
