import Foundation

/// The run's log: one line per event to standard error and/or a file (`--log FILE`, appended to).
/// `plain` lines start with an ISO 8601 UTC timestamp and the level; `json` lines are objects with
/// `time`, `level`, `message` and any fields (`--log-format json`); `terminal` is for a person
/// watching standard error: `tilerun: message`, and a file still gets plain lines.
public final class RunLog: @unchecked Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case terminal, plain, json
    }

    public enum Level: String, Sendable {
        case info, warning, error
    }

    public let format: Format
    private let standardError: Bool
    private let file: FileHandle?
    private let clock: () -> Date
    private let mutex = NSLock()

    /// A log in `format` to standard error (when `standardError`) and to `file` (when given, created or
    /// appended to); throws a `ManifestError` naming the file when it cannot be opened.
    public init(format: Format, standardError: Bool = true, file: String? = nil, clock: @escaping () -> Date = Date.init) throws {
        self.format = format
        self.standardError = standardError
        self.clock = clock
        if let file {
            let fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ManifestError(path: file, problem: "cannot open the log file: \(errnoText())") }
            self.file = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        } else {
            self.file = nil
        }
    }

    /// The format to use when none is asked for: `terminal` when standard error is a terminal, else `plain`.
    public static var defaultFormat: Format { isatty(STDERR_FILENO) == 1 ? .terminal : .plain }

    public func info(_ message: String, _ fields: [String: String] = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: [String: String] = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: [String: String] = [:]) { log(.error, message, fields) }

    /// Writes one line to each destination.
    public func log(_ level: Level, _ message: String, _ fields: [String: String] = [:]) {
        let time = clock()
        mutex.withLock {
            if standardError {
                FileHandle.standardError.write(Data(RunLog.line(format, time: time, level: level, message, fields).utf8))
            }
            file?.write(Data(RunLog.line(format == .json ? .json : .plain, time: time, level: level, message, fields).utf8))
        }
    }

    /// One line, newline included. Plain: `2025-01-02T03:04:05.678Z info message key=value …`, fields
    /// sorted by key.
    static func line(_ format: Format, time: Date, level: Level, _ message: String, _ fields: [String: String]) -> String {
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        switch format {
        case .terminal:
            return "tilerun: \(level == .info ? "" : "\(level.rawValue): ")\(oneLine)\n"
        case .plain:
            let extra = fields.keys.sorted().map { " \($0)=\(fields[$0]!)" }.joined()
            return "\(timestamp(time)) \(level.rawValue) \(oneLine)\(extra)\n"
        case .json:
            var object = fields.mapValues(JSONValue.string)
            object["time"] = .string(timestamp(time))
            object["level"] = .string(level.rawValue)
            object["message"] = .string(message)
            return JSONValue.object(object).canonicalText + "\n"
        }
    }

    /// ISO 8601 in UTC with milliseconds: `2025-01-02T03:04:05.678Z`.
    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(milliseconds % 1000))
    }
}
