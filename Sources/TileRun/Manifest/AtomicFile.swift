import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes whole files so that a reader, a crash or a full disk never leaves a partial file under the
/// final name: the bytes go to `.NAME.tmp-PID-N-R` in the same folder, are synced, renamed into place, and
/// the folder is synced so the rename itself survives a power cut. A temporary name that outlives its
/// process is a stray; `removeStrayTemporaryFiles` finds it by that pattern (RasterWriter's
/// `.NAME.tmp-PID-N.levelK` scratch files follow it too).
public enum AtomicFile {
    /// Distinguishes temporary files of one process writing the same name from two threads.
    private static let sequence = Atomic<Int>(0)
    /// Distinguishes processes with the same pid on different machines (shards in containers are often
    /// pid 1) writing the same file into a shared output folder, such as the batch summary.
    private static let processToken = String(UInt32.random(in: 0 ... .max), radix: 16)

    /// Writes `data` to `path`, replacing any file there; throws a `ManifestError` naming `path`, leaving
    /// the old file (if any) in place and no temporary file behind.
    public static func write(_ data: Data, to path: String) throws {
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ManifestError(path: path, problem: "cannot create \(temporary): \(errnoText())") }
        do {
            defer { close(fd) }
            try writeAll(fd, data, path: path)
            guard fsync(fd) == 0 else { throw ManifestError(path: path, problem: "cannot sync \(temporary): \(errnoText())") }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let problem = "cannot rename \(temporary) into place: \(errnoText())"
            unlink(temporary)
            throw ManifestError(path: path, problem: problem)
        }
        try syncFolder(containing: path)
    }

    /// A fresh temporary name beside `path`: `.NAME.tmp-PID-N-R`, R random per process.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let n = sequence.add(1, ordering: .relaxed).newValue
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(n)-\(processToken)").path
    }

    /// Whether `name` (a file name, not a path) is a temporary name as `temporaryPath` or RasterWriter make them.
    public static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return false }
        return name[marker.upperBound...].first?.isASCII == true && name[marker.upperBound...].first?.isNumber == true
    }

    /// Deletes the temporary files in `folder` (not recursive) and returns their paths. Call it only while
    /// no other process writes into `folder`, that is while holding its `FolderLock`.
    @discardableResult
    public static func removeStrayTemporaryFiles(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter(isTemporaryName).sorted().compactMap { name in
            let path = (folder as NSString).appendingPathComponent(name)
            return unlink(path) == 0 ? path : nil
        }
    }

    /// Syncs the folder that holds `path`, making a create, rename or delete there durable.
    public static func syncFolder(containing path: String) throws {
        try sync(URL(fileURLWithPath: path).deletingLastPathComponent().path, reportPath: path)
    }

    /// Syncs the file or folder at `path`; errors name `reportPath`.
    static func sync(_ path: String, reportPath: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ManifestError(path: reportPath, problem: "cannot open \(path) to sync it: \(errnoText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ManifestError(path: reportPath, problem: "cannot sync \(path): \(errnoText())") }
    }

    /// Writes all of `data` to `fd`, retrying short writes and interruptions.
    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ManifestError(path: path, problem: "cannot write: \(errnoText())")
                }
                offset += n
            }
        }
    }
}
