import CLibTIFF
import CTIFFBridge
import Foundation

/// TIFF tag numbers used by the reader and writer.
enum TIFFTag {
    static let subfileType: UInt32 = 254
    static let imageWidth: UInt32 = 256
    static let imageLength: UInt32 = 257
    static let bitsPerSample: UInt32 = 258
    static let compression: UInt32 = 259
    static let photometric: UInt32 = 262
    static let samplesPerPixel: UInt32 = 277
    static let rowsPerStrip: UInt32 = 278
    static let planarConfig: UInt32 = 284
    static let predictor: UInt32 = 317
    static let tileWidth: UInt32 = 322
    static let tileLength: UInt32 = 323
    static let extraSamples: UInt32 = 338
    static let sampleFormat: UInt32 = 339
    static let jpegColorMode: UInt32 = 65538
    static let zipQuality: UInt32 = 65557
    static let zstdLevel: UInt32 = 65564
    static let modelPixelScale: UInt32 = 33550
    static let modelTiepoint: UInt32 = 33922
    static let modelTransformation: UInt32 = 34264
    static let geoKeyDirectory: UInt32 = 34735
    static let geoDoubleParams: UInt32 = 34736
    static let geoAsciiParams: UInt32 = 34737
    static let gdalMetadata: UInt32 = 42112
    static let gdalNoData: UInt32 = 42113
}

extension RasterReader {
    struct ScannedDirectories {
        var overviews: [RasterWindow] = []
        /// Mask IFDs: index and size (the full-resolution one is the image's mask, the others its overviews').
        var masks: [(directory: Int, width: Int, height: Int)] = []
    }

    struct Description {
        var info: RasterInfo
        var mode: DecodeModeTag
        var samplesPerBlockPixel: Int
        var storedEncoding: StoredEncoding
    }

    /// Walks every IFD after the first to find overviews and masks, then returns to the first.
    /// libtiff detects IFD loops; a broken later IFD costs its overview, not the image.
    static func scanDirectories(_ tif: OpaquePointer, path: String, diag: UnsafeMutablePointer<tr_diagnostics>,
                                fail: (String) -> RasterError) throws -> ScannedDirectories {
        var scanned = ScannedDirectories()
        var count = 0
        while count < maxDirectories, TIFFReadDirectory(tif) != 0 {
            count += 1
            var kind: UInt32 = 0
            var w: UInt32 = 0, h: UInt32 = 0
            _ = tr_get_u32(tif, TIFFTag.subfileType, &kind)
            _ = tr_get_u32(tif, TIFFTag.imageWidth, &w)
            _ = tr_get_u32(tif, TIFFTag.imageLength, &h)
            if kind & 4 != 0 {
                scanned.masks.append((count, Int(w), Int(h)))
            } else if kind & 1 != 0 {
                scanned.overviews.append(RasterWindow(x: 0, y: 0, width: Int(w), height: Int(h)))
            }
        }
        diag.pointee = tr_diagnostics()
        guard TIFFSetDirectory(tif, 0) != 0 else {
            throw fail(message(diag, path: path) ?? "cannot read the first image directory")
        }
        return scanned
    }

