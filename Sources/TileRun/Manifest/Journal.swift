import Foundation

/// The journal's file format: one record per line, `CRC JSON\n`, where CRC is the CRC-32 of the JSON's
/// bytes in 8 lowercase hex digits. A record counts only when its line is complete and its checksum
/// matches, so a write torn by a crash or a full disk is recognised; the writer truncates such a tail
/// before appending, so that new records never follow garbage.
enum JournalFormat {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The line for `record`, newline included.
    static func line(_ record: JournalRecord) throws -> Data {
        let json = try encoder.encode(record)
        var line = Data(String(format: "%08x ", CRC32.checksum(json)).utf8)
        line.append(json)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The record in one line (newline excluded), or nil when its checksum or JSON is bad.
    static func record(_ line: Data) -> JournalRecord? {
        guard line.count > 9, line[line.startIndex + 8] == UInt8(ascii: " "),
              let crc = UInt32(String(decoding: line.prefix(8), as: UTF8.self), radix: 16) else { return nil }
        let json = line.dropFirst(9)
        guard CRC32.checksum(json) == crc else { return nil }
        return try? JSONDecoder().decode(JournalRecord.self, from: json)
    }
}

/// What reading a journal found.
public struct JournalContents: Sendable {
    public var records: [JournalRecord] = []
    /// Bytes up to the end of the last good record: what a writer keeps.
    public var validLength = 0
    /// One line per record ignored or skipped, e.g. "journal: ignored a torn last record at byte 1234".
    public var notes: [String] = []

    /// Reads the journal at `path`; a missing file reads as empty. Bad records after the last good one
    /// are a torn tail (a crash mid-write, or garbage appended) and ignored; a bad record between good
    /// ones is skipped: every record only adds to what is known, so losing one costs at most redoing a
    /// scene. Throws a `ManifestError` when the file exists but cannot be read.
    public static func read(path: String) throws -> JournalContents {
        var contents = JournalContents()
        guard FileManager.default.fileExists(atPath: path) else { return contents }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManifestError(path: path, problem: "cannot read the journal")
        }
        let name = URL(fileURLWithPath: path).lastPathComponent
        var damaged: [Int] = []
        var offset = 0
        while offset < data.count {
            let newline = data[offset...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? data.count
            if newline != nil, let record = JournalFormat.record(data[offset..<end]) {
                // Everything bad so far lies between good records.
                contents.notes += damaged.map { "\(name): skipped a damaged record at byte \($0)" }
                damaged = []
                contents.records.append(record)
                contents.validLength = end + 1
            } else {
                damaged.append(offset)
            }
            offset = end + 1
        }
        if let torn = damaged.first {
            contents.notes.append("\(name): ignored a torn last record at byte \(torn)")
        }
        return contents
    }
}

/// Appends records to a journal, each synced before `append` returns: once it returns, the record
/// survives a crash or power cut.
final class JournalWriter {
    let path: String
    private var fd: Int32
    private var length: Int

    /// Opens the journal at `path` (created when missing) and cuts it to `validLength`, dropping a torn
    /// tail; syncs the folder when the file is new.
    init(path: String, validLength: Int) throws {
        let existed = FileManager.default.fileExists(atPath: path)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ManifestError(path: path, problem: "cannot open the journal: \(errnoText())") }
        self.path = path
        length = validLength
        do {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw ManifestError(path: path, problem: "cannot examine the journal: \(errnoText())") }
            if Int(info.st_size) != validLength {
                guard ftruncate(fd, off_t(validLength)) == 0, fsync(fd) == 0 else {
                    throw ManifestError(path: path, problem: "cannot cut the journal's torn tail: \(errnoText())")
                }
            }
            if !existed { try AtomicFile.syncFolder(containing: path) }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Appends `record` and syncs it. On failure (a full disk, say) the partial line is cut off again,
    /// so the journal stays as it was, and a `ManifestError` naming the journal is thrown.
    func append(_ record: JournalRecord) throws {
        let line: Data
        do {
            line = try JournalFormat.line(record)
        } catch {
            throw ManifestError(path: path, problem: "cannot encode a record: \(error)")
        }
        do {
            try AtomicFile.writeAll(fd, line, path: path)
            guard fsync(fd) == 0 else { throw ManifestError(path: path, problem: "cannot sync the journal: \(errnoText())") }
        } catch {
            _ = ftruncate(fd, off_t(length))
            throw error
        }
        length += line.count
    }
}
