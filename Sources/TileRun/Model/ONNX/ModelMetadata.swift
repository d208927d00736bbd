import Foundation

/// What a model says about how to run it, read from its metadata_props (docs/model-metadata.md).
///
/// tilerun's own keys:
///
/// | key | value |
/// |---|---|
/// | `tilerun.classes` | JSON list of `{"value": 0, "name": "background", "color": "#RRGGBB"}` (color optional) |
/// | `tilerun.bands` | 1-based source bands in model channel order, e.g. `3,2,1` |
/// | `tilerun.normalization.scale` | factor applied to raw pixel values first, e.g. `0.003921568` or `1/255` (default 1) |
/// | `tilerun.normalization.mean` | comma list, one value or one per channel, on the scaled scale (default 0) |
/// | `tilerun.normalization.std` | comma list, one value or one per channel, on the scaled scale (default 1) |
/// | `tilerun.tile_size` | model input tile side in pixels |
/// | `tilerun.tile_overlap` | overlap between neighbouring tiles in pixels |
/// | `tilerun.input_kind` | `single`, or `pre-post` for change/damage models fed pre and post scenes stacked |
/// | `tilerun.resolution_m` | ground resolution the model was trained at, metres per pixel |
///
/// The model input is `(pixel × scale − mean) / std` per channel, where pixel is the band's value
/// as stored (0–255 for 8-bit imagery, e.g. 0–10000 for Sentinel-2 L2A reflectance).
///
/// The Deepness QGIS plugin's keys are read too (values JSON-encoded, or Python literals):
/// `class_names` (or the older `names`) `{"0": "background", ...}` or a list of such dicts, one per
/// output (the first is used); `tiles_size` (or `tile_size`) in pixels; `tiles_overlap` in percent of
/// the tile; `standardization_mean`/`standardization_std` lists applied after Deepness's implicit
/// division by 255 (so scale 1/255); `resolution` in centimetres per pixel. Where both name the same
/// thing, tilerun's key wins; any `tilerun.normalization.*` key replaces Deepness's normalization
/// as a whole, because the two are on different scales. Every property, known or not, stays in `raw`.
public struct ModelMetadata: Equatable, Sendable {
    /// One output class.
    public struct ModelClass: Equatable, Sendable {
        /// The value written to the class map.
        public var value: Int
        public var name: String
        /// The palette colour for the class map, if the model gives one.
        public var color: PaletteColor?

        public init(value: Int, name: String, color: PaletteColor? = nil) {
            self.value = value
            self.name = name
            self.color = color
        }
    }

    /// Per-channel input normalization: `(pixel × scale − mean[c]) / std[c]`.
    public struct Normalization: Equatable, Sendable {
        public var scale: Double
        /// One value for every channel, or one per channel.
        public var mean: [Double]
        /// One value for every channel, or one per channel; never zero.
        public var std: [Double]

        public init(scale: Double = 1, mean: [Double] = [0], std: [Double] = [1]) {
            self.scale = scale
            self.mean = mean
            self.std = std
        }

        /// The normalization of `channel` as one multiply-add: `pixel × multiply + add`.
        public func affine(channel: Int) -> (multiply: Double, add: Double) {
            let m = mean.count == 1 ? mean[0] : mean[channel]
            let s = std.count == 1 ? std[0] : std[channel]
            return (scale / s, -m / s)
        }
    }

    /// What the model's input holds.
    public enum InputKind: String, Sendable {
        /// One scene's bands.
        case single
        /// A pre-event and a post-event scene's bands stacked (e.g. 6 channels for RGB pairs).
        case prePost = "pre-post"
    }

    public enum TileOverlap: Equatable, Sendable {
        case pixels(Int)
        /// Percent of the tile side, as Deepness writes it.
        case percent(Double)

        /// The overlap in pixels for tiles of `tileSize`.
        public func pixels(tileSize: Int) -> Int {
            switch self {
            case .pixels(let p): return p
            case .percent(let p): return Int((Double(tileSize) * p / 100).rounded())
            }
        }
    }

    /// Output classes, ordered by value.
    public var classes: [ModelClass]?
    /// 1-based source band per model channel.
    public var bands: [Int]?
    public var normalization: Normalization?
    public var tileSize: Int?
    public var tileOverlap: TileOverlap?
    public var inputKind: InputKind?
    /// Training ground resolution, metres per pixel.
    public var resolutionMeters: Double?
    /// Every metadata property as stored, including the ones above and keys tilerun does not know.
    public var raw: [String: String]

