/// Copies input row `row` of one channel plane into a buffer row of `rowLength` floats where column j
/// holds input column j − padLeft: zero outside the input, and all zero for a row outside the plane.
func copyInputRow(_ s: ConvShape, _ plane: UnsafePointer<Float>, row: Int, rowLength: Int,
                  into dst: UnsafeMutablePointer<Float>) {
    guard row >= 0, row < s.height else {
        dst.update(repeating: 0, count: rowLength)
        return
    }
    let left = min(s.padLeft, rowLength)
    let copied = max(0, min(s.width, rowLength - left))
    dst.update(repeating: 0, count: left)
    (dst + left).update(from: plane + row * s.width, count: copied)
    (dst + left + copied).update(repeating: 0, count: rowLength - left - copied)
}

/// Gathers the patches of output pixels `pixel ..< pixel + count` (flattened row-major over the output
/// plane) for input channels `channels` into one k-major micro-panel per 16 pixels, `panelStride` floats
/// apart: row k = (c, ky, kx) of a panel holds 16 values, zero where the tap falls in the padding or the
/// pixel is past `count`.
///
/// The loops run k outermost and pixels innermost so that the input is read row by row, sequentially:
/// channel planes are often a multiple of 4 KiB apart, and reading one pixel's whole patch at a time
/// makes the caches thrash on them.
func packPatches(_ s: ConvShape, _ input: UnsafePointer<Float>, channels: Range<Int>, pixel: Int, count: Int,
                 panelStride: Int, into dst: UnsafeMutablePointer<Float>) {
    let planeSize = s.height * s.width
    let tiles = (count + tileColumns - 1) / tileColumns
    let fullTiles = count / tileColumns
    if s.isPointwise {
        var d = dst
        for c in channels {
            let src = input + c * planeSize + pixel
            for t in 0..<fullTiles {
                storeVector(loadVector(src + t * tileColumns), d + t * panelStride)
                storeVector(loadVector(src + t * tileColumns + 8), d + t * panelStride + 8)
            }
            d += tileColumns
        }
        if fullTiles < tiles {
            packPatchesAnyPixels(s, input, channels: channels, pixel: pixel + fullTiles * tileColumns,
                                 count: count - fullTiles * tileColumns, into: dst + fullTiles * panelStride)
        }
        return
    }
    // Tiles whose 16 pixels lie in one output row, as (first input row, first input column, panel
    // offset, kind); the others (wrapping rows or ending the plane) go lane by lane. Kind 1: every tap's
    // 16 inputs are contiguous and inside the row; 2: the same at stride 2; 0: anything else.
    let reach = (s.kw - 1) * s.dx
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * tiles) { rowTile in
        var rowTiles = 0
        for t in 0..<tiles {
            let p = pixel + t * tileColumns, y = p / s.outWidth, x = p % s.outWidth
            guard t < fullTiles, x + tileColumns <= s.outWidth else {
                packPatchesAnyPixels(s, input, channels: channels, pixel: p,
                                     count: min(tileColumns, count - t * tileColumns), into: dst + t * panelStride)
                continue
            }
            let ix = x * s.sx - s.padLeft
            rowTile[4 * rowTiles] = y * s.sy - s.padTop
            rowTile[4 * rowTiles + 1] = ix
            rowTile[4 * rowTiles + 2] = t * panelStride
            rowTile[4 * rowTiles + 3] = ix < 0 || s.sx > 2 || ix + reach + s.sx * tileColumns > s.width ? 0 : s.sx
            rowTiles += 1
        }
        let taps = s.kh * s.kw
        for c in channels {
            let plane = input + c * planeSize
            for ky in 0..<s.kh {
                let k = (c - channels.lowerBound) * taps + ky * s.kw
                for r in 0..<rowTiles {
                    let d = dst + rowTile[4 * r + 2] + k * tileColumns
                    let iy = rowTile[4 * r] + ky * s.dy
                    guard iy >= 0, iy < s.height else {
                        d.update(repeating: 0, count: s.kw * tileColumns)
                        continue
                    }
                    let src = plane + iy * s.width + rowTile[4 * r + 1]
                    switch rowTile[4 * r + 3] {
                    case 1:
                        for kx in 0..<s.kw {
                            storeVector(loadVector(src + kx * s.dx), d + kx * tileColumns)
                            storeVector(loadVector(src + kx * s.dx + 8), d + kx * tileColumns + 8)
                        }
                    case 2:
                        for kx in 0..<s.kw {
                            let p = UnsafeRawPointer(src + kx * s.dx)
                            storeVector(p.loadUnaligned(as: SIMD16<Float>.self).evenHalf, d + kx * tileColumns)
                            storeVector(p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self).evenHalf,
                                        d + kx * tileColumns + 8)
                        }
                    default:
                        let ix0 = rowTile[4 * r + 1]
                        let row = plane + iy * s.width
                        for kx in 0..<s.kw {
                            for j in 0..<tileColumns {
                                let ix = ix0 + kx * s.dx + j * s.sx
                                d[kx * tileColumns + j] = ix >= 0 && ix < s.width ? row[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `packPatches` for pixels that wrap to the next output row or end the plane: lane by lane.
private func packPatchesAnyPixels(_ s: ConvShape, _ input: UnsafePointer<Float>, channels: Range<Int>,
                                  pixel: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
    var iy0 = SIMD16<Int32>(), ix0 = SIMD16<Int32>()
    for j in 0..<count {
        iy0[j] = Int32((pixel + j) / s.outWidth * s.sy - s.padTop)
        ix0[j] = Int32((pixel + j) % s.outWidth * s.sx - s.padLeft)
    }
    let planeSize = s.height * s.width
    var d = dst
    for c in channels {
        let plane = input + c * planeSize
        for ky in 0..<s.kh {
            for kx in 0..<s.kw {
                for j in 0..<tileColumns {
                    let iy = Int(iy0[j]) + ky * s.dy, ix = Int(ix0[j]) + kx * s.dx
                    d[j] = j < count && iy >= 0 && iy < s.height && ix >= 0 && ix < s.width
                        ? plane[iy * s.width + ix] : 0
                }
                d += tileColumns
            }
        }
    }
}
