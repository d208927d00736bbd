import CPNG
import Foundation

/// An 8-bit RGB image, row after row, three bytes per pixel.
struct RGBImage: Equatable, Sendable {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    /// A `width` × `height` image filled with `color`.
    init(width: Int, height: Int, fill color: PaletteColor) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, color: color)
    }

    subscript(x: Int, y: Int) -> PaletteColor {
        get {
            let i = (y * width + x) * 3
            return PaletteColor(red: pixels[i], green: pixels[i + 1], blue: pixels[i + 2])
        }
        set {
            let i = (y * width + x) * 3
            pixels[i] = newValue.red
            pixels[i + 1] = newValue.green
            pixels[i + 2] = newValue.blue
        }
    }

    /// Paints a rectangle, clipped to the image.
    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: PaletteColor) {
        for row in max(0, y)..<min(height, y + h) {
            for column in max(0, x)..<min(width, x + w) { self[column, row] = color }
        }
    }

    /// The PNG encoding (8-bit RGB, sRGB, no timestamps: the same image gives the same bytes). libpng's
    /// faster compression setting: a quicklook is written at the end of every scene, after its last tile,
    /// where its encoding time adds to the scene's; the file comes out somewhat larger.
    func png() throws -> Data {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.flags = png_uint_32(PNG_IMAGE_FLAG_FAST)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = png_uint_32(PNG_FORMAT_RGB)
        var size = tr_png_size_max(&image)
        var data = Data(count: Int(size))
        let written = data.withUnsafeMutableBytes { out in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, out.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard written != 0 else {
            // The write call has freed libpng's state already, failed or not; only the message is left.
            throw PNGError(problem: withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        data.count = Int(size)
        return data
    }

    /// Writes the image as a PNG file, atomically.
    func writePNG(to path: String) throws {
        do {
            try AtomicFile.write(png(), to: path)
        } catch let error as PNGError {
            throw RasterError(path: path, problem: "cannot encode the PNG: \(error.problem)")
        }
    }
}

/// libpng's message for a failed encode.
struct PNGError: Error {
    let problem: String
}
