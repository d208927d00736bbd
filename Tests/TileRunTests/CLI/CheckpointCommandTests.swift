import Foundation
@testable import TileRun
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `tilerun run`, `resume` and `status` on an output folder with a manifest, driven as cron and people
/// drive them: killed, stopped, started twice, short of disk, and run every night over an inbox.
final class CheckpointCommandTests: FolderTestCase {
    // MARK: Fixtures

    /// Writes `pipeline.json`: the pipeline test model, 64-pixel tiles, one thread, probabilities as asked.
    private func writePipeline(probabilities: Bool = true, tileSize: Int = 64) throws {
        let pipeline: [String: Any] = ["model": try PipelineFixtures.model(), "tileSize": tileSize, "overlap": 16, "batch": 2,
                                       "threads": 1, "outputs": ["probabilities": probabilities]]
        try JSONSerialization.data(withJSONObject: pipeline).write(to: directory.appendingPathComponent("pipeline.json"))
    }

    /// Writes a textured scene into `folder`; `seed` varies its content, `nodataBlock` blanks whole tiles.
    @discardableResult
    private func writeScene(_ folder: String, _ name: String, width: Int, height: Int, seed: Int = 0,
                            nodataBlock: Bool = false) throws -> String {
        try FileManager.default.createDirectory(atPath: path(folder), withIntermediateDirectories: true)
        return try PipelineFixtures.writeScene(path("\(folder)/\(name).tif"), width: width, height: height, noData: NoData(value: 0)) { b, x, y in
            nodataBlock && x < 80 && y >= height - 64 ? 0 : max(1, PipelineFixtures.texture(b + seed, x, y))
        }
    }

    /// `tilerun run pipeline.json --input IN --output OUT …` from the test folder.
    private func runArguments(input: String = "inbox", output: String = "out", _ extra: [String] = []) -> [String] {
        ["run", "pipeline.json", "--input", input, "--output", output, "--progress", "lines"] + extra
    }

