/// Lays out the quicklook picture: a title line, the imagery with the class colours blended over it, and
/// to its right a legend with each present class's colour, name and share of the scene.
struct QuicklookComposer {
    let imagery: ImageryAccumulator
    let labels: LabelAccumulator
    let classes: [LegendClass]
    /// Stretch the imagery to its 2–98 % quantiles (false: the samples already are display bytes).
    let stretch: Bool

    /// How much of a class colour shows over the imagery, in percent.
    static let classOpacity = 45
    /// Where neither imagery nor classes are.
    static let neutralGrey = PaletteColor(red: 128, green: 128, blue: 128)
    static let background = PaletteColor(red: 255, green: 255, blue: 255)
    static let ink = PaletteColor(red: 32, green: 32, blue: 32)

    /// Font pixels are `textScale` × `textScale` screen pixels.
    private static let textScale = 2
    private static let margin = 12
    private static let gap = 16
    private static let legendRowHeight = 24
    private static let swatchSize = 18
    /// Between a swatch and its class name.
    private static let swatchGap = 8
    /// Where the map's top-left corner lies in the picture.
    static let mapLeft = margin
    static let mapTop = margin + BitmapFont.lineHeight * textScale + gap / 2

    /// Where the legend's swatches start, right of a map `mapWidth` wide.
    static func legendLeft(mapWidth: Int) -> Int { mapLeft + mapWidth + gap }

    /// The whole picture, `title` on its first line.
    func compose(title: String) -> RGBImage {
        let map = blendedMap()
        let entries = legendEntries()
        let scale = Self.textScale
        func textWidth(_ text: String) -> Int { BitmapFont.width(of: text, scale: scale) }
        let legendLeft = Self.legendLeft(mapWidth: map.width)
        let nameLeft = legendLeft + Self.swatchSize + Self.swatchGap
        // Shares are right-aligned in a column two characters right of the longest name.
        let shareRight = nameLeft + (entries.map { textWidth($0.name) }.max() ?? 0) + textWidth("  ")
            + (entries.map { textWidth($0.share) }.max() ?? 0)
        let width = max(shareRight, Self.margin + textWidth(title)) + Self.margin
        let height = Self.mapTop + max(map.height, entries.count * Self.legendRowHeight) + Self.margin

        var canvas = RGBImage(width: width, height: height, fill: Self.background)
        canvas.draw(text: title, x: Self.margin, y: Self.margin, scale: scale, color: Self.ink)
        for y in 0..<map.height {
            let from = y * map.width * 3
            let to = ((Self.mapTop + y) * width + Self.mapLeft) * 3
            canvas.pixels.replaceSubrange(to..<(to + map.width * 3), with: map.pixels[from..<(from + map.width * 3)])
        }
        for (row, entry) in entries.enumerated() {
            let top = Self.mapTop + row * Self.legendRowHeight
            canvas.fill(x: legendLeft, y: top, width: Self.swatchSize, height: Self.swatchSize, color: Self.ink)
            canvas.fill(x: legendLeft + 1, y: top + 1, width: Self.swatchSize - 2, height: Self.swatchSize - 2, color: entry.color)
            // Capitals are 14 px tall at scale 2: 2 px down centres them on the 18 px swatch.
            canvas.draw(text: entry.name, x: nameLeft, y: top + 2, scale: scale, color: Self.ink)
            canvas.draw(text: entry.share, x: shareRight - textWidth(entry.share), y: top + 2, scale: scale, color: Self.ink)
        }
        return canvas
    }

    /// One legend line.
    struct LegendEntry: Equatable {
        var color: PaletteColor
        var name: String
        var share: String
    }

    /// The classes present, in channel order, then nodata when there is any; shares of all scene pixels.
    func legendEntries() -> [LegendEntry] {
        let total = labels.grid.sceneWidth * labels.grid.sceneHeight
        var entries = zip(classes, labels.pixels).filter { $0.1 > 0 }.map { c, pixels in
            LegendEntry(color: c.color, name: c.name, share: ReportFormatting.percent(pixels, of: total))
        }
        if labels.nodataPixels > 0 {
            entries.append(LegendEntry(color: Self.neutralGrey, name: "nodata",
                                       share: ReportFormatting.percent(labels.nodataPixels, of: total)))
        }
        return entries
    }

    /// The quicklook-sized map: class colours blended over the stretched imagery; imagery alone where the
    /// class map is nodata, the class colour alone where there is no imagery, grey where there is neither.
    func blendedMap() -> RGBImage {
        let grid = imagery.grid
        let bands = imagery.displayBands.count
        let stretches = (0..<bands).map { stretch ? DisplayStretch(quantilesOf: imagery.means(band: $0)) : .identity }
        var map = RGBImage(width: grid.width, height: grid.height, fill: Self.neutralGrey)
        for cell in 0..<(grid.width * grid.height) {
            let (x, y) = (cell % grid.width, cell / grid.width)
            let label = labels.labels[cell]
            let classColor = label < 0 ? nil : classes[Int(label)].color
            guard imagery.hasData(cell: cell) else {
                if let classColor { map[x, y] = classColor }
                continue
            }
            func byte(_ band: Int) -> UInt8 { stretches[band].byte(imagery.mean(cell: cell, band: band)) }
            let base = bands == 1
                ? PaletteColor(red: byte(0), green: byte(0), blue: byte(0))
                : PaletteColor(red: byte(0), green: byte(1), blue: byte(2))
            map[x, y] = classColor.map { Self.blend($0, over: base) } ?? base
        }
        return map
    }

    /// `color` at `classOpacity` over `base`, rounded to nearest.
    static func blend(_ color: PaletteColor, over base: PaletteColor) -> PaletteColor {
        func mix(_ top: UInt8, _ bottom: UInt8) -> UInt8 {
            UInt8((Int(top) * classOpacity + Int(bottom) * (100 - classOpacity) + 50) / 100)
        }
        return PaletteColor(red: mix(color.red, base.red), green: mix(color.green, base.green), blue: mix(color.blue, base.blue))
    }
}