    /// Reads `properties`; a known key with a malformed value throws a `ModelError` naming `source`
    /// and the key.
    public init(properties: [String: String], source: String = "model") throws {
        raw = properties
        let reader = Reader(properties: properties, source: source)
        classes = try reader.tileRunClasses() ?? reader.deepnessClasses()
        bands = try reader.value("tilerun.bands", "1-based band numbers such as \"1,2,3\"") { text in
            guard let list = reader.numbers(text), !list.isEmpty,
                  list.allSatisfy({ $0 >= 1 && $0 < 65536 && $0.rounded() == $0 }) else { return nil }
            return list.map { Int($0) }
        }
        normalization = try reader.tileRunNormalization() ?? reader.deepnessNormalization()
        tileSize = try reader.value("tilerun.tile_size", "a positive whole number of pixels") { text in
            MetadataLiteral(parsing: text)?.integer.flatMap { $0 > 0 ? $0 : nil }
        } ?? reader.deepnessTileSize()
        tileOverlap = try reader.value("tilerun.tile_overlap", "a whole number of pixels, 0 or more") { text in
            MetadataLiteral(parsing: text)?.integer.flatMap { $0 >= 0 ? TileOverlap.pixels($0) : nil }
        } ?? reader.value("tiles_overlap", "a percentage from 0 to 99") { text in
            MetadataLiteral(parsing: text)?.number.flatMap { $0 >= 0 && $0 < 100 ? TileOverlap.percent($0) : nil }
        }
        inputKind = try reader.value("tilerun.input_kind", "\"single\" or \"pre-post\"") { text in
            InputKind(rawValue: text.trimmingCharacters(in: .whitespaces))
        }
        resolutionMeters = try reader.value("tilerun.resolution_m", "a positive number of metres per pixel") { text in
            MetadataLiteral(parsing: text)?.number.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
        } ?? reader.value("resolution", "a positive number of centimetres per pixel") { text in
            MetadataLiteral(parsing: text)?.number.flatMap { $0 > 0 && $0.isFinite ? $0 / 100 : nil }
        }
        if let tileSize, case .pixels(let overlap) = tileOverlap, overlap >= tileSize {
            let problem = "metadata: tile overlap \(overlap) is not smaller than tile size \(tileSize)"
            throw ModelError(path: source, problem: problem)
        }
    }

    /// Reads and checks individual properties.
    private struct Reader {
        let properties: [String: String]
        let source: String

        func fail(_ key: String, _ expected: String) -> ModelError {
            let text = properties[key] ?? ""
            let shown = text.count > 80 ? String(text.prefix(80)) + "…" : text
            return ModelError(path: source, problem: "metadata '\(key)': expected \(expected), got '\(shown)'")
        }

        /// The parsed value of `key`, nil when absent; throws when present but `parse` rejects it.
        func value<T>(_ key: String, _ expected: String, _ parse: (String) -> T?) throws -> T? {
            guard let text = properties[key] else { return nil }
            guard let value = parse(text) else { throw fail(key, expected) }
            return value
        }

        /// Numbers written as "1,2,3", "1 2 3", or a JSON or Python list.
        func numbers(_ text: String) -> [Double]? {
            if let literal = MetadataLiteral(parsing: text), case .list(let items) = literal {
                let values = items.compactMap(\.number)
                return values.count == items.count && values.allSatisfy(\.isFinite) ? values : nil
            }
            let parts = text.split(whereSeparator: { $0 == "," || $0 == " " })
            let values = parts.compactMap { Double($0) }
            return values.count == parts.count && values.allSatisfy(\.isFinite) ? values : nil
        }

        func tileRunClasses() throws -> [ModelClass]? {
            let key = "tilerun.classes"
            let expected = "a JSON list of {\"value\", \"name\", \"color\": \"#RRGGBB\"} with distinct values"
            return try value(key, expected) { text in
                guard let literal = MetadataLiteral(parsing: text), case .list(let items) = literal else { return nil }
                var classes: [ModelClass] = []
                for item in items {
                    guard case .dict(let entries) = item else { return nil }
                    var fields: [String: MetadataLiteral] = [:]
                    for entry in entries {
                        guard case .string(let name) = entry.key else { return nil }
                        fields[name] = entry.value
                    }
                    guard let value = fields["value"]?.integer, value >= 0,
                          case .string(let name)? = fields["name"] else { return nil }
                    var color: PaletteColor?
                    if let c = fields["color"] {
                        guard case .string(let hex) = c, let parsed = ModelMetadata.color(hex) else { return nil }
                        color = parsed
                    }
                    classes.append(ModelClass(value: value, name: name, color: color))
                }
                return ModelMetadata.distinctSorted(classes)
            }
        }

