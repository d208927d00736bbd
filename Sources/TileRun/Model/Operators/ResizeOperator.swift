import Foundation

/// Resize (opsets 10–19) and Upsample: nearest and (multi)linear interpolation over any axes, with every
/// coordinate_transformation_mode and nearest_mode the specification defines.
struct ResizeOperator: Operator {
    enum Mode: String { case nearest, linear }
    let node: NodeSpec
    let mode: Mode
    let coordinateMode: String
    let nearestMode: String
    let extrapolation: Float
    let excludeOutside: Bool
    let axes: [Int]?
    let keepAspect: String
    let legacyScales: [Float]?
    let isUpsample: Bool
    let opset: Int

    init(_ setup: OperatorSetup) throws {
        node = setup.node
        opset = setup.opset
        isUpsample = node.opType == "Upsample"
        try node.onlyAttributes(["mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                                 "exclude_outside", "extrapolation_value", "antialias", "axes",
                                 "keep_aspect_ratio_policy", "scales"])
        var m = try node.string("mode", default: "nearest")
        if m == "bilinear" || m == "trilinear" { m = "linear" }
        guard let mode = Mode(rawValue: m) else { throw GraphError(node, "mode '\(m)' is not supported (nearest, linear)") }
        self.mode = mode
        let defaultCoordinates = (isUpsample || setup.opset < 11) ? "asymmetric" : "half_pixel"
        coordinateMode = try node.string("coordinate_transformation_mode", default: defaultCoordinates)
        guard ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
               "tf_crop_and_resize"].contains(coordinateMode) else {
            throw GraphError(node, "coordinate_transformation_mode '\(coordinateMode)' is not supported")
        }
        // Upsample and Resize-10 pick the floor; Resize-11 introduced nearest_mode.
        nearestMode = try node.string("nearest_mode", default: (isUpsample || setup.opset < 11) ? "floor" : "round_prefer_floor")
        guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearestMode) else {
            throw GraphError(node, "nearest_mode '\(nearestMode)' is not supported")
        }
        extrapolation = try node.float("extrapolation_value", default: 0)
        excludeOutside = try node.int("exclude_outside", default: 0) != 0
        guard try node.int("antialias", default: 0) == 0 else { throw GraphError(node, "antialias is not supported") }
        axes = try node.ints("axes")
        keepAspect = try node.string("keep_aspect_ratio_policy", default: "stretch")
        guard ["stretch", "not_larger", "not_smaller"].contains(keepAspect) else {
            throw GraphError(node, "keep_aspect_ratio_policy '\(keepAspect)' is not supported")
        }
        legacyScales = try node.floats("scales")
    }

    /// What one Resize computes from, whichever executor runs it: the output shape and, per axis and
    /// output coordinate, the source taps (1 for nearest, 2 for linear) and whether it lies outside the crop.
    struct Plan {
        var outShape: [Int]
        var taps: [[(index: Int, weight: Float)]]
        var tapsPerAxis: [Int]
        var outside: [[Bool]]
    }

    func plan(_ inputs: [Tensor?], inputShape: [Int]) throws -> Plan {
        let rank = inputShape.count
        // Inputs: Upsample(X, scales); Resize-10(X, scales); Resize-11+(X, roi, scales, sizes).
        var roi: [Float]?
        var scalesIn: [Float]?
        var sizesIn: [Int]?
        if isUpsample || opset < 11 {
            scalesIn = legacyScales ?? (inputs.count > 1 ? inputs[1]?.floatValues : nil)
        } else {
            if inputs.count > 1, let r = inputs[1], r.count > 0 { roi = r.floatValues }
            if inputs.count > 2, let s = inputs[2], s.count > 0 { scalesIn = s.floatValues }
            if inputs.count > 3, let s = inputs[3], s.count > 0 { sizesIn = s.integerValues.map { Int($0) } }
        }
        let axisList = try (axes ?? Array(0..<rank)).map { try normalizedAxis($0, rank: rank, node) }
        var scales = [Float](repeating: 1, count: rank)
        var outShape = inputShape
        if let sizesIn {
            guard sizesIn.count == axisList.count else { throw GraphError(node, "sizes has \(sizesIn.count) values for \(axisList.count) axes") }
            var sizes = sizesIn
            if keepAspect != "stretch" {
                let ratios = axisList.enumerated().map { Float(sizes[$0.offset]) / Float(inputShape[$0.element]) }
                let r = keepAspect == "not_larger" ? ratios.min()! : ratios.max()!
                sizes = axisList.map { Int((Float(inputShape[$0]) * r).rounded(.toNearestOrEven)) }
                for (i, a) in axisList.enumerated() { scales[a] = r; outShape[a] = sizes[i] }
            } else {
                for (i, a) in axisList.enumerated() { outShape[a] = sizes[i]; scales[a] = Float(sizes[i]) / Float(inputShape[a]) }
            }
        } else if let scalesIn {
            guard scalesIn.count == axisList.count else { throw GraphError(node, "scales has \(scalesIn.count) values for \(axisList.count) axes") }
            for (i, a) in axisList.enumerated() {
                guard scalesIn[i] > 0 else { throw GraphError(node, "scale \(scalesIn[i]) must be positive") }
                scales[a] = scalesIn[i]
                outShape[a] = Int((Float(inputShape[a]) * scalesIn[i]).rounded(.down))
            }
        } else {
            throw GraphError(node, "neither scales nor sizes is given")
        }
        var roiStart = [Float](repeating: 0, count: rank), roiEnd = [Float](repeating: 1, count: rank)
        if let roi, coordinateMode == "tf_crop_and_resize" {
            guard roi.count == 2 * axisList.count else { throw GraphError(node, "roi has \(roi.count) values") }
            for (i, a) in axisList.enumerated() { roiStart[a] = roi[i]; roiEnd[a] = roi[i + axisList.count] }
        }

        // Per axis and output coordinate: source positions and weights (1 tap for nearest, 2 for linear).
        var taps: [[(index: Int, weight: Float)]] = []
        var outside: [[Bool]] = []
        var tapsPerAxis: [Int] = []
        for d in 0..<rank {
            let inLen = inputShape[d], outLen = outShape[d]
            var axisTaps: [(Int, Float)] = []
            var axisOutside: [Bool] = []
            let count = (mode == .linear && inLen > 1 && (scales[d] != 1 || outLen != inLen || coordinateMode == "tf_crop_and_resize")) ? 2 : 1
            tapsPerAxis.append(count)
            for o in 0..<outLen {
                let src = sourceCoordinate(o, scale: scales[d], inLength: inLen, outLength: outLen,
                                           roiStart: roiStart[d], roiEnd: roiEnd[d])
                let isOutside = coordinateMode == "tf_crop_and_resize" && (src < 0 || src > Float(inLen - 1))
                axisOutside.append(isOutside)
                if count == 1 {
                    var i: Int
                    if mode == .nearest { i = nearest(src) } else { i = Int(src.rounded(.down)) }
                    i = min(max(i, 0), inLen - 1)
                    axisTaps.append((i, 1))
                } else {
                    let c = min(max(src, 0), Float(inLen - 1))
                    let i0 = min(Int(c.rounded(.down)), inLen - 1)
                    let i1 = min(i0 + 1, inLen - 1)
                    let f = c - Float(i0)
                    axisTaps.append((i0, 1 - f))
                    axisTaps.append((i1, f))
                }
            }
            taps.append(axisTaps)
            outside.append(axisOutside)
        }
        return Plan(outShape: outShape, taps: taps, tapsPerAxis: tapsPerAxis, outside: outside)
    }

    func run(_ inputs: [Tensor?], _ context: ExecutionContext) throws -> [Tensor] {
        let (x, values) = try inputs.floats(0, node)
        let rank = x.rank
        let plan = try self.plan(inputs, inputShape: x.shape)
        let (outShape, taps, tapsPerAxis, outside) = (plan.outShape, plan.taps, plan.tapsPerAxis, plan.outside)

        if rank == 4, x.shape[0] == outShape[0], x.shape[1] == outShape[1],
           !outside[2].contains(true), !outside[3].contains(true) {
            return [resizePlanes(values, x.shape, outShape, rowTaps: taps[2], rowCount: tapsPerAxis[2],
                                 columnTaps: taps[3], columnCount: tapsPerAxis[3], threads: context.threads)]
        }
        let inStrides = strides(of: x.shape)
        let total = outShape.reduce(1, *)
        var out = [Float](repeating: 0, count: total)
        var counter = [Int](repeating: 0, count: rank)
        let combos = tapsPerAxis.reduce(1, *)
        for i in 0..<total {
            var isOutside = false
            for d in 0..<rank where outside[d][counter[d]] { isOutside = true }
            if isOutside {
                out[i] = extrapolation
            } else {
                var sum: Float = 0
                for c in 0..<combos {
                    var r = c
                    var offset = 0
                    var w: Float = 1
                    for d in stride(from: rank - 1, through: 0, by: -1) {
                        let t = r % tapsPerAxis[d]
                        r /= tapsPerAxis[d]
                        let tap = taps[d][counter[d] * tapsPerAxis[d] + t]
                        offset += tap.index * inStrides[d]
                        w *= tap.weight
                    }
                    if w != 0 { sum += w * values[offset] }
                }
                out[i] = sum
            }
            advance(&counter, within: outShape)
        }
        return [Tensor(shape: outShape, floats: out)]
    }

    /// The common case, N and C unchanged: each output value mixes at most 2×2 source values of its plane.
    /// Separable: each source row a plane needs is resampled along x once, into one of two row buffers
    /// (consecutive output rows share their source rows), then output rows blend those. The sums are the
    /// same, in the same order, as mixing the 2×2 values pixel by pixel. Planes run in parallel.
    private func resizePlanes(_ values: [Float], _ inShape: [Int], _ outShape: [Int],
                              rowTaps: [(index: Int, weight: Float)], rowCount: Int,
                              columnTaps: [(index: Int, weight: Float)], columnCount: Int, threads: Int) -> Tensor {
        let planes = inShape[0] * inShape[1]
        let (ih, iw, oh, ow) = (inShape[2], inShape[3], outShape[2], outShape[3])
        let columnIndex = columnTaps.map(\.index), columnWeight = columnTaps.map(\.weight)
        return Tensor(shape: outShape) { out in
            values.withUnsafeBufferPointer { src in
                columnIndex.withUnsafeBufferPointer { ci in
                    columnWeight.withUnsafeBufferPointer { cw in
                        parallelChunks(planes, threads: threads) { range in
                            let rows = UnsafeMutablePointer<Float>.allocate(capacity: 2 * ow)
                            defer { rows.deallocate() }
                            for p in range {
                                let plane = src.baseAddress! + p * ih * iw
                                // Source row held by each buffer: rows r and r + 1 never share one.
                                var held = (-1, -1)
                                func resampled(_ r: Int) -> UnsafeMutablePointer<Float> {
                                    let buffer = rows + (r & 1) * ow
                                    if (r & 1 == 0 ? held.0 : held.1) == r { return buffer }
                                    let row = plane + r * iw
                                    for x in 0..<ow {
                                        var acc: Float = 0
                                        for t in (x * columnCount)..<((x + 1) * columnCount) where cw[t] != 0 {
                                            acc += cw[t] * row[ci[t]]
                                        }
                                        buffer[x] = acc
                                    }
                                    if r & 1 == 0 { held.0 = r } else { held.1 = r }
                                    return buffer
                                }
                                for y in 0..<oh {
                                    let target = out.baseAddress! + (p * oh + y) * ow
                                    target.update(repeating: 0, count: ow)
                                    for t in (y * rowCount)..<((y + 1) * rowCount) where rowTaps[t].weight != 0 {
                                        let weight = rowTaps[t].weight
                                        let source = resampled(rowTaps[t].index)
                                        for x in 0..<ow { target[x] += weight * source[x] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private func sourceCoordinate(_ o: Int, scale: Float, inLength: Int, outLength: Int,
                                  roiStart: Float, roiEnd: Float) -> Float {
        let x = Float(o)
        switch coordinateMode {
        case "half_pixel": return (x + 0.5) / scale - 0.5
        case "half_pixel_symmetric":
            let adjustment = Float(outLength) / (scale * Float(inLength))
            let center = Float(inLength) / 2
            let offset = center * (1 - adjustment)
            return offset + (x + 0.5) / scale - 0.5
        case "pytorch_half_pixel": return outLength > 1 ? (x + 0.5) / scale - 0.5 : 0
        case "align_corners":
            // The specification's length_resized is in·scale, which need not be a whole number.
            let resized = Float(inLength) * scale
            return outLength > 1 ? x * Float(inLength - 1) / (resized - 1) : 0
        case "tf_crop_and_resize":
            if outLength > 1 {
                return roiStart * Float(inLength - 1) + x * (roiEnd - roiStart) * Float(inLength - 1) / Float(outLength - 1)
            }
            return 0.5 * (roiStart + roiEnd) * Float(inLength - 1)
        default: return x / scale
        }
    }

    private func nearest(_ v: Float) -> Int {
        switch nearestMode {
        case "floor": return Int(v.rounded(.down))
        case "ceil": return Int(v.rounded(.up))
        case "round_prefer_ceil": return Int(v.rounded(.toNearestOrAwayFromZero)) // ties go up for v ≥ 0
        default:
            // Ties go down: round half toward negative infinity.
            let f = v.rounded(.down)
            return v - f == 0.5 ? Int(f) : Int(v.rounded())
        }
    }
}
