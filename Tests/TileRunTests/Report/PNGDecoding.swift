import CPNG
import Foundation
@testable import TileRun

/// libpng's message for a PNG it could not read.
struct PNGDecodeError: Error, CustomStringConvertible {
    let description: String
}

/// Reads a PNG back through libpng's simplified reading API, as 8-bit RGB.
func decodePNG(_ path: String) throws -> RGBImage {
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    defer { png_image_free(&image) }
    func failure() -> PNGDecodeError {
        PNGDecodeError(description: path + ": " + withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
    }
    guard png_image_begin_read_from_file(&image, path) != 0 else { throw failure() }
    image.format = png_uint_32(PNG_FORMAT_RGB)
    var decoded = RGBImage(width: Int(image.width), height: Int(image.height), fill: PaletteColor(red: 0, green: 0, blue: 0))
    let ok = decoded.pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
    guard ok != 0 else { throw failure() }
    return decoded
}
