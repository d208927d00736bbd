/// Number formats shared by the quicklook legend and the batch report; locale-free, so the same numbers
/// give the same text everywhere.
enum ReportFormatting {
    /// `part` as a percentage of `whole` with one decimal ("12.3 %"); "<0.1 %" for a share that rounds to
    /// zero but is not.
    static func percent(_ part: Int, of whole: Int) -> String {
        guard whole > 0 else { return "-" }
        let tenths = (part * 1000 + whole / 2) / whole
        if tenths == 0 && part > 0 { return "<0.1 %" }
        return "\(tenths / 10).\(tenths % 10) %"
    }

    /// An integer with thin-space thousands separators ("1 234 567").
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.insert(digits[start..<end], at: 0)
            end = start
        }
        return (value < 0 ? "-" : "") + groups.joined(separator: "\u{2009}")
    }

    /// Hectares with two decimals, grouped ("1 234.56").
    static func hectares(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = String(hundredths.magnitude % 100)
        return grouped(hundredths / 100) + "." + String(repeating: "0", count: 2 - fraction.count) + fraction
    }
}
