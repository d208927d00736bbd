/// `sums[i] = carried[i] + (columnWeights[i] × rowWeight) × values[i]` for `i < count`: one row of one
/// class of a tile blended onto the sums carried from earlier tiles (`carried` nil: none). With `values`
/// nil, the weights themselves are added: the weight sums beside the class sums. Contiguous and
/// branch-free, so it compiles to vector multiplies and adds (not fused, so the rounding is the scalar
/// expression's). `sums` may be `carried`.
public func blendRow(into sums: UnsafeMutablePointer<Float>, carried: UnsafePointer<Float>?, values: UnsafePointer<Float>?,
                     columnWeights: UnsafePointer<Float>, rowWeight: Float, count: Int) {
    switch (carried, values) {
    case let (carried?, values?):
        for i in 0..<count { sums[i] = carried[i] + (columnWeights[i] * rowWeight) * values[i] }
    case let (nil, values?):
        for i in 0..<count { sums[i] = (columnWeights[i] * rowWeight) * values[i] }
    case let (carried?, nil):
        for i in 0..<count { sums[i] = carried[i] + columnWeights[i] * rowWeight }
    case (nil, nil):
        for i in 0..<count { sums[i] = columnWeights[i] * rowWeight }
    }
}
