import Foundation

/// The run's log: one line per event to standard error and/or a file (`--log FILE`, appended to).
/// `plain` lines are an ISO 8601 UTC timestamp, the level and the message, for people and grep; `json`
/// lines are objects with `time`, `level`, `message` and the fields (`--log-format json`), for programs;
/// `terminal` is for a person watching standard error: `tilerun: message`, as tilerun's other errors, and
/// `tilerun: warning: message` (a file gets plain lines instead).
public final class RunLog: @unchecked Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case terminal, plain, json
    }

    public enum Level: String, Sendable, Comparable {
        case info, warning, error

        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
        private var rank: Int { self == .info ? 0 : self == .warning ? 1 : 2 }
    }

    /// The format on standard error; nil when nothing goes there.
    public let standardErrorFormat: Format?
    /// The least level written to standard error (the file gets every line).
    public let standardErrorLevel: Level
    /// The format of the file's lines, plain or json.
    public let fileFormat: Format
    private let file: FileHandle?
    private let clock: () -> Date
    private let mutex = NSLock()

    /// A log to standard error in `standardError` format (nil: not there) from `standardErrorLevel` up,
    /// and to `file` (when given, created or appended to) in `fileFormat`; throws a `ManifestError` naming
    /// the file when it cannot be opened.
    public init(standardError: Format?, standardErrorLevel: Level = .info, file: String? = nil, fileFormat: Format = .plain,
                clock: @escaping () -> Date = Date.init) throws {
        standardErrorFormat = standardError
        self.standardErrorLevel = standardErrorLevel
        self.fileFormat = fileFormat == .json ? .json : .plain
        self.clock = clock
        if let file {
            let fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ManifestError(path: file, problem: "cannot open the log file: \(errnoText())") }
            self.file = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        } else {
            self.file = nil
        }
    }

    /// The format to use on standard error when none is asked for: `terminal` on a terminal, else `plain`.
    public static var defaultFormat: Format { isatty(STDERR_FILENO) == 1 ? .terminal : .plain }

    public func info(_ message: String, _ fields: [String: JSONValue] = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: [String: JSONValue] = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: [String: JSONValue] = [:]) { log(.error, message, fields) }

    /// Writes one line to each destination.
    public func log(_ level: Level, _ message: String, _ fields: [String: JSONValue] = [:]) {
        let time = clock()
        mutex.withLock {
            if let standardErrorFormat, level >= standardErrorLevel {
                FileHandle.standardError.write(Data(RunLog.line(standardErrorFormat, time: time, level: level, message, fields).utf8))
            }
            file?.write(Data(RunLog.line(fileFormat, time: time, level: level, message, fields).utf8))
        }
    }

    /// One line, newline included. Plain: `2025-01-02T03:04:05.678Z info message`.
    static func line(_ format: Format, time: Date, level: Level, _ message: String, _ fields: [String: JSONValue]) -> String {
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        switch format {
        case .terminal:
            return "tilerun: \(level == .warning ? "warning: " : "")\(oneLine)\n"
        case .plain:
            return "\(timestamp(time)) \(level.rawValue) \(oneLine)\n"
        case .json:
            var object = fields
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
