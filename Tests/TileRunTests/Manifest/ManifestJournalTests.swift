import Foundation
@testable import TileRun
import XCTest

/// The journal file: records round-trip, and torn, garbage and damaged records are found and reported.
final class ManifestJournalTests: FolderTestCase {
    private var path: String { directory.appendingPathComponent("journal").path }

    static func sampleRecords() throws -> [JournalRecord] {
        let fingerprint = RunFingerprint(pipeline: try JSONValue(parsing: Data(#"{"tileSize":256}"#.utf8)),
                                         modelSHA256: SHA256.hash(Data("model".utf8)))
        let input = SceneIdentity(path: "/in/a.tif", size: 1234, modifiedNanoseconds: 1_700_000_000_123_456_789,
                                  sha256: SHA256.hash(Data("a".utf8)))
        let output = OutputFile(name: "a-classes.tif", size: 99, sha256: SHA256.hash(Data("out".utf8)))
        let part = OutputFile(name: ".tilerun/parts/a.part-0", size: 10, sha256: SHA256.hash(Data("part".utf8)))
        return [
            .header(JournalHeader(format: 1, fingerprint: fingerprint, created: 1_700_000_000.25)),
            .batchStarted(BatchStarted(scenes: ["/in/a.tif", "/in/b.tif"], arguments: ["run", "--input", "/in"],
                                       workingDirectory: "/home", at: 1_700_000_001)),
            .sceneStarted(SceneStarted(input: SceneIdentity(path: "/in/a.tif", size: 1234, modifiedNanoseconds: 1_700_000_000_123_456_789),
                                       attempt: 1, rows: 512, at: 1_700_000_002)),
            .partDone(ScenePart(scene: "/in/a.tif", index: 0, firstRow: 0, rows: 256, file: part, at: 1_700_000_003)),
            .sceneDone(SceneDone(input: input, outputs: [output], timings: ["total": 3.5], at: 1_700_000_004)),
            .sceneFailed(SceneFailed(scene: "/in/b.tif", reason: "/in/b.tif: not a TIFF file", attempt: 2, at: 1_700_000_005)),
            .batchFinished(BatchFinished(done: 1, failed: 1, interrupted: false, seconds: 4, at: 1_700_000_006)),
        ]
    }

    private func writeJournal(_ records: [JournalRecord]) throws -> [Int] {
        let writer = try JournalWriter(path: path, validLength: 0)
        var ends: [Int] = []
        var length = 0
        for record in records {
            try writer.append(record)
            length += try JournalFormat.line(record).count
            ends.append(length)
        }
        return ends
    }

    private func fileSize() throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
    }

    func testRoundTrip() throws {
        let records = try ManifestJournalTests.sampleRecords()
        let ends = try writeJournal(records)
        let contents = try JournalContents.read(path: path)
        XCTAssertEqual(contents.records, records)
        XCTAssertEqual(contents.notes, [])
        XCTAssertEqual(contents.validLength, ends.last)
        XCTAssertEqual(try fileSize(), ends.last)

        // One line per record: 8 hex digits of CRC-32, a space, the JSON with its type.
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, records.count)
        XCTAssertTrue(lines[0].range(of: #"^[0-9a-f]{8} \{.*"type":"header".*\}$"#, options: .regularExpression) != nil, String(lines[0]))
        XCTAssertTrue(lines[4].contains(#""type":"done""#))

        let state = ManifestState(records: records)
        XCTAssertEqual(state.scenes["/in/a.tif"]?.status, .done)
        XCTAssertEqual(state.scenes["/in/a.tif"]?.outputs.map(\.name), ["a-classes.tif"])
        XCTAssertEqual(state.scenes["/in/a.tif"]?.parts, [], "a done scene keeps no parts")
        XCTAssertEqual(state.scenes["/in/b.tif"]?.status, .failed(reason: "/in/b.tif: not a TIFF file"))
        XCTAssertEqual(state.scenes["/in/b.tif"]?.attempts, 2)
        XCTAssertNil(state.lastSuccess)
    }

    func testMissingJournalReadsEmpty() throws {
        let contents = try JournalContents.read(path: path)
        XCTAssertEqual(contents.records, [])
        XCTAssertEqual(contents.validLength, 0)
    }

    func testTornLastRecordIsIgnoredAndReported() throws {
        let records = try ManifestJournalTests.sampleRecords()
        let ends = try writeJournal(records)
        // Cut the last record in the middle, as a crash during its write would.
        let cut = ends[ends.count - 2] + 20
        XCTAssertEqual(truncate(path, off_t(cut)), 0)
        let contents = try JournalContents.read(path: path)
        XCTAssertEqual(contents.records, Array(records.dropLast()))
        XCTAssertEqual(contents.validLength, ends[ends.count - 2])
        XCTAssertEqual(contents.notes, ["journal: ignored a torn last record at byte \(ends[ends.count - 2])"])

        // A writer cuts the torn tail before appending, so the next record is whole and readable.
        let writer = try JournalWriter(path: path, validLength: contents.validLength)
        try writer.append(records.last!)
        let again = try JournalContents.read(path: path)
        XCTAssertEqual(again.records, records)
        XCTAssertEqual(again.notes, [])
    }

    func testRecordMissingOnlyItsNewlineIsTorn() throws {
        let records = try ManifestJournalTests.sampleRecords()
        let ends = try writeJournal(records)
        XCTAssertEqual(truncate(path, off_t(ends.last! - 1)), 0)
        let contents = try JournalContents.read(path: path)
        XCTAssertEqual(contents.records.count, records.count - 1)
        XCTAssertEqual(contents.notes, ["journal: ignored a torn last record at byte \(ends[ends.count - 2])"])
    }

    func testGarbageAppendedIsIgnoredAndReported() throws {
        let records = try ManifestJournalTests.sampleRecords()
        let ends = try writeJournal(records)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        // Lines of garbage, one that looks like a record, and a tail without a newline.
        handle.write(Data("\u{0}\u{0}\u{ff}junk\n12345678 {\"type\":\"done\"}\n\n\u{7f}ELF".utf8))
        handle.closeFile()
        let contents = try JournalContents.read(path: path)
        XCTAssertEqual(contents.records, records)
        XCTAssertEqual(contents.validLength, ends.last)
        XCTAssertEqual(contents.notes, ["journal: ignored a torn last record at byte \(ends.last!)"])
    }

    func testDamagedRecordInTheMiddleIsSkippedAndReported() throws {
        let records = try ManifestJournalTests.sampleRecords()
        let ends = try writeJournal(records)
        // Flip one byte inside the JSON of record 3 (the part): its CRC no longer matches.
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let offset = ends[2] + 30
        data[offset] ^= 0x20
        try data.write(to: URL(fileURLWithPath: path))
        let contents = try JournalContents.read(path: path)
        XCTAssertEqual(contents.records, records.enumerated().filter { $0.offset != 3 }.map(\.element))
        XCTAssertEqual(contents.notes, ["journal: skipped a damaged record at byte \(ends[2])"])
        XCTAssertEqual(contents.validLength, ends.last, "records after the damaged one are kept")
    }

    func testFailedAppendLeavesTheJournalAsItWas() throws {
        let records = try ManifestJournalTests.sampleRecords()
        let ends = try writeJournal(Array(records.prefix(2)))
        // A file size limit makes the write fail part-way, as a full disk would.
        let writer = try JournalWriter(path: path, validLength: ends.last!)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
        let saved = limit
        signal(SIGXFSZ, SIG_IGN)
        limit.rlim_cur = rlim_t(ends.last! + 10)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        XCTAssertThrowsError(try writer.append(records[2])) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(self.path): cannot write: File too large"), "\(error)")
        }
        var restore = saved
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &restore)
        signal(SIGXFSZ, SIG_DFL)
        XCTAssertEqual(try fileSize(), ends.last)
        try writer.append(records[2])
        XCTAssertEqual(try JournalContents.read(path: path).records, Array(records.prefix(3)))
    }

    func testPendingScenesFollowTheLatestBatch() {
        func batch(_ scenes: [String], at: Double) -> JournalRecord {
            .batchStarted(BatchStarted(scenes: scenes, arguments: [], workingDirectory: "/", at: at))
        }
        let started = JournalRecord.sceneStarted(SceneStarted(input: SceneIdentity(path: "/in/a.tif", size: 1, modifiedNanoseconds: 1),
                                                              attempt: 1, rows: nil, at: 2))
        let state = ManifestState(records: [batch(["/in/a.tif", "/in/b.tif"], at: 1), started, batch(["/in/a.tif", "/in/c.tif"], at: 3)])
        XCTAssertEqual(state.scenes.mapValues(\.status), ["/in/a.tif": .running, "/in/c.tif": .pending],
                       "b.tif left the inbox before it was started")
    }

    func testMergedJournalsTakeEachScenesLatestRecordAndPendingOnlyWhereNothingElse() {
        func failed(_ scene: String, at: Double) -> JournalRecord {
            .sceneFailed(SceneFailed(scene: scene, reason: "broken", attempt: 1, at: at))
        }
        func done(_ scene: String, at: Double) -> JournalRecord {
            .sceneDone(SceneDone(input: SceneIdentity(path: scene, size: 1, modifiedNanoseconds: 1), outputs: [], timings: [:], at: at))
        }
        // a: done by one shard, redone and failed later by another; b: failed, then done by a later run;
        // c: listed and not started; d: done, then listed (pending) by a later batch elsewhere.
        let first = ManifestState(records: [done("/in/a.tif", at: 1), failed("/in/b.tif", at: 2), done("/in/d.tif", at: 3)])
        let second = ManifestState(records: [failed("/in/a.tif", at: 5), done("/in/b.tif", at: 6)])
        let pendingLatest = ManifestState(records: [.batchStarted(BatchStarted(scenes: ["/in/a.tif", "/in/c.tif", "/in/d.tif"],
                                                                               arguments: [], workingDirectory: "/", at: 9))])
        for order in [[pendingLatest, first, second], [second, pendingLatest, first], [first, second, pendingLatest]] {
            let merged = ManifestState.merged(order)
            XCTAssertEqual(merged.scenes.mapValues(\.status), ["/in/a.tif": .failed(reason: "broken"), "/in/b.tif": .done,
                                                               "/in/c.tif": .pending, "/in/d.tif": .done])
            XCTAssertEqual(merged.lastBatch?.at, 9)
        }
    }
}
