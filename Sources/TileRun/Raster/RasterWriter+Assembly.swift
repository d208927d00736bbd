import CLibTIFF
import CTIFFBridge
import Foundation

/// A libtiff handle opened by the writer, with its own diagnostics; errors name the writer's destination.
final class TIFFHandle {
    let tif: OpaquePointer
    /// The file this handle is on (a temporary file).
    let path: String
    private let reportPath: String
    private let diagnostics: UnsafeMutablePointer<tr_diagnostics>
    private var isOpen = true

    init(path: String, mode: String, reportPath: String) throws {
        let diag = UnsafeMutablePointer<tr_diagnostics>.allocate(capacity: 1)
        diag.initialize(to: tr_diagnostics())
        guard let handle = tr_open(path, mode, diag, RasterReader.maxBlockBytes) else {
            let detail = TIFFHandle.message(diag, path: path) ?? "unknown error"
            diag.deallocate()
            let name = URL(fileURLWithPath: path).lastPathComponent
            throw RasterError(path: reportPath, problem: "cannot open temporary file \(name): \(detail)")
        }
        tif = handle
        self.path = path
        self.reportPath = reportPath
        diagnostics = diag
    }

    deinit {
        discard()
        diagnostics.deallocate()
    }

    /// An error naming the destination, with libtiff's first complaint on this handle.
    func failure(_ what: String) -> RasterError {
        let detail = TIFFHandle.message(diagnostics, path: path).map { ": \($0)" } ?? ""
        return RasterError(path: reportPath, problem: what + detail)
    }

    /// libtiff's first error on a handle, without the temporary file's name it often starts with.
    private static func message(_ diag: UnsafeMutablePointer<tr_diagnostics>, path: String) -> String? {
        guard diag.pointee.error_count > 0 else { return nil }
        let text = withUnsafeBytes(of: &diag.pointee.first_error) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text
    }

    func require(_ result: Int32, _ what: @autoclosure () -> String) throws {
        if result == 0 { throw failure(what()) }
    }

    /// Closes the handle; libtiff flushes the current directory, so failures to write it surface here.
    func close() throws {
        guard isOpen else { return }
        isOpen = false
        let errorsBefore = diagnostics.pointee.error_count
        TIFFClose(tif)
        if diagnostics.pointee.error_count > errorsBefore { throw failure("cannot complete a temporary file") }
    }

    func discard() {
        guard isOpen else { return }
        isOpen = false
        TIFFClose(tif)
    }
}

/// Which image directory the tags are for.
enum DirectoryRole {
    /// A per-level temporary file: only the tags that shape the encoded tiles.
    case scratch
    /// The main image: georeferencing included.
    case fullResolution
    /// A reduced-resolution image (SubfileType 1).
    case overview
}

extension TIFFHandle {
    /// Sets the tags of the current directory for a `width` × `height` tiled image.
    func configure(width: Int, height: Int, role: DirectoryRole, options: RasterWriterOptions) throws {
        let (format, bits) = options.sampleType.tiffFormat
        try require(tr_set_u32(tif, TIFFTag.imageWidth, UInt32(width)), "cannot set ImageWidth")
        try require(tr_set_u32(tif, TIFFTag.imageLength, UInt32(height)), "cannot set ImageLength")
        try require(tr_set_u32(tif, TIFFTag.tileWidth, UInt32(options.tileSize)), "cannot set TileWidth")
        try require(tr_set_u32(tif, TIFFTag.tileLength, UInt32(options.tileSize)), "cannot set TileLength")
        try require(tr_set_u16(tif, TIFFTag.samplesPerPixel, UInt16(options.bandCount)), "cannot set SamplesPerPixel")
        try require(tr_set_u16(tif, TIFFTag.bitsPerSample, bits), "cannot set BitsPerSample")
        try require(tr_set_u16(tif, TIFFTag.sampleFormat, format), "cannot set SampleFormat")
        try require(tr_set_u16(tif, TIFFTag.planarConfig, 1), "cannot set PlanarConfiguration")
        try require(tr_set_u16(tif, TIFFTag.compression, options.compression.tiffCode), "cannot set Compression")
        // Predictor is a codec tag: it exists only once a compression that supports it is set.
        if options.predictorCode != 1 {
            try require(tr_set_u16(tif, TIFFTag.predictor, options.predictorCode), "cannot set Predictor")
        }
        if role == .overview {
            try require(tr_set_u32(tif, TIFFTag.subfileType, 1), "cannot set SubfileType")
        }
        if let colorMap = options.colorMap, role != .scratch {
            try require(tr_set_u16(tif, TIFFTag.photometric, 3), "cannot set Photometric")
            let entries = 1 << bits
            var red = [UInt16](repeating: 0, count: entries)
            var green = red, blue = red
            // 8-bit channels widened to 16 bits the way GDAL does (×257), so 255 becomes 65535.
            for (i, color) in colorMap.enumerated() {
                red[i] = UInt16(color.red) * 257
                green[i] = UInt16(color.green) * 257
                blue[i] = UInt16(color.blue) * 257
            }
            try require(tr_set_colormap(tif, red, green, blue), "cannot set ColorMap")
        } else {
            try require(tr_set_u16(tif, TIFFTag.photometric, 1), "cannot set Photometric")
            if options.bandCount > 1 {
                // Bands after the first of a min-is-black image are "unspecified" extra samples, as GDAL writes them.
                let kinds = [UInt16](repeating: 0, count: options.bandCount - 1)
                try require(tr_set_extrasamples(tif, UInt16(kinds.count), kinds), "cannot set ExtraSamples")
            }
        }
        guard role != .scratch else { return }
        if let noData = options.noData {
            try require(tr_set_string(tif, TIFFTag.gdalNoData, gdalNoDataText(noData.value)), "cannot set GDAL_NODATA")
        }
        if role == .fullResolution, let tags = options.geo?.tags {
            try setGeoTags(tags)
        }
    }

