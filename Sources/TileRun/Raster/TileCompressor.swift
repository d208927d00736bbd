import CDeflate

/// Deflate-compresses a row of tiles on several threads, byte for byte as libtiff's Deflate codec does a
/// tile written at once (libtiff hands such a tile to libdeflate, at level 7 without a ZIPQUALITY tag), so
/// that the writer can store them in order with `TIFFWriteRawTile`. For tiles stored without a predictor (class
/// maps): compression is most of the cost of writing them, and libtiff compresses one tile at a time.
final class TileCompressor {
    /// The libdeflate level libtiff uses for Deflate without a ZIPQUALITY tag (the writer's tests compare
    /// files written on one thread, encoded by libtiff, with files written on several).
    static let level: Int32 = 7

    let tileBytes: Int
    let threads: Int
    /// One per worker: a libdeflate compressor holds per-call state.
    private let compressors: [OpaquePointer]
    /// One uncompressed tile per worker.
    private let scratch: UnsafeMutableRawPointer
    /// Room for `capacity` compressed tiles, `bound` bytes apart.
    private var output: UnsafeMutableRawPointer
    private var capacity = 0
    private let bound: Int

    /// Nil when libdeflate cannot allocate a compressor.
    init?(tileBytes: Int, threads: Int) {
        self.tileBytes = tileBytes
        self.threads = max(1, threads)
        var compressors: [OpaquePointer] = []
        for _ in 0..<self.threads {
            guard let c = libdeflate_alloc_compressor(TileCompressor.level) else {
                compressors.forEach(libdeflate_free_compressor)
                return nil
            }
            compressors.append(c)
        }
        self.compressors = compressors
        bound = libdeflate_zlib_compress_bound(compressors[0], tileBytes)
        scratch = .allocate(byteCount: self.threads * tileBytes, alignment: 64)
        output = .allocate(byteCount: 1, alignment: 64)
    }

    deinit {
        compressors.forEach(libdeflate_free_compressor)
        scratch.deallocate()
        output.deallocate()
    }

    /// Compresses tiles 0..<count, each first written by `fill(index, buffer)` into a `tileBytes` buffer
    /// (`fill` is called from several threads at once, for different tiles), then calls `store(index,
    /// bytes)` for each in order on the calling thread. Returns false when a tile did not compress.
    func compress(count: Int, fill: (Int, UnsafeMutableRawPointer) -> Void,
                  store: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows -> Bool {
        if count > capacity {
            output.deallocate()
            output = .allocate(byteCount: count * bound, alignment: 64)
            capacity = count
        }
        var sizes = [Int](repeating: 0, count: count)
        let (output, scratch, bound, tileBytes, compressors) = (self.output, self.scratch, self.bound, self.tileBytes, self.compressors)
        sizes.withUnsafeMutableBufferPointer { sizes in
            // Which worker compresses a tile never changes its bytes.
            parallelChunks(of: 0..<count, threads: threads) { chunk, w in
                let tile = scratch + w * tileBytes
                for index in chunk {
                    fill(index, tile)
                    sizes[index] = libdeflate_zlib_compress(compressors[w], tile, tileBytes, output + index * bound, bound)
                }
            }
        }
        for index in 0..<count {
            guard sizes[index] > 0 else { return false }
            try store(index, UnsafeRawBufferPointer(start: output + index * bound, count: sizes[index]))
        }
        return true
    }
}