    static func describe(_ tif: OpaquePointer, path: String, diag: UnsafeMutablePointer<tr_diagnostics>,
                         scanned: ScannedDirectories, fail: (String) -> RasterError) throws -> Description {
        func u16(_ tag: UInt32, _ fallback: UInt16) -> UInt16 {
            var v: UInt16 = 0
            return tr_get_u16(tif, tag, &v) != 0 ? v : fallback
        }
        func u32(_ tag: UInt32) -> UInt32? {
            var v: UInt32 = 0
            return tr_get_u32(tif, tag, &v) != 0 ? v : nil
        }
        guard let w32 = u32(TIFFTag.imageWidth), let h32 = u32(TIFFTag.imageLength) else {
            throw fail("missing image width or height")
        }
        let width = Int(w32), height = Int(h32)
        guard width > 0, height > 0 else { throw fail("empty image (\(width)x\(height))") }
        guard width <= maxDimension, height <= maxDimension else {
            throw fail("absurd dimensions \(width)x\(height) (limit \(maxDimension) per side)")
        }
        let spp = Int(u16(TIFFTag.samplesPerPixel, 1))
        guard spp >= 1, spp <= maxBands else { throw fail("absurd band count \(spp) (limit \(maxBands))") }
        let bits = u16(TIFFTag.bitsPerSample, 1)
        let format = u16(TIFFTag.sampleFormat, 1)
        let compression = u16(TIFFTag.compression, 1)
        var photometric = u16(TIFFTag.photometric, spp >= 3 ? 2 : 1)
        let planarCode = u16(TIFFTag.planarConfig, 1)
        let predictor = u16(TIFFTag.predictor, 1)
        var notes: [String] = []

        guard TIFFIsCODECConfigured(compression) != 0 else {
            throw fail("compression \(compressionName(compression)) is not supported by this libtiff")
        }

        var layout: BlockLayout
        if TIFFIsTiled(tif) != 0 {
            guard let tw = u32(TIFFTag.tileWidth), let th = u32(TIFFTag.tileLength), tw > 0, th > 0,
                  tw <= UInt32(maxDimension), th <= UInt32(maxDimension) else { throw fail("invalid tile size") }
            layout = .tiles(width: Int(tw), height: Int(th))
        } else {
            let rps = u32(TIFFTag.rowsPerStrip).map { Int($0) } ?? height
            layout = .strips(rowsPerStrip: rps <= 0 || rps > height ? height : rps)
        }

        // Encodings that only libtiff's RGBA interface turns into plain samples. (LogL/LogLuv read directly:
        // libtiff's SGILog codec serves them as the declared 16-bit integers or 32-bit floats, as in GDAL.)
        let isOldJPEG = compression == 6
        let isRawYCbCr = photometric == 6 && compression != 7
        let isLab = [8, 9, 10].contains(photometric)
        var extraCount: UInt16 = 0
        var extraKinds: UnsafePointer<UInt16>?
        _ = tr_get_extrasamples(tif, &extraCount, &extraKinds)

        let mode: DecodeModeTag
        var bandCount = spp
        var sampleType: SampleType
        var storedBits = Int(bits)
        var storedEncoding = StoredEncoding.native
        var samplesPerBlockPixel = planarCode == 2 ? 1 : spp
        if isOldJPEG || isRawYCbCr || isLab {
            var why = [CChar](repeating: 0, count: 1024)
            guard TIFFRGBAImageOK(tif, &why) != 0 else {
                throw fail("cannot convert \(photometricName(photometric)) \(compressionName(compression)) data: "
                           + String(cString: why))
            }
            mode = .rgba
            bandCount = extraCount > 0 ? 4 : 3
            sampleType = .uint8
            storedBits = 8
            samplesPerBlockPixel = bandCount
            notes.append("\(photometricName(photometric)) \(compressionName(compression)) data converted to \(bandCount == 4 ? "RGBA" : "RGB")")
        } else {
            let unsigned = format == 1 || format == 4
            if let type = SampleType(sampleFormat: format, bitsPerSample: bits), ![1, 2, 4].contains(bits) {
                sampleType = type
            } else if unsigned, bits >= 1, bits <= 32 {
                sampleType = bits <= 8 ? .uint8 : (bits <= 16 ? .uint16 : .uint32)
                storedEncoding = .packedBits(Int(bits))
            } else if format == 3, bits == 16 {
                sampleType = .float32
                storedEncoding = .float16
            } else {
                throw fail("unsupported sample layout: \(bits)-bit \(sampleFormatName(format)) samples")
            }
            mode = .direct
            if compression == 7 && photometric == 6 {
                // JPEG-compressed YCbCr: let libjpeg convert to RGB while decoding.
                guard tr_set_int(tif, TIFFTag.jpegColorMode, 1) != 0 else {
                    throw fail("cannot set up JPEG YCbCr to RGB conversion")
                }
                photometric = 2
                notes.append("JPEG YCbCr data converted to RGB")
            }
        }

        var alphaBand: Int?
        if let extraKinds, extraCount > 0, Int(extraCount) <= spp {
            for i in 0..<Int(extraCount) where extraKinds[i] == 1 || extraKinds[i] == 2 {
                alphaBand = mode == .rgba ? 3 : spp - Int(extraCount) + i
                break
            }
        }

        var colorMap: [PaletteColor]?
        if photometric == 3, mode == .direct, bits <= 16 {
            var r: UnsafePointer<UInt16>?, g: UnsafePointer<UInt16>?, b: UnsafePointer<UInt16>?
            if tr_get_colormap(tif, &r, &g, &b) != 0, let r, let g, let b {
                let n = 1 << Int(bits)
                colorMap = (0..<n).map {
                    PaletteColor(red: UInt8(r[$0] >> 8), green: UInt8(g[$0] >> 8), blue: UInt8(b[$0] >> 8))
                }
            }
        }

        var geo = readGeoReference(tif)
        if let t = geo?.transform {
            if t.isRotated { notes.append("rotated or sheared grid (ModelTransformation)") }
            else if t.isSouthUp { notes.append("south-up grid (positive pixel height)") }
        }
        if let g = geo, g.transform == nil, g.groundControlPointCount > 0 {
            notes.append("georeferenced by \(g.groundControlPointCount) ground control points only: no geotransform")
        }
        if geo?.tags.isEmpty == true { geo = nil }

        var noData: NoData?
        var text: UnsafePointer<CChar>?
        if tr_get_string(tif, TIFFTag.gdalNoData, &text) != 0, let text {
            let raw = String(cString: text)
            if let parsed = NoData(text: raw) {
                if let problem = parsed.problem(for: sampleType) {
                    notes.append("\(problem): ignored")
                } else {
                    noData = parsed.rounded(to: sampleType)
                }
            } else {
                notes.append("GDAL_NODATA \"\(raw)\" is not a number: ignored")
            }
        }

        let info = RasterInfo(
            path: path, width: width, height: height, bandCount: bandCount, sampleType: sampleType,
            bitsPerSample: storedBits, layout: layout, planar: planarCode == 2 ? .separate : .contiguous,
            compression: compressionName(compression), predictor: Int(predictor),
            photometric: photometricName(photometric), isBigEndian: TIFFIsBigEndian(tif) != 0,
            isBigTIFF: TIFFIsBigTIFF(tif) != 0, overviews: scanned.overviews,
            internalMaskDirectory: scanned.masks.first { $0.width == width && $0.height == height }?.directory,
            alphaBand: alphaBand, colorMap: colorMap, geo: geo, noData: noData, notes: notes)
        diag.pointee = tr_diagnostics()
        return Description(info: info, mode: mode, samplesPerBlockPixel: samplesPerBlockPixel,
                           storedEncoding: storedEncoding)
    }

