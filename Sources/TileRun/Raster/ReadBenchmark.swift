import Foundation

/// Times reading a whole file through `RasterReader` in square windows, one thread, native sample type.
public enum ReadBenchmark {
    public struct Result: Sendable {
        public var bestSeconds: Double
        public var decodedBytes: Int
        public var pixels: Int
        /// Sum of all bytes read, so the work cannot be optimized away and runs can be compared.
        public var checksum: UInt64
        public var megabytesPerSecond: Double { Double(decodedBytes) / bestSeconds / 1e6 }
        public var megapixelsPerSecond: Double { Double(pixels) / bestSeconds / 1e6 }
    }

    public static func run(path: String, windowSize: Int, repeats: Int) throws -> Result {
        var best = Double.infinity
        var checksum: UInt64 = 0
        var bytes = 0
        var pixels = 0
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            let reader = try RasterReader(path: path)
            let info = reader.info
            var sum: UInt64 = 0
            bytes = 0
            var y = 0
            while y < info.height {
                var x = 0
                let h = min(windowSize, info.height - y)
                while x < info.width {
                    let w = min(windowSize, info.width - x)
                    let data = try reader.readNative(RasterWindow(x: x, y: y, width: w, height: h))
                    data.bytes.withUnsafeBytes { raw in
                        // One byte in 64 is enough to keep the reads observable without timing a summing loop.
                        var i = 0
                        while i < raw.count { sum &+= UInt64(raw[i]); i += 64 }
                    }
                    bytes += data.bytes.count
                    x += w
                }
                y += h
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, seconds)
            checksum = sum
            pixels = info.width * info.height
        }
        return Result(bestSeconds: best, decodedBytes: bytes, pixels: pixels, checksum: checksum)
    }
}
