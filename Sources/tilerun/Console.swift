import Foundation

/// Writes to standard error, one line per message.
enum Console {
    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("tilerun: " + message + "\n").utf8))
    }
}