    static func readGeoReference(_ tif: OpaquePointer) -> GeoReference? {
        func doubles(_ tag: UInt32) -> [Double]? {
            var count: UInt16 = 0
            var values: UnsafePointer<Double>?
            guard tr_get_double_array(tif, tag, &count, &values) != 0, let values, count > 0 else { return nil }
            return Array(UnsafeBufferPointer(start: values, count: Int(count)))
        }
        var tags = GeoTIFFTags(modelPixelScale: doubles(TIFFTag.modelPixelScale),
                               modelTiepoints: doubles(TIFFTag.modelTiepoint),
                               modelTransformation: doubles(TIFFTag.modelTransformation),
                               doubleParams: doubles(TIFFTag.geoDoubleParams))
        var keyCount: UInt16 = 0
        var keyValues: UnsafePointer<UInt16>?
        if tr_get_u16_array(tif, TIFFTag.geoKeyDirectory, &keyCount, &keyValues) != 0, let keyValues, keyCount >= 4 {
            tags.keyDirectory = Array(UnsafeBufferPointer(start: keyValues, count: Int(keyCount)))
        }
        var ascii: UnsafePointer<CChar>?
        if tr_get_string(tif, TIFFTag.geoAsciiParams, &ascii) != 0, let ascii {
            tags.asciiParams = String(cString: ascii)
        }
        guard !tags.isEmpty else { return nil }

        var rasterSpace = RasterSpace.pixelIsArea
        var crs: CoordinateSystem?
        if tags.keyDirectory != nil, let keys = tr_geokeys_open(tif) {
            defer { tr_geokeys_close(keys) }
            func short(_ key: UInt16) -> Int? {
                var v: UInt16 = 0
                return tr_geokey_short(keys, Int32(key), &v) != 0 ? Int(v) : nil
            }
            func text(_ key: UInt16) -> String? {
                var buffer = [CChar](repeating: 0, count: 1024)
                guard tr_geokey_ascii(keys, Int32(key), &buffer, 1024) != 0 else { return nil }
                let s = String(cString: buffer).trimmingCharacters(in: CharacterSet(charactersIn: "| \0"))
                return s.isEmpty ? nil : s
            }
            if short(GeoKey.rasterType) == 2 { rasterSpace = .pixelIsPoint }
            let model: ModelType
            switch short(GeoKey.modelType) {
            case 1: model = .projected
            case 2: model = .geographic
            case 3: model = .geocentric
            default: model = .unknown
            }
            let pcs = short(GeoKey.projectedCSType)
            let gcs = short(GeoKey.geographicType)
            var epsg: Int?
            switch model {
            case .projected: epsg = pcs
            case .geographic: epsg = gcs
            default: epsg = pcs ?? gcs
            }
            if let e = epsg, e == GeoKey.userDefined || e == 0 { epsg = nil }
            let citation = [text(GeoKey.citation), text(GeoKey.pcsCitation), text(GeoKey.geogCitation)]
                .compactMap { $0 }
            var unitCode = short(GeoKey.projLinearUnits)
            if unitCode == GeoKey.userDefined { unitCode = nil }
            var metres = unitCode.flatMap { GeoKey.metres(perLinearUnit: $0) }
            if metres == nil {
                var size = 0.0
                if tr_geokey_double(keys, Int32(GeoKey.projLinearUnitSize), &size) != 0, size > 0 { metres = size }
            }
            if metres == nil, model == .projected, unitCode == nil, let e = epsg, (32601...32760).contains(e) {
                metres = 1 // UTM zones are in metres
            }
            crs = CoordinateSystem(modelType: model, epsg: epsg,
                                   citation: citation.isEmpty ? nil : citation.joined(separator: "; "),
                                   linearUnitCode: unitCode, metresPerUnit: metres)
        }
        let (transform, gcps) = GeoReference.transform(from: tags, rasterSpace: rasterSpace)
        return GeoReference(transform: transform, groundControlPointCount: gcps, rasterSpace: rasterSpace,
                            coordinateSystem: crs, tags: tags)
    }

