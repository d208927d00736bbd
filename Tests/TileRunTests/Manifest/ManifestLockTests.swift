import Foundation
@testable import TileRun
import XCTest

/// The output folder's lock: a second run fails at once, naming the holder; a dead holder frees it.
final class ManifestLockTests: FolderTestCase {
    private var lockPath: String { directory.appendingPathComponent("lock").path }

    /// A shell that takes the lock with util-linux's flock(1) on its own descriptor, writes a holder
    /// record as tilerun would, says "ready" and sleeps; the lock lives as long as that process.
    private func startHolder() throws -> Process {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { throw XCTSkip("/usr/bin/flock (util-linux) is missing") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", """
            exec 9>>"$1" && /usr/bin/flock -xn 9 || exit 3
            printf '{"pid":%d,"host":"elsewhere","started":"2025-01-02T03:04:05.000Z"}' $$ > "$1"
            echo ready
            exec sleep 60
            """, "sh", lockPath]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let line = String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertEqual(line, "ready\n")
        return process
    }

    func testSecondRunFailsAtOnceWhileAnotherProcessHoldsTheLock() throws {
        let holder = try startHolder()
        defer {
            holder.terminate()
            holder.waitUntilExit()
        }
        let start = Date()
        XCTAssertThrowsError(try FolderLock.acquire(path: lockPath, folder: "/data/out")) { error in
            guard let locked = error as? FolderLockedError else { return XCTFail("\(error)") }
            XCTAssertEqual(locked.holder, FolderLock.Holder(pid: holder.processIdentifier, host: "elsewhere", started: "2025-01-02T03:04:05.000Z"))
            XCTAssertEqual(locked.description, "/data/out: another tilerun run is writing into this output folder (pid \(holder.processIdentifier) on elsewhere, started 2025-01-02T03:04:05.000Z); this run changes nothing and exits")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1, "the second run must not wait for the lock")
        XCTAssertEqual(FolderLockedError.exitCode, 75)
        XCTAssertEqual(FolderLock.state(path: lockPath), .held(by: FolderLock.Holder(pid: holder.processIdentifier, host: "elsewhere",
                                                                                    started: "2025-01-02T03:04:05.000Z")))

        // kill -9 of the holder frees the lock: no stale lock blocks the next run.
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let lock = try FolderLock.acquire(path: lockPath, folder: "/data/out")
        lock.release()
    }

    func testSecondHandleInTheSameProcessIsRefusedAndSeesTheHolder() throws {
        let first = try FolderLock.acquire(path: lockPath, folder: "/data/out")
        XCTAssertThrowsError(try FolderLock.acquire(path: lockPath, folder: "/data/out")) { error in
            let holder = (error as? FolderLockedError)?.holder
            XCTAssertEqual(holder?.pid, getpid())
            XCTAssertEqual(holder?.host, ProcessInfo.processInfo.hostName)
        }
        first.release()
        XCTAssertEqual(FolderLock.state(path: lockPath), .free)
        try FolderLock.acquire(path: lockPath, folder: "/data/out").release()
    }

    func testManifestOpenIsRefusedWhileTheFolderIsLocked() throws {
        let output = directory.appendingPathComponent("out").path
        let fingerprint = RunFingerprint(pipeline: .object([:]), modelSHA256: SHA256.hash(Data()))
        let first = try Manifest.open(outputFolder: output, fingerprint: fingerprint)
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: fingerprint)) { error in
            XCTAssertEqual((error as? FolderLockedError)?.folder, output)
        }
        // An unsharded run excludes the shards, and they it.
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: fingerprint, shard: Shard(index: 0, count: 2))) { error in
            XCTAssertEqual((error as? FolderLockedError)?.holder?.pid, getpid())
        }
        first.close()
        try Manifest.open(outputFolder: output, fingerprint: fingerprint).close()
    }

    func testShardsRunSideBySideEachOnceAndExcludeAnUnshardedRun() throws {
        let output = directory.appendingPathComponent("out").path
        let fingerprint = RunFingerprint(pipeline: .object([:]), modelSHA256: SHA256.hash(Data()))
        let shard0 = try Manifest.open(outputFolder: output, fingerprint: fingerprint, shard: Shard(index: 0, count: 2))
        let shard1 = try Manifest.open(outputFolder: output, fingerprint: fingerprint, shard: Shard(index: 1, count: 2))
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: fingerprint, shard: Shard(index: 1, count: 2))) { error in
            XCTAssertEqual((error as? FolderLockedError)?.holder?.pid, getpid(), "shard 1 runs once")
        }
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: fingerprint)) { error in
            XCTAssertEqual("\(error)", "\(output): shards of a batch are writing into this output folder (see tilerun status); this run changes nothing and exits")
        }
        XCTAssertEqual(try ManifestStatus.read(outputFolder: output).runInProgress, true)
        shard0.close()
        shard1.close()
        XCTAssertEqual(try ManifestStatus.read(outputFolder: output).runInProgress, false)
        try Manifest.open(outputFolder: output, fingerprint: fingerprint).close()
    }
}
