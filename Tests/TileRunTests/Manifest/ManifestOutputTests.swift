import Foundation
@testable import TileRun
import XCTest

/// What the manifest subsystem writes for people and machines: atomic files, status, metrics, logs.
final class ManifestOutputTests: FolderTestCase {

    func testAtomicWriteReplacesAndLeavesNoTemporaryFile() throws {
        let path = directory.appendingPathComponent("a.json").path
        try AtomicFile.write(Data("one".utf8), to: path)
        try AtomicFile.write(Data("two".utf8), to: path)
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data("two".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["a.json"])
        XCTAssertThrowsError(try AtomicFile.write(Data(), to: directory.appendingPathComponent("missing/a.json").path)) { error in
            XCTAssertTrue("\(error)".contains("missing/a.json: cannot create"), "\(error)")
        }
    }

    func testTemporaryNamesAreRecognised() {
        let temporary = URL(fileURLWithPath: AtomicFile.temporaryPath(for: "/out/a-classes.tif")).lastPathComponent
        XCTAssertTrue(temporary.hasPrefix(".a-classes.tif.tmp-\(getpid())-"), temporary)
        XCTAssertTrue(AtomicFile.isTemporaryName(temporary))
        XCTAssertTrue(AtomicFile.isTemporaryName(".a.tif.tmp-12-3.level2"))
        XCTAssertFalse(AtomicFile.isTemporaryName("a.tif.tmp-12"))
        XCTAssertFalse(AtomicFile.isTemporaryName(".a.tif.tmp-x"))
        XCTAssertFalse(AtomicFile.isTemporaryName(".tilerun"))
    }

    private func sampleState() throws -> ManifestState {
        var records = try ManifestJournalTests.sampleRecords()
        records.append(.sceneStarted(SceneStarted(input: SceneIdentity(path: "/in/c.tif", size: 1, modifiedNanoseconds: 1),
                                                  attempt: 3, rows: 1000, at: 1_700_000_010)))
        records.append(.partDone(ScenePart(scene: "/in/c.tif", index: 0, firstRow: 0, rows: 256,
                                           file: OutputFile(name: ".tilerun/parts/c.part-0", size: 1, sha256: SHA256.hash(Data())),
                                           at: 1_700_000_011)))
        records.append(.batchStarted(BatchStarted(scenes: ["/in/a.tif", "/in/b.tif", "/in/c.tif", "/in/d.tif"], arguments: [],
                                                  workingDirectory: "/", at: 1_700_000_012)))
        records.append(.batchFinished(BatchFinished(done: 2, failed: 0, interrupted: false, seconds: 60, at: 1_700_000_100)))
        return ManifestState(records: records)
    }

    func testStatusCountsFailuresAndProgress() throws {
        let status = ManifestStatus(outputFolder: "/out", state: try sampleState(), lock: .free)
        XCTAssertEqual(status.counts.done, 1)
        XCTAssertEqual(status.counts.failed, 1)
        XCTAssertEqual(status.counts.running, 1)
        XCTAssertEqual(status.counts.pending, 1, "d.tif of the last batch has no record yet")
        XCTAssertEqual(status.failed, [ManifestStatus.FailedScene(scene: "/in/b.tif", reason: "/in/b.tif: not a TIFF file", attempts: 2)])
        XCTAssertEqual(status.running, [ManifestStatus.RunningScene(scene: "/in/c.tif", attempt: 3, parts: 1, rowsDone: 256, rows: 1000)])
        XCTAssertEqual(status.lastSuccess, "2023-11-14T22:15:00.000Z")
        XCTAssertEqual(status.lines, [
            "/out: 1 done, 1 failed, 1 running, 1 pending",
            "interrupted: /in/c.tif (attempt 3, 1 parts, 256/1000 rows)",
            "failed: /in/b.tif (attempt 2): /in/b.tif: not a TIFF file",
            "last complete run finished 2023-11-14T22:15:00.000Z",
        ])

        let json = try JSONSerialization.jsonObject(with: status.json()) as? [String: Any]
        let counts = json?["counts"] as? [String: Int]
        XCTAssertEqual(counts, ["pending": 1, "running": 1, "done": 1, "failed": 1, "total": 4])
        XCTAssertEqual(json?["runInProgress"] as? Bool, false)
        XCTAssertEqual(try JSONDecoder().decode(ManifestStatus.self, from: status.json()), status)
    }

    func testStatusReadsAFolderAndSeesARunInProgress() throws {
        let output = directory.appendingPathComponent("out").path
        let manifest = try Manifest.open(outputFolder: output, fingerprint: RunFingerprint(pipeline: .object([:]), modelSHA256: SHA256.hash(Data())))
        let scene = directory.appendingPathComponent("a.tif").path
        try Data("a".utf8).write(to: URL(fileURLWithPath: scene))
        try manifest.sceneStarted(try SceneIdentity.current(path: scene))
        let status = try ManifestStatus.read(outputFolder: output)
        XCTAssertTrue(status.runInProgress)
        XCTAssertEqual(status.holder?.pid, getpid())
        XCTAssertEqual(status.counts.running, 1)
        XCTAssertTrue(status.lines[2].hasPrefix("running: "), "\(status.lines)")
        manifest.close()
        XCTAssertFalse(try ManifestStatus.read(outputFolder: output).runInProgress)
    }