    static func compressionName(_ code: UInt16) -> String {
        switch code {
        case 1: return "none"
        case 2: return "CCITT RLE"
        case 3: return "CCITT Fax3"
        case 4: return "CCITT Fax4"
        case 5: return "LZW"
        case 6: return "old-style JPEG"
        case 7: return "JPEG"
        case 8, 32946: return "Deflate"
        case 32773: return "PackBits"
        case 34676: return "SGILog"
        case 34677: return "SGILog24"
        case 34887: return "LERC"
        case 34925: return "LZMA"
        case 50000: return "ZSTD"
        case 50001: return "WebP"
        case 50002: return "JPEG-XL"
        default: return "compression \(code)"
        }
    }

    static func photometricName(_ code: UInt16) -> String {
        switch code {
        case 0: return "min-is-white"
        case 1: return "min-is-black"
        case 2: return "RGB"
        case 3: return "palette"
        case 4: return "mask"
        case 5: return "separated (CMYK)"
        case 6: return "YCbCr"
        case 8: return "CIE L*a*b*"
        case 9: return "ICC L*a*b*"
        case 10: return "ITU L*a*b*"
        case 32844: return "LogL"
        case 32845: return "LogLuv"
        default: return "photometric \(code)"
        }
    }

    static func sampleFormatName(_ code: UInt16) -> String {
        switch code {
        case 1: return "unsigned integer"
        case 2: return "signed integer"
        case 3: return "floating-point"
        case 4: return "untyped"
        case 5: return "complex integer"
        case 6: return "complex floating-point"
        default: return "format-\(code)"
        }
    }
}
