import Foundation
import TileRun

/// Reports a batch: a redrawn bar on a terminal, timestamped lines otherwise (cron, systemd), one JSON
/// object a line for programs, or (`none`) only warnings and errors. The one place that writes a run's
/// log lines: they all go through one `RunLog`, which also appends them to `--log FILE` (plain, or JSON
/// with `--log-format json`).
final class ProgressDisplay: @unchecked Sendable {
    enum Style: String {
        case bar, lines, json, none
    }

    let style: Style
    private let log: RunLog
    /// Guards the counters and the bar: a signal handler's queue writes notes too.
    private let lock = NSLock()
    private let started = Date()
    private var scenes = 0
    private var scenesDone = 0
    private var scenesSkipped = 0
    private var scenesFailed = 0
    private var tilesTotal = 0
    private var tilesDone = 0
    private var current: SceneInput?
    private var lastDraw = Date.distantPast
    private var lastLine = Date()
    private var barShown = false

    /// `requested` is `auto`, `bar`, `lines`, `json` or `none`; `auto` draws a bar only on a terminal.
    /// `logFile` gets every line but the bar, in `logFormat` (`plain` or `json`).
    init(requested: String, logFile: String? = nil, logFormat: String = "plain") throws {
        if requested == "auto" {
            style = isatty(STDERR_FILENO) != 0 ? .bar : .lines
        } else if let style = Style(rawValue: requested) {
            self.style = style
        } else {
            throw UsageError("--progress must be auto, bar, lines, json or none")
        }
        guard let fileFormat = RunLog.Format(rawValue: logFormat), fileFormat != .terminal else {
            throw UsageError("--log-format must be plain or json")
        }
        let standardError: RunLog.Format = switch style {
        case .bar, .none: .terminal
        case .lines: .plain
        case .json: .json
        }
        log = try RunLog(standardError: standardError, standardErrorLevel: style == .none ? .warning : .info, file: logFile,
                         fileFormat: fileFormat)
    }

    func handle(_ event: RunEvent) {
        lock.withLock {
            switch event {
            case .planned(let scenes, let skipping, let tiles):
                self.scenes = scenes
                tilesTotal = tiles
                write(.info, "\(scenes) scene\(scenes == 1 ? "" : "s"), \(skipping) done before, \(tiles) tiles to run",
                      ["event": "planned", "scenes": .int(scenes), "skipping": .int(skipping), "tiles": .int(tiles)])
            case .sceneSkipped(let index, let scene):
                scenesSkipped += 1
                write(.info, "scene \(index + 1)/\(scenes) \(scene.name): done before, outputs verified, skipped",
                      ["event": "scene_skipped", "index": .int(index), "scene": .string(scene.description)])
            case .sceneStarted(let index, let scene, let tiles, let reason):
                current = scene
                var fields: [String: JSONValue] = ["event": "scene_started", "index": .int(index), "scene": .string(scene.description),
                                                   "tiles": .int(tiles)]
                fields["reason"] = reason.map(JSONValue.string)
                write(.info, "scene \(index + 1)/\(scenes) \(scene.name): \(tiles) tiles" + (reason.map { " (\($0))" } ?? ""), fields)
            case .tilesDone(let count):
                tilesDone += count
                showProgress()
            case .sceneFinished(let result):
                scenesDone += 1
                write(.info, "\(result.scene.name) -> \(result.classMap) (\(result.tiles) tiles, \(result.skippedTiles) all nodata)",
                      ["event": "scene_finished", "scene": .string(result.scene.description), "class_map": .string(result.classMap),
                       "tiles": .int(result.tiles), "skipped_tiles": .int(result.skippedTiles)])
            case .sceneFailed(let reason):
                scenesFailed += 1
                write(.error, reason, ["event": "scene_failed"])
            case .deviceFailed(let reason):
                write(.warning, "\(reason); the run goes on with the CPU kernels (recorded in the manifest)", ["event": "device_failed"])
            }
        }
    }

    /// A line outside the batch's events: manifest notes, signals, the run's end.
    func note(_ level: RunLog.Level, _ message: String, _ fields: [String: JSONValue] = [:]) {
        lock.withLock { write(level, message, fields) }
    }

    /// Clears the bar and logs the batch's end; call before the final report.
    func end(exitCode: Int32) {
        lock.withLock {
            let seconds = (Date().timeIntervalSince(started) * 10).rounded() / 10
            write(.info, "finished: \(scenesDone) done, \(scenesSkipped) done before, \(scenesFailed) failed, \(tilesDone) tiles in \(seconds) s",
                  ["event": "finished", "scenes_done": .int(scenesDone), "scenes_skipped": .int(scenesSkipped),
                   "scenes_failed": .int(scenesFailed), "tiles_done": .int(tilesDone), "seconds": .number(seconds),
                   "exit_code": .int(Int(exitCode))])
        }
    }

    /// Redraws the bar, or logs a progress line now and then; the caller holds `lock`.
    private func showProgress() {
        let now = Date()
        switch style {
        case .bar where now.timeIntervalSince(lastDraw) >= 0.2:
            lastDraw = now
            drawBar()
        case .lines where now.timeIntervalSince(lastLine) >= 30, .json where now.timeIntervalSince(lastLine) >= 1:
            lastLine = now
            var fields: [String: JSONValue] = ["event": "progress", "tiles_done": .int(tilesDone), "tiles": .int(tilesTotal),
                                               "tiles_per_second": .number(rate())]
            fields["eta_seconds"] = eta().map(JSONValue.number)
            log.info(summary(), fields)
        default: break
        }
    }

    /// Writes a log line, clearing the bar first; the caller holds `lock`.
    private func write(_ level: RunLog.Level, _ message: String, _ fields: [String: JSONValue]) {
        if barShown {
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            barShown = false
        }
        log.log(level, message, fields)
    }

    private func summary() -> String {
        var text = "scenes \(scenesDone + scenesSkipped + scenesFailed)/\(scenes), tiles \(tilesDone)/\(tilesTotal), "
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
        FileHandle.standardError.write(Data(("\r\u{1B}[K[\(bar)] \(Int(fraction * 100))% " + summary() + name).utf8))
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

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }
}
