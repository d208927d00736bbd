import Foundation

/// The durable bands of one scene in flight: those an earlier attempt saved, to be reused, and where each
/// newly finished band goes. Band `k` holds the rows tile row `k` finishes, so a resumed scene redoes at
/// most the band that was in flight (and the tile rows whose overlaps reach it).
public struct BandCheckpoints: Sendable {
    /// Bands an earlier attempt saved, from band 0 on.
    public var saved: Int
    /// The bytes of saved band `k`, verified; throws when they cannot be read back.
    public var load: @Sendable (_ k: Int) throws -> Data
    /// Makes band `k`, scene rows `top ..< top + rows`, durable before returning.
    public var save: @Sendable (_ k: Int, _ top: Int, _ rows: Int, _ data: Data) throws -> Void

    public init(saved: Int, load: @escaping @Sendable (Int) throws -> Data,
                save: @escaping @Sendable (Int, Int, Int, Data) throws -> Void) {
        self.saved = saved
        self.load = load
        self.save = save
    }
}

extension Manifest {
    /// Checkpoints for the scene at `path` whose outputs are named `stem`, reusing `parts` (the verified
    /// parts `decide` returned, which may come from another shard's journal: they are recorded in this
    /// run's first) and saving new bands as parts of the running attempt. Call it after `sceneStarted`.
    public func bandCheckpoints(scene path: String, stem: String, parts: [ScenePart]) throws -> BandCheckpoints {
        try adopt(parts, scene: path)
        return BandCheckpoints(
            saved: parts.count,
            load: { [self] k in try loadPart(parts[k]) },
            save: { [self] k, top, rows, data in
                try savePart(scene: path, stem: stem, index: k, firstRow: top, rows: rows, data: data)
            })
    }
}

/// A finished band as a part file stores it: a header of six little-endian UInt32 (magic `TRB1`, top, rows,
/// width, probability planes, tiles of its tile row left out as all nodata), the labels, then the
/// probabilities as float32 in native byte order (little-endian on every platform tilerun builds for).
struct SavedBand {
    var band: FinishedBand
    /// Tiles of the band's tile row that held no data and were not inferred (for the scene's summary).
    var skippedTiles: Int

    private static let magic: UInt32 = 0x3142_5254 // "TRB1"
    private static let headerWords = 6

    func encoded() -> Data {
        let planes = band.probabilities == nil ? 0 : band.classes
        var data = Data(capacity: SavedBand.headerWords * 4 + band.labels.count + planes * band.rows * band.width * 4)
        for word in [SavedBand.magic, UInt32(band.top), UInt32(band.rows), UInt32(band.width), UInt32(planes), UInt32(skippedTiles)] {
            withUnsafeBytes(of: word.littleEndian) { data.append(contentsOf: $0) }
        }
        data.append(contentsOf: band.labels)
        band.probabilities?.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// Decodes band `k` of `scene`, which must hold rows `top ..< top + rows` of a `width`-wide scene with
    /// `classes` probability planes (0 when probabilities are not written); throws a `ManifestError` otherwise.
    static func decode(_ data: Data, k: Int, scene: String, top: Int, rows: Int, width: Int, classes: Int,
                       probabilities: Bool) throws -> SavedBand {
        let planes = probabilities ? classes : 0
        let labelCount = rows * width
        func word(_ i: Int) -> Int {
            Int(data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) })
        }
        guard data.count == headerWords * 4 + labelCount + planes * labelCount * 4, word(0) == Int(magic),
              word(1) == top, word(2) == rows, word(3) == width, word(4) == planes else {
            throw ManifestError(path: scene, problem: "saved band \(k) does not fit the scene's rows \(top)..<\(top + rows); run with --restart to discard the manifest")
        }
        var band = FinishedBand(top: top, rows: rows, width: width, classes: classes, probabilities: probabilities)
        let labelStart = data.startIndex + headerWords * 4
        band.labels = [UInt8](data[labelStart..<(labelStart + labelCount)])
        if probabilities {
            let bytes = data[(labelStart + labelCount)...]
            // Copied rather than bound: the bytes need not be aligned for Float.
            band.probabilities = [Float](unsafeUninitializedCapacity: planes * labelCount) { buffer, count in
                bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
                count = planes * labelCount
            }
        }
        return SavedBand(band: band, skippedTiles: word(5))
    }
}
