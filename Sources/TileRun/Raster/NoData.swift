import Foundation

/// The value that marks "no data" pixels (GDAL_NODATA, TIFF tag 42113).
public struct NoData: Equatable, Sendable, Codable {
    /// The tag's text as stored, e.g. "0", "-9999", "nan".
    public let text: String
    /// The parsed value; NaN for "nan".
    public let value: Double

    public init(value: Double) {
        self.value = value
        if value.isNaN { text = "nan" } else if value == value.rounded(), abs(value) < 1e15 {
            text = String(Int64(value))
        } else { text = "\(value)" }
    }

    /// Parses the tag's text as GDAL does: a number, "nan", "inf" or "-inf", surrounding blanks ignored.
    public init?(text raw: String) {
        let text = raw.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0")))
        let lower = text.lowercased()
        let parsed: Double?
        switch lower {
        case "nan", "-nan", "+nan": parsed = .nan
        case "inf", "+inf", "infinity": parsed = .infinity
        case "-inf", "-infinity": parsed = -.infinity
        default: parsed = Double(text)
        }
        guard let parsed else { return nil }
        self.text = text
        value = parsed
    }

    public static func == (a: NoData, b: NoData) -> Bool {
        a.text == b.text && (a.value == b.value || (a.value.isNaN && b.value.isNaN))
    }

    /// Why this value cannot occur in samples of `type`, or nil when it can.
    public func problem(for type: SampleType) -> String? {
        if type.isFloatingPoint {
            if value.isNaN || value.isInfinite { return nil }
            return type.valueRange.contains(value) ? nil : "nodata \(text) is outside the range of \(type.rawValue)"
        }
        if !value.isFinite || value != value.rounded() {
            return "nodata \(text) is not an integer, but the samples are \(type.rawValue)"
        }
        return type.valueRange.contains(value) ? nil : "nodata \(text) is outside the range of \(type.rawValue)"
    }

    /// The same nodata value held at the precision of `type`, as samples of that type compare with it.
    public func rounded(to type: SampleType) -> NoData {
        guard type == .float32, value.isFinite else { return self }
        return NoData(text: text, value: Double(Float(value)))
    }

    private init(text: String, value: Double) {
        self.text = text
        self.value = value
    }

    /// True when `sample` is this nodata value (NaN matches NaN).
    @inline(__always)
    public func matches(_ sample: Double) -> Bool {
        value.isNaN ? sample.isNaN : sample == value
    }
}