        func deepnessClasses() throws -> [ModelClass]? {
            let key = properties["class_names"] != nil ? "class_names" : "names"
            return try value(key, "a dict of class id to name, such as {\"0\": \"background\"}") { text in
                guard var literal = MetadataLiteral(parsing: text) else { return nil }
                // A list holds one dict per model output; the segmentation map is the first.
                if case .list(let outputs) = literal, let first = outputs.first { literal = first }
                guard case .dict(let entries) = literal else { return nil }
                var classes: [ModelClass] = []
                for entry in entries {
                    guard let value = entry.key.integer, value >= 0,
                          case .string(let name) = entry.value else { return nil }
                    classes.append(ModelClass(value: value, name: name))
                }
                return ModelMetadata.distinctSorted(classes)
            }
        }

        func tileRunNormalization() throws -> Normalization? {
            let keys = ["tilerun.normalization.scale", "tilerun.normalization.mean", "tilerun.normalization.std"]
            guard keys.contains(where: { properties[$0] != nil }) else { return nil }
            let scale = try value(keys[0], "a positive number such as 0.00392 or 1/255") { text -> Double? in
                let parts = text.split(separator: "/").map { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count <= 2, let first = parts.first ?? nil else { return nil }
                let divisor = parts.count == 2 ? parts[1] : 1
                guard let divisor, divisor != 0 else { return nil }
                let result = first / divisor
                return result > 0 && result.isFinite ? result : nil
            } ?? 1
            return try normalization(scale: scale, meanKey: keys[1], stdKey: keys[2])
        }

        func deepnessNormalization() throws -> Normalization? {
            guard properties["standardization_mean"] != nil || properties["standardization_std"] != nil else {
                return nil
            }
            return try normalization(scale: 1.0 / 255, meanKey: "standardization_mean", stdKey: "standardization_std")
        }

        private func normalization(scale: Double, meanKey: String, stdKey: String) throws -> Normalization {
            let mean = try value(meanKey, "one number, or one per channel") { text in
                numbers(text).flatMap { $0.isEmpty ? nil : $0 }
            } ?? [0]
            let std = try value(stdKey, "one positive number, or one per channel") { text in
                numbers(text).flatMap { $0.isEmpty || $0.contains { $0 <= 0 } ? nil : $0 }
            } ?? [1]
            guard mean.count == std.count || mean.count == 1 || std.count == 1 else {
                let problem = "metadata: \(mean.count) normalization means but \(std.count) standard deviations"
                throw ModelError(path: source, problem: problem)
            }
            return Normalization(scale: scale, mean: mean, std: std)
        }

        func deepnessTileSize() throws -> Int? {
            // Deepness documents `tiles_size`; its code reads `tile_size`.
            for key in ["tiles_size", "tile_size"] {
                if let size = try value(key, "a positive whole number of pixels", { text in
                    MetadataLiteral(parsing: text)?.integer.flatMap { $0 > 0 ? $0 : nil }
                }) {
                    return size
                }
            }
            return nil
        }
    }

    /// Classes sorted by value; nil when two share a value.
    private static func distinctSorted(_ classes: [ModelClass]) -> [ModelClass]? {
        let sorted = classes.sorted { $0.value < $1.value }
        return Set(sorted.map(\.value)).count == sorted.count ? sorted : nil
    }

    /// "#RRGGBB" (the # optional), case-insensitive.
    static func color(_ text: String) -> PaletteColor? {
        let hex = text.hasPrefix("#") ? String(text.dropFirst()) : text
        guard hex.count == 6, hex.allSatisfy(\.isHexDigit), let value = UInt32(hex, radix: 16) else { return nil }
        return PaletteColor(red: UInt8(value >> 16), green: UInt8(value >> 8 & 0xFF), blue: UInt8(value & 0xFF))
    }
}
