/// Summary statistics of one band over its valid pixels (not nodata, not NaN).
public struct BandStatistics: Equatable, Sendable, Codable {
    public var validCount: Int
    public var minimum: Double?
    public var maximum: Double?
    public var mean: Double?
    /// Population standard deviation, as `gdalinfo -stats` reports it.
    public var standardDeviation: Double?
}

/// Per-band statistics and GDAL-compatible checksums, computed block by block in one pass.
public struct RasterAnalysis: Sendable {
    public var statistics: [BandStatistics]?
    /// `gdalinfo -checksum` values: Σ value mod primes[(row·width + column) mod 11], kept to 16 bits.
    public var checksums: [Int]?

    static let primes: [Int64] = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43]

    /// Reads the whole raster once, one block at a time, and computes what is asked for.
    /// Sparse blocks are accounted for without touching pixels, so a huge empty file costs nothing.
    public static func analyze(_ reader: RasterReader, statistics wantStats: Bool, checksums wantSums: Bool,
                               maxWindowPixels: Int = 1 << 20) throws -> RasterAnalysis {
        let info = reader.info
        let bands = info.bandCount
        var accumulators = [Accumulator](repeating: Accumulator(), count: bands)
        var sums = [Int64](repeating: 0, count: bands)
        let fill = info.noData?.value ?? 0
        let fillIsValid = info.noData == nil && !fill.isNaN
        let bw = info.blockWidth, bh = info.blockHeight
        var y = 0
        while y < info.height {
            let h = min(bh, info.height - y)
            var x = 0
            while x < info.width {
                let w = min(bw, info.width - x)
                let block = RasterWindow(x: x, y: y, width: w, height: h)
                if reader.isSparse(block) {
                    if wantStats, fillIsValid {
                        for b in 0..<bands { accumulators[b].merge(count: w * h, constant: fill) }
                    }
                    if wantSums, fill != 0 {
                        for b in 0..<bands {
                            sums[b] = (sums[b] + checksumOfConstant(fill, window: block, width: info.width)) & 0xffff
                        }
                    }
                } else {
                    let rowsPerPart = max(1, min(h, maxWindowPixels / max(w, 1)))
                    var r = 0
                    while r < h {
                        let part = RasterWindow(x: x, y: y + r, width: w, height: min(rowsPerPart, h - r))
                        let values = try reader.readDouble(part)
                        let n = part.pixelCount
                        for b in 0..<bands {
                            let slice = values[(b * n)..<((b + 1) * n)]
                            if wantStats { accumulators[b].add(slice, noData: info.noData) }
                            if wantSums {
                                sums[b] = (sums[b] + checksum(slice, window: part, width: info.width)) & 0xffff
                            }
                        }
                        r += part.height
                    }
                }
                x += w
            }
            y += h
        }
        return RasterAnalysis(statistics: wantStats ? accumulators.map { $0.statistics } : nil,
                              checksums: wantSums ? sums.map { Int($0) } : nil)
    }

    /// One sample's contribution, converted to Int32 the way GDAL's checksum converts.
    @inline(__always)
    static func checksumTerm(_ value: Double, prime: Int64) -> Int64 {
        let v: Int64
        if value.isNaN || value.isInfinite {
            v = Int64(Int32.min)
        } else {
            let shifted = value + 0.5
            if shifted < -2147483647.0 { v = -2147483647 } else if shifted > 2147483647 { v = 2147483647 } else {
                v = Int64(shifted.rounded(.down))
            }
        }
        return v % prime
    }

    static func checksum(_ values: ArraySlice<Double>, window: RasterWindow, width: Int) -> Int64 {
        var total: Int64 = 0
        var i = values.startIndex
        for row in window.y..<window.maxY {
            var p = (row * width + window.x) % 11
            for _ in 0..<window.width {
                total &+= checksumTerm(values[i], prime: primes[p])
                i += 1
                p = p == 10 ? 0 : p + 1
            }
        }
        return total & 0xffff
    }

    static func checksumOfConstant(_ value: Double, window: RasterWindow, width: Int) -> Int64 {
        var total: Int64 = 0
        var terms = [Int64](repeating: 0, count: 11)
        for p in 0..<11 { terms[p] = checksumTerm(value, prime: primes[p]) }
        for row in window.y..<window.maxY {
            var p = (row * width + window.x) % 11
            for _ in 0..<window.width {
                total &+= terms[p]
                p = p == 10 ? 0 : p + 1
            }
        }
        return total & 0xffff
    }

    /// Streaming mean and variance (Chan et al.'s pairwise merge of Welford accumulators).
    struct Accumulator {
        var count = 0
        var mean = 0.0
        var m2 = 0.0
        var minimum = Double.infinity
        var maximum = -Double.infinity

        mutating func add(_ values: ArraySlice<Double>, noData: NoData?) {
            var n = 0, m = 0.0, s = 0.0
            var lo = Double.infinity, hi = -Double.infinity
            for v in values where !v.isNaN {
                if let noData, noData.matches(v) { continue }
                n += 1
                let d = v - m
                m += d / Double(n)
                s += d * (v - m)
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
            }
            merge(count: n, mean: m, m2: s, minimum: lo, maximum: hi)
        }

        mutating func merge(count n: Int, constant: Double) {
            merge(count: n, mean: constant, m2: 0, minimum: constant, maximum: constant)
        }

        mutating func merge(count n: Int, mean m: Double, m2 s: Double, minimum lo: Double, maximum hi: Double) {
            guard n > 0 else { return }
            let total = count + n
            let delta = m - mean
            mean += delta * Double(n) / Double(total)
            m2 += s + delta * delta * Double(count) * Double(n) / Double(total)
            count = total
            minimum = Swift.min(minimum, lo)
            maximum = Swift.max(maximum, hi)
        }

        var statistics: BandStatistics {
            guard count > 0 else { return BandStatistics(validCount: 0) }
            return BandStatistics(validCount: count, minimum: minimum, maximum: maximum, mean: mean,
                                  standardDeviation: (m2 / Double(count)).squareRoot())
        }
    }
}