    /// Writes the georeferencing tags exactly as the source stored them.
    private func setGeoTags(_ tags: GeoTIFFTags) throws {
        func doubles(_ tag: UInt32, _ values: [Double]?, _ name: String) throws {
            guard let values, !values.isEmpty else { return }
            try require(tr_set_double_array(tif, tag, UInt16(clamping: values.count), values), "cannot set \(name)")
        }
        try doubles(TIFFTag.modelPixelScale, tags.modelPixelScale, "ModelPixelScale")
        try doubles(TIFFTag.modelTiepoint, tags.modelTiepoints, "ModelTiepoint")
        try doubles(TIFFTag.modelTransformation, tags.modelTransformation, "ModelTransformation")
        if let keys = tags.keyDirectory, !keys.isEmpty {
            try require(tr_set_u16_array(tif, TIFFTag.geoKeyDirectory, UInt16(clamping: keys.count), keys),
                        "cannot set GeoKeyDirectory")
        }
        try doubles(TIFFTag.geoDoubleParams, tags.doubleParams, "GeoDoubleParams")
        if let ascii = tags.asciiParams {
            try require(tr_set_string(tif, TIFFTag.geoAsciiParams, ascii), "cannot set GeoAsciiParams")
        }
    }
}

/// The GDAL_NODATA text GDAL itself writes: "nan", an integer when the value is one that fits 32 bits,
/// otherwise 18 significant digits.
func gdalNoDataText(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value == value.rounded(), value >= Double(Int32.min), value <= Double(Int32.max) {
        return String(Int32(value))
    }
    return String(format: "%.18g", value)
}

extension RasterWriter {
    /// Builds the Cloud-Optimized GeoTIFF at `temporaryPath` from the per-level files (full resolution first):
    /// every image directory first, with its tile arrays right after them (as GDAL lays them out), then the
    /// tiles copied still compressed, smallest overview first and full resolution last, each level in row order.
    func assembleCloudOptimized(levelPaths: [String], levelSizes: [(width: Int, height: Int)],
                                temporaryPath: String, bigTIFF: Bool) throws {
        let header = try TIFFHandle(path: temporaryPath, mode: bigTIFF ? "w8" : "w", reportPath: path)
        for (index, size) in levelSizes.enumerated() {
            try header.configure(width: size.width, height: size.height,
                                 role: index == 0 ? .fullResolution : .overview, options: options)
            // The tile arrays are written later, once the tiles' places are known; WriteCheck sets up their
            // entries, which libtiff writes as placeholders.
            try header.require(TIFFDeferStrileArrayWriting(header.tif), "cannot defer the tile arrays")
            try header.require(TIFFWriteCheck(header.tif, 1, "RasterWriter"), "cannot prepare image directory \(index)")
            try header.require(TIFFWriteDirectory(header.tif), "cannot write image directory \(index)")
        }
        try header.close()

        // libtiff fills in deferred tile arrays only in update mode.
        let output = try TIFFHandle(path: temporaryPath, mode: "r+", reportPath: path)
        for index in levelSizes.indices {
            try output.require(TIFFSetDirectory(output.tif, tdir_t(index)), "cannot reopen image directory \(index)")
            try output.require(TIFFForceStrileArrayWriting(output.tif), "cannot write the tile arrays of image directory \(index)")
        }
        var buffer = [UInt8]()
        for index in levelSizes.indices.reversed() {
            let level = try TIFFHandle(path: levelPaths[index], mode: "rm", reportPath: path)
            try output.require(TIFFSetDirectory(output.tif, tdir_t(index)), "cannot reopen image directory \(index)")
            let tiles = TIFFNumberOfTiles(level.tif)
            guard tiles == TIFFNumberOfTiles(output.tif) else {
                throw output.failure("level \(index) has \(tiles) tiles, but its directory expects \(TIFFNumberOfTiles(output.tif))")
            }
            for tile in 0..<tiles {
                let size = Int(TIFFGetStrileByteCount(level.tif, tile))
                guard size > 0, size <= RasterReader.maxBlockBytes else {
                    throw level.failure("tile \(tile) of level \(index) has an invalid size \(size)")
                }
                if buffer.count < size { buffer = [UInt8](repeating: 0, count: size) }
                try buffer.withUnsafeMutableBytes { raw in
                    guard TIFFReadRawTile(level.tif, tile, raw.baseAddress, tmsize_t(size)) == size else {
                        throw level.failure("cannot read tile \(tile) of level \(index) back")
                    }
                    guard TIFFWriteRawTile(output.tif, tile, raw.baseAddress, tmsize_t(size)) == size else {
                        throw output.failure("cannot copy tile \(tile) of level \(index)")
                    }
                }
            }
            // In update mode a flush rewrites just this directory's tile arrays, in place.
            try output.require(TIFFFlush(output.tif), "cannot record the tiles of image directory \(index)")
            try level.close()
            unlink(levelPaths[index]) // copied: free its space before the next, larger level is copied
        }
        try output.close()
    }
}
