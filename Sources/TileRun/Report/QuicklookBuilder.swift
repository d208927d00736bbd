import Foundation

/// Builds a scene's quicklook PNG while the scene is processed, in memory bounded by the quicklook's
/// size (at most `maxSide` pixels on the longer side), never the scene's.
///
/// Feed it the imagery windows as they are read (any order; see `addImagery`) and the finished class-map
/// rows as they are finished (in row order; see `addClassRows`), then call `write(to:title:)`. Any thread
/// may call these; each call holds a lock.
///
/// The picture: the imagery box-averaged to the quicklook's size (8-bit samples as they are, other types
/// stretched per band from the 2nd to the 98th percentile of the quicklook's pixels), each quicklook
/// pixel's most frequent class blended over it, a title line, and a legend of the classes present with
/// their share of the scene. The same inputs give the same PNG bytes.
public final class QuicklookBuilder: @unchecked Sendable {
    /// The classes in model channel order: class rows hold indices into this list.
    public let classes: [LegendClass]
    private let stretch: Bool
    private let imageryLock = NSLock()
    private var imagery: ImageryAccumulator
    private let labelLock = NSLock()
    private var labels: LabelAccumulator

    /// A builder for a `sceneWidth` × `sceneHeight` scene.
    ///
    /// - Parameters:
    ///   - classes: the model's classes in channel order, with their palette colours.
    ///   - displayBands: which bands of the imagery windows to show, as indices into each window's bands:
    ///     three for red, green and blue, or one for grey.
    ///   - sampleType: the imagery's sample type as stored; uint8 is shown as is, anything else stretched.
    ///   - maxSide: the quicklook's longest side in pixels (smaller scenes keep their size).
    public init(sceneWidth: Int, sceneHeight: Int, classes: [LegendClass], displayBands: [Int], sampleType: SampleType,
                maxSide: Int = 1024) {
        let grid = QuicklookGrid(sceneWidth: sceneWidth, sceneHeight: sceneHeight, maxSide: maxSide)
        self.classes = classes
        stretch = sampleType != .uint8
        imagery = ImageryAccumulator(grid: grid, displayBands: displayBands)
        labels = LabelAccumulator(grid: grid, classCount: classes.count)
    }

    /// The display bands for imagery windows that hold the file's bands `windowBands` (0-based band numbers
    /// in the file, in window order): the file's bands 1, 2 and 3 as red, green and blue where the windows
    /// hold all three, else the windows' first three bands, or their first alone as grey.
    public static func displayBands(windowBands: [Int]) -> [Int] {
        let rgb = (0..<3).compactMap { windowBands.firstIndex(of: $0) }
        if rgb.count == 3 { return rgb }
        return windowBands.count >= 3 ? [0, 1, 2] : [0]
    }

    /// Adds one window of imagery as read: raw samples as float32, the window's bands one after another
    /// (`window.pixelCount` values each; bands beyond the display bands, such as alpha, are ignored).
    ///
    /// - Parameters:
    ///   - valid: 1 where the pixel holds data, one per window pixel; nil when every pixel does.
    ///   - counted: the part of the window whose pixels this call adds (nil: all of it). Every scene pixel
    ///     must be counted once over all calls, so for overlapping windows pass the parts that do not
    ///     overlap, e.g. `ownedPart(of:columns:rows:)` for a tile grid's windows.
    public func addImagery(_ values: [Float], window: RasterWindow, valid: [UInt8]? = nil, counted: RasterWindow? = nil) {
        imageryLock.lock()
        defer { imageryLock.unlock() }
        imagery.add(values, window: window, valid: valid, counted: counted ?? window)
    }

    /// The part of a tile grid's `window` that no later tile covers: from its origin to the next tile
    /// column's and tile row's origin (or its own end). Over all tiles these parts cover the scene once.
    ///
    /// - Parameters:
    ///   - columns: the grid's tile origins along x, ascending.
    ///   - rows: the grid's tile origins along y, ascending.
    public static func ownedPart(of window: RasterWindow, columns: [Int], rows: [Int]) -> RasterWindow {
        let right = min(columns.first { $0 > window.x } ?? window.maxX, window.maxX)
        let bottom = min(rows.first { $0 > window.y } ?? window.maxY, window.maxY)
        return RasterWindow(x: window.x, y: window.y, width: right - window.x, height: bottom - window.y)
    }

    /// Adds finished class-map rows from `firstRow` on, in row order: whole rows of channel indices into
    /// `classes` (the blended argmax, before mapping to class values), `nodata` where the input has none.
    public func addClassRows<Label: FixedWidthInteger>(_ rowLabels: [Label], firstRow: Int, nodata: Label) {
        labelLock.lock()
        defer { labelLock.unlock() }
        labels.add(rows: rowLabels, firstRow: firstRow, nodata: nodata)
    }

    /// The quicklook picture with `title` (e.g. the scene's file name) above it; call after the last class
    /// row (rows not added show as nodata).
    func render(title: String) -> RGBImage {
        imageryLock.lock()
        labelLock.lock()
        defer {
            labelLock.unlock()
            imageryLock.unlock()
        }
        return QuicklookComposer(imagery: imagery, labels: labels, classes: classes, stretch: stretch).compose(title: title)
    }

    /// Renders the quicklook and writes it as a PNG to `path`, atomically.
    public func write(to path: String, title: String) throws {
        try render(title: title).writePNG(to: path)
    }
}
