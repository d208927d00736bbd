import Foundation

/// Another run holds the output folder's lock. The CLI exits with `exitCode` (75, EX_TEMPFAIL: try later).
public struct FolderLockedError: Error, CustomStringConvertible, Equatable {
    public static let exitCode: Int32 = 75

    /// The output folder.
    public let folder: String
    /// Who holds the lock, when the holder wrote it down.
    public let holder: FolderLock.Holder?
    /// Whether shards of a batch hold it (shared), rather than one run.
    public var byShards = false

    public var description: String {
        if byShards {
            return "\(folder): shards of a batch are writing into this output folder (see tilerun status); this run changes nothing and exits"
        }
        let who = holder.map { " (pid \($0.pid) on \($0.host), started \($0.started))" } ?? ""
        return "\(folder): another tilerun run is writing into this output folder\(who); this run changes nothing and exits"
    }
}

/// An exclusive `flock` on a lock file, held until `release()` or until the process ends in any way
/// (the kernel drops it on exit, kill -9 included, so a stale lock never blocks the next run).
/// The holder's pid, host and start time are written into the file for the message a second run prints.
public final class FolderLock {
    /// What the holder writes into the lock file.
    public struct Holder: Codable, Equatable, Sendable {
        public var pid: Int32
        public var host: String
        /// ISO 8601 UTC.
        public var started: String
    }

    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { release() }

    /// Takes the lock at `path` (created when missing) without waiting; throws `FolderLockedError` naming
    /// `folder` when another open file holds it, or a `ManifestError` when the file cannot be opened.
    /// `shared` takes it alongside other shared holders (the shards of a batch), excluding only an
    /// exclusive holder; a shared holder leaves the file's holder record alone.
    public static func acquire(path: String, folder: String, shared: Bool = false) throws -> FolderLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ManifestError(path: path, problem: "cannot open the lock file: \(errnoText())") }
        guard flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let problem = errnoText()
            // Only shared holders: the holder record is an earlier exclusive run's, and would mislead.
            let byShards = busy && !shared && flock(fd, LOCK_SH | LOCK_NB) == 0
            close(fd)
            if byShards { throw FolderLockedError(folder: folder, holder: nil, byShards: true) }
            if busy { throw FolderLockedError(folder: folder, holder: readHolder(path)) }
            throw ManifestError(path: path, problem: "cannot lock: \(problem)")
        }
        if shared { return FolderLock(path: path, fd: fd) }
        let holder = Holder(pid: getpid(), host: ProcessInfo.processInfo.hostName, started: RunLog.timestamp(Date()))
        // Best effort: the lock works without it, only the second run's message is poorer.
        if let data = try? JSONEncoder().encode(holder), ftruncate(fd, 0) == 0 {
            _ = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return FolderLock(path: path, fd: fd)
    }

    /// Whether some process holds a lock, and who.
    public enum State: Equatable, Sendable {
        case free
        case held(by: Holder?)
    }

    /// The state of the lock at `path` (free when the file is missing or only shared holders have it).
    /// Takes a shared lock for a moment to find out, so a run starting at that instant could be refused;
    /// call it only where that is harmless (`tilerun status`).
    public static func state(path: String) -> State {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .free }
        defer { close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) != 0 else { return .free }
        return .held(by: readHolder(path))
    }

    /// Releases the lock; the file stays, since deleting it would let two runs lock different files.
    public func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    private static func readHolder(_ path: String) -> Holder? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(Holder.self, from: data)
    }
}
