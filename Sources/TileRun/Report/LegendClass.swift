import Foundation

/// A class as the quicklook legend and the batch report show it.
public struct LegendClass: Equatable, Sendable, Codable {
    /// The value in the class map.
    public var value: Int
    public var name: String
    /// The class map's palette colour; written as "#RRGGBB" in JSON.
    public var color: PaletteColor

    public init(value: Int, name: String, color: PaletteColor) {
        self.value = value
        self.name = name
        self.color = color
    }

    private enum CodingKeys: String, CodingKey { case value, name, color }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        value = try container.decode(Int.self, forKey: .value)
        name = try container.decode(String.self, forKey: .name)
        let hex = try container.decode(String.self, forKey: .color)
        guard let color = ModelMetadata.color(hex) else {
            throw DecodingError.dataCorruptedError(forKey: .color, in: container, debugDescription: "not a #RRGGBB colour: \(hex)")
        }
        self.color = color
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(value, forKey: .value)
        try container.encode(name, forKey: .name)
        try container.encode(color.hex, forKey: .color)
    }
}

extension PaletteColor {
    /// "#RRGGBB".
    var hex: String { String(format: "#%02X%02X%02X", red, green, blue) }
}
