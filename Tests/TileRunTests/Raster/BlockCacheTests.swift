import Foundation
@testable import TileRun
import XCTest

final class BlockCacheTests: FolderTestCase {
    /// Windows of a tile grid over a `width` × `height` raster, row by row: origins every `step`, the last
    /// flush with the edge.
    private func gridWindows(width: Int, height: Int, size: Int, step: Int) -> [RasterWindow] {
        func origins(_ length: Int) -> [Int] {
            var o = Array(stride(from: 0, through: max(length - size, 0), by: step))
            if o.last! + size < length { o.append(length - size) }
            return o
        }
        return origins(height).flatMap { y in
            origins(width).map { x in RasterWindow(x: x, y: y, width: min(size, width - x), height: min(size, height - y)) }
        }
    }

    /// Reads `windows` in order with one reader and checks each against a fresh reader (no cache to hide a
    /// difference); returns the blocks the shared reader decoded.
    private func readAndCompare(_ path: String, _ windows: [RasterWindow], file: StaticString = #filePath,
                                line: UInt = #line) throws -> Int {
        let reader = try RasterReader(path: path)
        for window in windows {
            let cached = try reader.readFloat(window)
            let fresh = try RasterReader(path: path).readFloat(window)
            if let i = cached.indices.first(where: { cached[$0].bitPattern != fresh[$0].bitPattern }) {
                XCTFail("\(path) \(window): sample \(i) is \(cached[i]), \(fresh[i]) read alone", file: file, line: line)
            }
        }
        return reader.decodedBlockCount
    }

    /// Tiles of a grid read row by row, as the pipeline reads them, decode each block once.
    func testGridOfTilesDecodesEachBlockOnce() throws {
        // 128-pixel tiles every 112 cover 912 × 688 exactly; each touches up to 3 × 3 blocks of 64, so
        // without a cache the 165 blocks would be decoded 352 times. (Where the last tile is moved back to
        // end flush with the scene, it overlaps the one before by more than a block, and the blocks of that
        // overlap not in the last block row or column are decoded again.)
        let (width, height, block) = (912, 688, 64)
        let path = self.path("tiled.tif")
        let writer = try RasterWriter(path: path, width: width, height: height,
                                      options: RasterWriterOptions(bandCount: 3, tileSize: block, cloudOptimized: false))
        let plane = width * height
        try writer.write(rows: 0, height: height, values: (0..<(3 * plane)).map { UInt8(truncatingIfNeeded: $0 % plane * 7 / 5 + $0 / plane * 40) })
        try writer.finish()
        let windows = gridWindows(width: width, height: height, size: 128, step: 112)
        XCTAssertEqual(windows.count, 8 * 6)
        XCTAssertEqual(try readAndCompare(path, windows), 15 * 11)
    }

    /// The same for a file in strips (two rows each): a tile row's strips are decoded once, not once per tile.
    func testGridOverStripsDecodesEachStripAboutOnce() throws {
        let path = try SharedData.path("scenes/joplin-2011/pre.tif")
        let info = try RasterReader(path: path).info
        XCTAssertFalse(info.layout.isTiled)
        let strips = (info.height + info.blockHeight - 1) / info.blockHeight
        let decoded = try readAndCompare(path, gridWindows(width: info.width, height: info.height, size: 256, step: 224))
        XCTAssertLessThanOrEqual(decoded, strips * 11 / 10, "\(decoded) decodes of \(strips) strips")
    }

    /// Separate planes, packed bits, float16, the RGBA interface (old-style JPEG, LogLuv), strips and tiles
    /// read the same through the cache, in grid order and in reverse.
    func testLayoutsReadTheSameThroughTheCache() throws {
        for name in ["image-tiff/images__planar-rgb-u8.tif", "image-tiff/seq/images__seq__seq-3c-12b-planar-e29e8e25.tiff",
                     "image-tiff/seq/images__seq__seq-1c-3b-ef237c07.tiff", "image-tiff/images__random-fp16-pred3.tiff",
                     "libtiff/images__ojpeg_chewey_subsamp21_multi_strip.tiff", "libtiff/images__logluv-3c-16b.tiff",
                     "image-tiff/images__tiled-jpeg-ycbcr.tif", "rasterio/RGB.byte.tif"] {
            let path = try SharedData.corpus(name)
            let info = try RasterReader(path: path).info
            let size = max(8, min(info.width, info.height) / 3)
            let windows = gridWindows(width: info.width, height: info.height, size: size, step: size * 7 / 8)
            _ = try readAndCompare(path, windows)
            // libtiff's old-style JPEG decoder returns other pixels for a strip decoded after the last
            // strips than for the same strip decoded first, cache or not: no reverse order for it.
            if !name.contains("ojpeg") { _ = try readAndCompare(path, windows.reversed()) }
        }
    }

    /// A block that fails to decode is not cached: every read of it fails, and other blocks still read.
    func testFailedBlocksAreNotCached() throws {
        let reader = try RasterReader(path: try SharedData.corpus("derived-truncated/rgb_lzw.trunc90pct.tif"))
        let whole = reader.info.bounds
        for _ in 0..<2 {
            XCTAssertThrowsError(try reader.readFloat(whole)) { error in
                XCTAssertTrue("\(error)".contains("cannot decode"), "\(error)")
            }
        }
        XCTAssertNoThrow(try reader.readFloat(RasterWindow(x: 0, y: 0, width: reader.info.width, height: 1)))
    }

    func testEvictsTheLeastRecentlyUsedAndDemotedFirst() {
        let cache = BlockCache(maxBlocks: 3, maxBytes: 1 << 20)
        for block in 0..<3 { cache.insert(block, memory: cache.allocate(bytes: 16), bytes: 16) }
        XCTAssertNotNil(cache.lookup(0))
        cache.insert(3, memory: cache.allocate(bytes: 16), bytes: 16)
        XCTAssertNil(cache.lookup(1), "block 1 was the least recently used")
        cache.demote(3)
        cache.insert(4, memory: cache.allocate(bytes: 16), bytes: 16)
        XCTAssertNil(cache.lookup(3), "a demoted block goes first")
        XCTAssertEqual(Set([0, 2, 4].filter { cache.lookup($0) != nil }), [0, 2, 4])
        XCTAssertEqual(cache.bytes, 48)
    }

    func testByteLimitKeepsAtLeastTheNewestBlock() {
        let cache = BlockCache(maxBlocks: 100, maxBytes: 100)
        cache.insert(0, memory: cache.allocate(bytes: 60), bytes: 60)
        let first = cache.lookup(0)
        // Block 0 goes to make room for block 1, which takes over its memory.
        let memory = cache.allocate(bytes: 60)
        XCTAssertNil(cache.lookup(0))
        XCTAssertEqual(UnsafeRawPointer(memory), first)
        cache.insert(1, memory: memory, bytes: 60)
        cache.insert(2, memory: cache.allocate(bytes: 500), bytes: 500)
        XCTAssertNil(cache.lookup(1))
        XCTAssertNotNil(cache.lookup(2), "a block larger than the limit is held alone")
        XCTAssertEqual(cache.count, 1)
        XCTAssertEqual(cache.bytes, 500)
        // Memory handed back after a failed decode is reused for the next block of its size.
        let failed = cache.allocate(bytes: 32)
        cache.recycle(failed, bytes: 32)
        XCTAssertEqual(cache.allocate(bytes: 32), failed)
        cache.recycle(failed, bytes: 32)
    }
}