    /// Runs tilerun to the end in the test folder.
    @discardableResult
    private func tilerun(_ arguments: [String], expect status: Int32? = 0, file: StaticString = #filePath,
                         line: UInt = #line) throws -> TileRunProcess.Result {
        let result = try TileRunProcess(arguments, in: directory).wait()
        if let status { XCTAssertEqual(result.status, status, "tilerun \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line) }
        return result
    }

    /// The files of an output folder (not the manifest's), by name.
    private func outputs(_ folder: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path(folder)) where name != ManifestLayout.folderName {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: path("\(folder)/\(name)")))
        }
        return files
    }

    /// Asserts that `folder` holds the bytes of `reference`, file for file.
    private func assertSameOutputs(_ folder: String, as reference: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let got = try outputs(folder), expected = try outputs(reference)
        XCTAssertEqual(got.keys.sorted(), expected.keys.sorted(), file: file, line: line)
        for (name, data) in expected where got[name] != data {
            XCTFail("\(folder)/\(name) differs from \(reference)/\(name)", file: file, line: line)
        }
    }

    /// Temporary files left in an output folder or its parts folder.
    private func temporaryFiles(_ folder: String) -> [String] {
        [path(folder), ManifestLayout(outputFolder: path(folder)).partsFolder].flatMap {
            ((try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? []).filter(AtomicFile.isTemporaryName)
        }
    }

    /// Saved bands of scenes not done.
    private func partFiles(_ folder: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: ManifestLayout(outputFolder: path(folder)).partsFolder)) ?? []
    }

    private func status(_ folder: String) throws -> ManifestStatus {
        let result = try tilerun(["status", folder, "--json"])
        return try JSONDecoder().decode(ManifestStatus.self, from: Data(result.stdout.utf8))
    }

    private func journal(_ folder: String) -> String {
        (try? String(contentsOfFile: ManifestLayout(outputFolder: path(folder)).journal, encoding: .utf8)) ?? ""
    }

    /// Records that make progress: finished bands and finished scenes.
    private func progressRecords(_ folder: String) -> Int {
        journal(folder).split(separator: "\n").filter { $0.contains("\"type\":\"part\"") || $0.contains("\"type\":\"done\"") }.count
    }

    /// Waits until the journal of `folder` holds `count` progress records or `process` ends.
    private func waitForProgress(_ folder: String, _ count: Int, _ process: TileRunProcess) {
        while process.isRunning && progressRecords(folder) < count { usleep(5_000) }
    }

    // MARK: Acceptance

    /// kill -9 at 20 and more moments spread over a batch, each followed by a resume: the outputs are the
    /// bytes of an uninterrupted run, every scene is done, nothing temporary is left.
    func testKilledAtRandomMomentsAndResumedGivesTheBytesOfAnUninterruptedRun() throws {
        try writePipeline()
        try writeScene("inbox", "a", width: 200, height: 150)
        try writeScene("inbox", "b", width: 130, height: 260, seed: 1)
        try writeScene("inbox", "c", width: 256, height: 100, seed: 2, nodataBlock: true)
        try writeScene("inbox", "d", width: 64, height: 64, seed: 3)
        try tilerun(runArguments(output: "reference"))
        let total = progressRecords("reference")
        XCTAssertEqual(total, 3 + 6 + 2 + 1 + 4, "bands of a, b, c and d, then their completion")

        // Kill when the journal reaches a random record, a random moment later: startup, mid-scene,
        // between scenes, while a scene's files are built.
        var generator = SplitMix64(seed: 6)
        let targets = (0..<24).map { _ in Int.random(in: 0..<total, using: &generator) }.sorted()
        var kills = 0, attempts = 0, resumedFromBands = 0
        while kills < 20 && attempts < 40 {
            let target = attempts < targets.count ? targets[attempts] : Int.random(in: 0..<total, using: &generator)
            // Until a run has recorded its batch there is nothing to resume.
            let arguments = journal("out").contains("\"type\":\"batch\"") ? ["resume", "out"] : runArguments()
            attempts += 1
            let process = try TileRunProcess(arguments, in: directory)
            waitForProgress("out", target, process)
            usleep(UInt32.random(in: 0..<150_000, using: &generator))
            process.kill(SIGKILL)
            let result = process.wait()
            if result.killed == SIGKILL { kills += 1 }
            resumedFromBands += result.stderr.components(separatedBy: "saved)").count - 1
        }
        XCTAssertGreaterThanOrEqual(kills, 20)
        XCTAssertGreaterThan(resumedFromBands, 0, "some scene resumed from its saved bands")

        try tilerun(["resume", "out"])
        try assertSameOutputs("out", as: "reference")
        let state = try status("out")
        XCTAssertEqual(state.counts.done, 4)
        XCTAssertEqual(state.counts.total, 4)
        XCTAssertFalse(state.runInProgress)
        XCTAssertEqual(temporaryFiles("out"), [])
        XCTAssertEqual(partFiles("out"), [])
    }

    /// A journal cut in the middle of its last record, or ending in garbage: the run says so, redoes what
    /// the lost record held, and the outputs are as before.
    func testTornOrGarbageJournalTailIsIgnoredAndSaid() throws {
        try writePipeline(probabilities: false)
        try writeScene("inbox", "a", width: 130, height: 100)
        try writeScene("inbox", "b", width: 100, height: 130, seed: 1)
        try tilerun(runArguments(output: "reference"))
        try tilerun(runArguments())
        let journal = ManifestLayout(outputFolder: path("out")).journal

        // Cut inside the record that says b is done: b runs again.
        var data = try Data(contentsOf: URL(fileURLWithPath: journal))
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let doneB = try XCTUnwrap(lines.lastIndex { String(decoding: $0, as: UTF8.self).contains("\"type\":\"done\"") })
        let cut = lines[..<doneB].reduce(0) { $0 + $1.count + 1 } + 40
        data = data.prefix(cut)
        try data.write(to: URL(fileURLWithPath: journal))
        let torn = try tilerun(["resume", "out"])
        XCTAssertTrue(torn.stderr.contains("journal: ignored a torn last record at byte \(cut - 40)"), torn.stderr)
        XCTAssertTrue(torn.stderr.contains("scene 1/2 a: done before, outputs verified, skipped"), torn.stderr)
        XCTAssertTrue(torn.stderr.contains("scene 2/2 b: 6 tiles (interrupted during attempt 1)"), torn.stderr)
        try assertSameOutputs("out", as: "reference")

        // Garbage after the last record: ignored, said, and nothing runs again.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: journal))
        handle.seekToEndOfFile()
        handle.write(Data("\u{0}\u{0}7f3a garbage {\"type\":".utf8))
        handle.closeFile()
        let garbage = try tilerun(["resume", "out"])
        XCTAssertTrue(garbage.stderr.contains("journal: ignored a torn last record"), garbage.stderr)
        XCTAssertTrue(garbage.stdout.contains("2 scenes done (2 before this run), 0 failed"), garbage.stdout)
        XCTAssertEqual(try status("out").counts.done, 2)
        try assertSameOutputs("out", as: "reference")
    }

    /// A disk that fills while a scene's files are written (a file-size limit here): the scene fails with
    /// a clear error, nothing incomplete is marked done, and a later run with space finishes the batch.
    func testFullDiskFailsTheSceneClearlyAndALaterRunFinishes() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") else { throw XCTSkip("prlimit (util-linux) is needed") }
        try writePipeline(probabilities: false)
        try writeScene("inbox", "a", width: 64, height: 64)
        try writeScene("inbox", "big", width: 256, height: 256, seed: 1)
        try writeScene("inbox", "c", width: 64, height: 64, seed: 2)
        try tilerun(runArguments(output: "reference"))
        // The big scene's quicklook outgrows the limit; every other file stays under it.
        let limit = 32_000
        let sizes = try outputs("reference").mapValues(\.count)
        XCTAssertGreaterThan(sizes["big-quicklook.png"]!, limit)
        XCTAssertLessThan(sizes.filter { $0.key != "big-quicklook.png" }.values.max()!, limit)

        let full = try TileRunProcess(runArguments(), in: directory, limitFileSize: limit).wait()
        XCTAssertEqual(full.status, 1, full.stderr)
        XCTAssertTrue(full.stderr.contains("out/big-quicklook.png: cannot write: File too large"), full.stderr)
        XCTAssertTrue(full.stdout.contains("2 scenes done, 1 failed"), full.stdout)
        let state = try status("out")
        XCTAssertEqual(state.counts.done, 2)
        XCTAssertEqual(state.failed.map(\.scene), [path("inbox/big.tif")])
        XCTAssertTrue(state.failed.first?.reason.contains("File too large") == true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out/big-quicklook.png")))
        XCTAssertEqual(temporaryFiles("out"), [])

        let later = try tilerun(runArguments())
        XCTAssertTrue(later.stderr.contains("scene 2/3 big: 25 tiles (failed in attempt 1: "), later.stderr)
        XCTAssertTrue(later.stdout.contains("3 scenes done (2 before this run), 0 failed"), later.stdout)
        try assertSameOutputs("out", as: "reference")
        XCTAssertEqual(temporaryFiles("out"), [])
        XCTAssertEqual(partFiles("out"), [])
    }

    /// Two runs started together on one output folder: one works, the other exits 75 at once.
    func testASecondRunOnTheFolderExits75AtOnce() throws {
        try writePipeline()
        try writeScene("inbox", "a", width: 200, height: 200)
        try writeScene("inbox", "b", width: 200, height: 200, seed: 1)
        let first = try TileRunProcess(runArguments(), in: directory)
        let second = try TileRunProcess(runArguments(), in: directory)
        let results = [first.wait(), second.wait()]
        let (loser, winner) = results[0].status == 75 ? (results[0], results[1]) : (results[1], results[0])
        XCTAssertEqual(loser.status, 75, loser.stderr)
        XCTAssertEqual(winner.status, 0, winner.stderr)
        // The holder's pid and start time follow when the first run has recorded them (it may not have yet).
        XCTAssertTrue(loser.stderr.contains("another tilerun run is writing into this output folder"), loser.stderr)
        XCTAssertLessThan(loser.ended, winner.ended - 0.5, "the second run does not wait for the first")
        XCTAssertEqual(loser.stdout, "")
        XCTAssertEqual(try status("out").counts.done, 2)
    }

    /// A nightly run over an inbox processes exactly the scenes that are new or changed since the last
    /// night; a scene only touched is recognised by its content and skipped.
    func testNightlyInboxRunProcessesExactlyTheNewAndChangedScenes() throws {
        try writePipeline(probabilities: false)
        try writeScene("inbox", "a", width: 96, height: 64)
        try writeScene("inbox", "b", width: 96, height: 64, seed: 1)
        let nightly = runArguments(["--log", "nightly.jsonl", "--log-format", "json", "--metrics", "tilerun.prom"])
        try tilerun(nightly)

        try writeScene("inbox", "c", width: 64, height: 96, seed: 2)
        try writeScene("inbox", "d", width: 64, height: 64, seed: 3)
        try writeScene("inbox", "b", width: 96, height: 64, seed: 4)
        var later = [timespec(tv_sec: 2_000_000_000, tv_nsec: 0), timespec(tv_sec: 2_000_000_000, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, path("inbox/a.tif"), &later, 0), 0)
        try Data().write(to: directory.appendingPathComponent("nightly.jsonl"))
        try tilerun(nightly)

        let events = try String(contentsOfFile: path("nightly.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        func scenes(_ event: String) -> [String] {
            events.filter { $0["event"] as? String == event }.compactMap { $0["scene"] as? String }
        }
        XCTAssertEqual(scenes("scene_started"), ["inbox/b.tif", "inbox/c.tif", "inbox/d.tif"])
        XCTAssertEqual(scenes("scene_finished"), ["inbox/b.tif", "inbox/c.tif", "inbox/d.tif"])
        XCTAssertEqual(scenes("scene_skipped"), ["inbox/a.tif"])
        func reason(_ scene: String) -> String? { events.first { $0["scene"] as? String == scene }?["reason"] as? String }
        XCTAssertEqual(reason("inbox/b.tif"), "input changed since it was done")
        XCTAssertEqual(reason("inbox/c.tif"), "new scene")
        XCTAssertEqual(events.first?["tiles"] as? Int, 2 + 2 + 1, "planned: the tiles of b, c and d")
        XCTAssertTrue(events.allSatisfy { $0["time"] is String && $0["level"] is String && $0["message"] is String })

        let summary = try JSONDecoder().decode(BatchSummary.self, from: Data(contentsOf: directory.appendingPathComponent("out/summary.json")))
        XCTAssertEqual(summary.scenes.map(\.scene), ["inbox/a.tif", "inbox/b.tif", "inbox/c.tif", "inbox/d.tif"])
        XCTAssertEqual(summary.totals.succeeded, 4)
        let metrics = try String(contentsOfFile: path("tilerun.prom"), encoding: .utf8)
        let label = "{output=\"\(path("out"))\"}"
        XCTAssertTrue(metrics.contains("tilerun_scenes_done\(label) 4\n"), metrics)
        XCTAssertTrue(metrics.contains("tilerun_scenes_failed\(label) 0\n"), metrics)
        XCTAssertTrue(metrics.contains("tilerun_last_exit_code\(label) 0\n"), metrics)
        XCTAssertTrue(metrics.contains("tilerun_last_success_timestamp_seconds\(label) "), metrics)

        // The next night, with nothing new, runs nothing.
        let quiet = try tilerun(nightly)
        XCTAssertTrue(quiet.stdout.contains("4 scenes done (4 before this run), 0 failed"), quiet.stdout)
    }

    // MARK: Signals, configuration, status

    /// SIGTERM and SIGINT stop a run within 5 seconds with 143 and 130; resumes finish it with the bytes
    /// of an uninterrupted run.
    func testSignalsStopPromptlyAndTheRunResumes() throws {
        try writePipeline()
        try writeScene("inbox", "a", width: 100, height: 260)
        try writeScene("inbox", "b", width: 100, height: 200, seed: 1)
        try tilerun(runArguments(output: "reference"))

        // Each signal comes with a band just finished and most of the batch still to do.
        for (signal, name, arguments) in [(SIGTERM, "SIGTERM", runArguments()), (SIGINT, "SIGINT", ["resume", "out"])] {
            let process = try TileRunProcess(arguments, in: directory)
            waitForProgress("out", progressRecords("out") + 1, process)
            let sent = Date()
            process.kill(signal)
            let result = process.wait()
            XCTAssertEqual(result.status, 128 + signal, result.stderr)
            XCTAssertLessThan(result.ended.timeIntervalSince(sent), 5)
            XCTAssertTrue(result.stderr.contains("\(name) received: stopping after the tiles in flight"), result.stderr)
            XCTAssertTrue(result.stdout.contains("stopped by \(name), resume with: tilerun resume "), result.stdout)
            XCTAssertEqual(temporaryFiles("out"), [])
            let state = try status("out")
            XCTAssertLessThan(state.counts.done, 2)
            XCTAssertEqual(try tilerun(["status", "out"]).stdout.contains("interrupted: "), !state.running.isEmpty)
        }
        try tilerun(["resume", "out"])
        try assertSameOutputs("out", as: "reference")
        XCTAssertEqual(temporaryFiles("out"), [])
        XCTAssertEqual(partFiles("out"), [])
    }

    /// Another tile size is refused with exit 2, naming the change and the ways on; --restart redoes.
    func testChangedPipelineIsRefusedAndRestartRedoes() throws {
        try writePipeline(probabilities: false)
        try writeScene("inbox", "a", width: 64, height: 64)
        try tilerun(runArguments())
        try writePipeline(probabilities: false, tileSize: 48)
        let refused = try tilerun(runArguments(), expect: 2)
        XCTAssertTrue(refused.stderr.contains("its scenes were made with another configuration: pipeline tileSize 48 (was 64)"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--restart"), refused.stderr)
        let restarted = try tilerun(runArguments(["--restart"]))
        XCTAssertTrue(restarted.stdout.contains("1 scene done, 0 failed"), restarted.stdout)
        // resume repeats the run without --restart: the scene is not redone.
        XCTAssertTrue(try tilerun(["resume", "out"]).stdout.contains("1 scene done (1 before this run)"))
        XCTAssertEqual(try tilerun(["status", "nowhere"], expect: 2).stderr, "tilerun: nowhere: no tilerun manifest here (not an output folder of tilerun run)\n")
    }
}

/// A `tilerun` process started in the background in a folder, its output collected in files.
final class TileRunProcess {
    struct Result {
        var status: Int32
        /// The signal that ended the process, if one did.
        var killed: Int32?
        var stdout: String
        var stderr: String
        var ended: Date
    }

    private let process = Process()
    private let stdoutURL: URL
    private let stderrURL: URL
    /// When the process ended, noted as it ends (a later `wait` would be too late to tell).
    private let ended = EndTime()

    private final class EndTime: @unchecked Sendable {
        private let lock = NSLock()
        private var date: Date?
        func set() { lock.withLock { date = Date() } }
        var value: Date? { lock.withLock { date } }
    }

    /// The job engines' variables that make a run a shard; a test run never inherits them from CI.
    static let engineVariables = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                                  "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX"]

    /// Starts `tilerun arguments` in `folder` with `environment` added; `limitFileSize` runs it under
    /// `prlimit --fsize` (bytes).
    init(_ arguments: [String], in folder: URL, limitFileSize: Int? = nil, environment: [String: String] = [:]) throws {
        let executable = try TileRunBinary.url()
        if let limitFileSize {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            process.arguments = ["--fsize=\(limitFileSize)", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        process.currentDirectoryURL = folder
        process.environment = ProcessInfo.processInfo.environment.filter { !TileRunProcess.engineVariables.contains($0.key) }
            .merging(environment) { _, added in added }
        let id = UUID().uuidString
        stdoutURL = FileManager.default.temporaryDirectory.appendingPathComponent("tilerun-\(id).out")
        stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent("tilerun-\(id).err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.terminationHandler = { [ended] _ in ended.set() }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    func kill(_ signal: Int32) { _ = Glibc.kill(process.processIdentifier, signal) }

    func wait() -> Result {
        process.waitUntilExit()
        // The termination handler runs on another queue, shortly after.
        for _ in 0..<1000 where ended.value == nil { usleep(1000) }
        defer {
            try? FileManager.default.removeItem(at: stdoutURL)
            try? FileManager.default.removeItem(at: stderrURL)
        }
        let killed = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
        return Result(status: process.terminationStatus, killed: killed,
                      stdout: (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "", ended: ended.value ?? Date())
    }
}

/// The library's SplitMix64 drives the kill moments, so they are the same on every run.
extension SplitMix64: RandomNumberGenerator {}