    func testPrometheusTextfileFormat() throws {
        let status = ManifestStatus(outputFolder: "/data/out \"night\"", state: try sampleState(), lock: .free)
        let textfile = PrometheusTextfile(status: status, lastSuccess: Date(timeIntervalSince1970: 1_700_000_100.5),
                                          batchSeconds: 61.25, exitCode: 1)
        let label = #"{output="/data/out \"night\""}"#
        XCTAssertEqual(textfile.text, """
            # HELP tilerun_last_success_timestamp_seconds When a tilerun batch last finished with every scene done.
            # TYPE tilerun_last_success_timestamp_seconds gauge
            tilerun_last_success_timestamp_seconds\(label) 1700000100.5
            # HELP tilerun_scenes_done Scenes done in the output folder.
            # TYPE tilerun_scenes_done gauge
            tilerun_scenes_done\(label) 1
            # HELP tilerun_scenes_failed Scenes failed in the output folder.
            # TYPE tilerun_scenes_failed gauge
            tilerun_scenes_failed\(label) 1
            # HELP tilerun_scenes_pending Scenes of the last batch not done yet, interrupted ones included.
            # TYPE tilerun_scenes_pending gauge
            tilerun_scenes_pending\(label) 2
            # HELP tilerun_batch_duration_seconds Duration of the last tilerun batch.
            # TYPE tilerun_batch_duration_seconds gauge
            tilerun_batch_duration_seconds\(label) 61.25
            # HELP tilerun_last_exit_code Exit code of the last tilerun batch.
            # TYPE tilerun_last_exit_code gauge
            tilerun_last_exit_code\(label) 1

            """)
        // Every sample line parses as the exposition format: name, optional labels, a number.
        for line in textfile.text.split(separator: "\n") where !line.hasPrefix("#") {
            XCTAssertNotNil(line.range(of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$"#,
                                       options: .regularExpression), String(line))
        }
        let path = directory.appendingPathComponent("tilerun.prom").path
        try textfile.write(to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), textfile.text)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["tilerun.prom"])
    }

    func testRunLogLines() throws {
        let time = Date(timeIntervalSince1970: 1_700_000_000.1234)
        XCTAssertEqual(RunLog.timestamp(time), "2023-11-14T22:13:20.123Z")
        XCTAssertEqual(RunLog.line(.plain, time: time, level: .info, "scene done", ["seconds": "3.5", "scene": "a.tif"]),
                       "2023-11-14T22:13:20.123Z info scene done\n", "fields are for the JSON lines")
        XCTAssertEqual(RunLog.line(.terminal, time: time, level: .warning, "two\nlines", [:]), "tilerun: warning: two lines\n")
        XCTAssertEqual(RunLog.line(.terminal, time: time, level: .error, "b.tif: not a TIFF file", [:]), "tilerun: b.tif: not a TIFF file\n")
        let json = RunLog.line(.json, time: time, level: .error, "a \"quoted\"\nfailure", ["scene": "b.tif"])
        XCTAssertTrue(json.hasSuffix("}\n"))
        XCTAssertEqual(json.filter { $0 == "\n" }.count, 1)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        XCTAssertEqual(object, ["time": "2023-11-14T22:13:20.123Z", "level": "error", "message": "a \"quoted\"\nfailure", "scene": "b.tif"])
    }

    func testRunLogAppendsToItsFile() throws {
        let path = directory.appendingPathComponent("run.log").path
        try Data("earlier\n".utf8).write(to: URL(fileURLWithPath: path))
        let log = try RunLog(standardError: nil, file: path, clock: { Date(timeIntervalSince1970: 0) })
        log.info("started", ["scenes": "3"])
        log.error("b.tif: not a TIFF file")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), """
            earlier
            1970-01-01T00:00:00.000Z info started
            1970-01-01T00:00:00.000Z error b.tif: not a TIFF file

            """)
        // JSON lines in the file, whatever goes to standard error.
        let jsonPath = directory.appendingPathComponent("run.jsonl").path
        let jsonLog = try RunLog(standardError: nil, file: jsonPath, fileFormat: .json, clock: { Date(timeIntervalSince1970: 0) })
        jsonLog.warning("journal: ignored a torn last record at byte 12", ["event": "note"])
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: jsonPath))) as? [String: String]
        XCTAssertEqual(object, ["time": "1970-01-01T00:00:00.000Z", "level": "warning", "event": "note",
                                "message": "journal: ignored a torn last record at byte 12"])
        XCTAssertThrowsError(try RunLog(standardError: .plain, file: directory.appendingPathComponent("no/such.log").path))
    }
}
