import Foundation
import TileRun

/// Shows a batch's progress on standard error: a redrawn bar on a terminal, timestamped lines
/// otherwise (cron, logs), or one JSON object a line for programs.
final class ProgressDisplay {
    enum Style: String {
        case bar, lines, json, none
    }

    let style: Style
    private let started = Date()
    private var scenes = 0
    private var scenesDone = 0
    private var scenesFailed = 0
    private var tilesTotal = 0
    private var tilesDone = 0
    private var current: SceneInput?
    private var lastDraw = Date.distantPast
    private var lastLine = Date()
    private var barShown = false

    /// `requested` is `auto`, `bar`, `lines`, `json` or `none`; `auto` draws a bar only on a terminal.
    init(requested: String) throws {
        if requested == "auto" {
            style = isatty(STDERR_FILENO) != 0 ? .bar : .lines
        } else if let style = Style(rawValue: requested) {
            self.style = style
        } else {
            throw UsageError("--progress must be auto, bar, lines, json or none")
        }
    }

    func handle(_ event: RunEvent) {
        switch event {
        case .planned(let scenes, let tiles):
            self.scenes = scenes
            tilesTotal = tiles
            emit(["event": "planned", "scenes": scenes, "tiles": tiles], line: "\(scenes) scene\(scenes == 1 ? "" : "s"), \(tiles) tiles")
        case .sceneStarted(let index, let scene, let tiles):
            current = scene
            emit(["event": "scene_started", "index": index, "scene": scene.name, "files": scene.files, "tiles": tiles],
                 line: "scene \(index + 1)/\(scenes) \(scene.name): \(tiles) tiles")
        case .tilesDone(let count):
            tilesDone += count
            let now = Date()
            switch style {
            case .bar where now.timeIntervalSince(lastDraw) >= 0.2:
                lastDraw = now
                drawBar()
            case .lines where now.timeIntervalSince(lastLine) >= 30:
                lastLine = now
                write(stamp() + " " + summary())
            case .json where now.timeIntervalSince(lastDraw) >= 1:
                lastDraw = now
                emit(["event": "progress", "tiles_done": tilesDone, "tiles": tilesTotal, "tiles_per_second": rate(),
                      "eta_seconds": eta() ?? -1], line: nil)
            default: break
            }
        case .sceneFinished(let result):
            scenesDone += 1
            emit(["event": "scene_finished", "scene": result.scene.name, "class_map": result.classMap, "tiles": result.tiles,
                  "skipped_tiles": result.skippedTiles],
                 line: "\(result.scene.name) -> \(result.classMap) (\(result.tiles) tiles, \(result.skippedTiles) all nodata)")
        case .sceneFailed(let reason):
            scenesFailed += 1
            switch style {
            case .json: emit(["event": "scene_failed", "error": reason], line: nil)
            case .lines: write(stamp() + " failed: " + reason)
            case .bar, .none:
                write((barShown ? "\r\u{1B}[K" : "") + "tilerun: " + reason)
                barShown = false
            }
        }
    }

    /// Clears the bar; call before the final report.
    func end() {
        if barShown { write("\r\u{1B}[K", newline: false) }
        emit(["event": "finished", "scenes_done": scenesDone, "scenes_failed": scenesFailed, "tiles_done": tilesDone,
              "seconds": (Date().timeIntervalSince(started) * 10).rounded() / 10], line: nil)
    }

    private func summary() -> String {
        var text = "scenes \(scenesDone + scenesFailed)/\(scenes), tiles \(tilesDone)/\(tilesTotal), "
            + String(format: "%.1f tiles/s", rate())
        if let eta = eta() { text += ", ETA " + Self.duration(eta) }
        return text
    }

    private func drawBar() {
        let fraction = tilesTotal > 0 ? min(1, Double(tilesDone) / Double(tilesTotal)) : 0
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let name = current.map { " " + $0.name } ?? ""
        write("\r\u{1B}[K[\(bar)] \(Int(fraction * 100))% " + summary() + name, newline: false)
        barShown = true
    }

    private func rate() -> Double {
        let seconds = Date().timeIntervalSince(started)
        return seconds > 0 ? (Double(tilesDone) / seconds * 10).rounded() / 10 : 0
    }

    private func eta() -> Double? {
        let r = Double(tilesDone) / max(Date().timeIntervalSince(started), 1e-9)
        guard tilesDone > 0, r > 0, tilesTotal >= tilesDone else { return nil }
        return (Double(tilesTotal - tilesDone) / r).rounded()
    }

    /// Writes a JSON object (json style) or a timestamped line (lines style).
    private func emit(_ object: [String: Any], line: String?) {
        switch style {
        case .json:
            var object = object
            object["time"] = Self.timestamp.string(from: Date())
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                write(String(decoding: data, as: UTF8.self))
            }
        case .lines:
            if let line { write(stamp() + " " + line) }
        case .bar, .none:
            break
        }
    }

    private func stamp() -> String { Self.timestamp.string(from: Date()) }

    private func write(_ text: String, newline: Bool = true) {
        FileHandle.standardError.write(Data((text + (newline ? "\n" : "")).utf8))
    }

    private static let timestamp: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f
    }()

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }
}
