/// `sums[i] += (columnWeights[i] × rowWeight) × values[i]` for `i < count`: one row of one class of a
/// tile blended into its accumulator. Contiguous and branch-free, so it compiles to vector multiplies
/// and adds (not fused, so the rounding is the scalar expression's).
public func addWeightedRow(_ sums: UnsafeMutablePointer<Float>, _ values: UnsafePointer<Float>,
                           columnWeights: UnsafePointer<Float>, rowWeight: Float, count: Int) {
    for i in 0..<count { sums[i] += (columnWeights[i] * rowWeight) * values[i] }
}

/// `weights[i] += columnWeights[i] × rowWeight` for `i < count`: the weight sums beside `addWeightedRow`.
public func addRowWeights(_ weights: UnsafeMutablePointer<Float>, columnWeights: UnsafePointer<Float>,
                          rowWeight: Float, count: Int) {
    for i in 0..<count { weights[i] += columnWeights[i] * rowWeight }
}
