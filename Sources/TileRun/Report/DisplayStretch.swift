/// Maps one band's values linearly to display bytes: `low` to 0, `high` to 255, clamped.
struct DisplayStretch: Equatable, Sendable {
    let low: Double
    let high: Double

    /// Values that already are display bytes (8-bit imagery) stay as they are.
    static let identity = DisplayStretch(low: 0, high: 255)

    init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }

    /// The stretch from the `lower` to the `upper` quantile of `values` (nearest rank).
    init(quantilesOf values: [Double], lower: Double = 0.02, upper: Double = 0.98) {
        let sorted = values.sorted()
        guard !sorted.isEmpty else {
            self = .identity
            return
        }
        func quantile(_ q: Double) -> Double { sorted[Int((Double(sorted.count - 1) * q).rounded())] }
        self.init(low: quantile(lower), high: quantile(upper))
    }

    /// The display byte for `value`; mid-grey for a band with no spread.
    func byte(_ value: Double) -> UInt8 {
        guard high > low else { return 128 }
        return UInt8(max(0, min(255, ((value - low) / (high - low) * 255).rounded())))
    }
}
