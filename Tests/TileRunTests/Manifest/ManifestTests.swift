import Foundation
@testable import TileRun
import XCTest

/// The manifest as a run uses it: open, checkpoint, resume, verify, refuse a changed configuration.
final class ManifestTests: FolderTestCase {
    private var output: String { directory.appendingPathComponent("out").path }

    private func fingerprint(tileSize: Int = 256, model: String = "model-1", version: String = "0.1.0") throws -> RunFingerprint {
        let settings = RunSettings(inputs: [], modelPath: "", outputFolder: "", bands: [3, 2, 1], tileSize: tileSize, overlap: 32)
        return RunFingerprint(pipeline: try settings.fingerprintFields, modelSHA256: SHA256.hash(Data(model.utf8)), tilerunVersion: version)
    }

    /// A scene file in the temporary folder.
    private func scene(_ name: String, _ content: String = "scene") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs `scene` through the manifest as the pipeline would: started, outputs written, done.
    private func complete(_ manifest: Manifest, _ scene: String) throws -> String {
        let input = try SceneIdentity.current(path: scene)
        try manifest.sceneStarted(input, rows: 100)
        let stem = URL(fileURLWithPath: scene).deletingPathExtension().lastPathComponent
        let classes = (output as NSString).appendingPathComponent("\(stem)-classes.tif")
        try AtomicFile.write(Data("classes of \(stem)".utf8), to: classes)
        try manifest.sceneDone(input: try input.hashed(), outputs: [classes], timings: ["total": 1.5])
        return classes
    }

    /// Saved bands are reused only on the device that computed them: the last bits of the arithmetic differ.
    func testSavedBandsFromAnotherDeviceAreNotReused() throws {
        let a = try scene("a.tif")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        try manifest.sceneStarted(try SceneIdentity.current(path: a), rows: 64, device: "opencl:0.0 (GPU)")
        try manifest.savePart(scene: a, stem: "a", index: 0, firstRow: 0, rows: 32, data: Data(count: 64 * 32))
        func savedBands(_ decision: SceneDecision) -> Int? {
            if case .run(_, let parts) = decision { return parts.count } else { return nil }
        }
        XCTAssertEqual(savedBands(manifest.decide(scene: a, device: "opencl:0.0 (GPU)")), 1)
        XCTAssertEqual(manifest.decide(scene: a, device: "cpu"),
                       .run(reason: "interrupted during attempt 1; its saved bands were computed on opencl:0.0 (GPU), this run uses cpu",
                            parts: []))
        // A device failure mid-scene: the scene's remaining bands come from the CPU kernels.
        try manifest.deviceFailed(device: "opencl:0.0 (GPU)", reason: "lost", scene: a)
        XCTAssertEqual(savedBands(manifest.decide(scene: a, device: "cpu")), 1)
        XCTAssertEqual(manifest.state.deviceFailures.map(\.reason), ["lost"])
        manifest.close()
    }

    func testNewFolderGetsAHeaderAndScenesResume() throws {
        let a = try scene("a.tif"), b = try scene("b.tif"), c = try scene("c.tif")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(manifest.notes, [])
        XCTAssertEqual(manifest.state.header?.fingerprint, try fingerprint())
        try manifest.batchStarted(scenes: [a, b, c], arguments: ["run", "--input", directory.path], workingDirectory: "/")
        XCTAssertEqual(manifest.decide(scene: a), .run(reason: "new scene", parts: []))
        _ = try complete(manifest, a)
        XCTAssertEqual(try manifest.sceneStarted(try SceneIdentity.current(path: b)), 1)
        try manifest.sceneFailed(scene: b, reason: "b.tif: not a TIFF file")
        try manifest.sceneStarted(try SceneIdentity.current(path: c))
        manifest.close()

        // The next run sees a done, b failed once, c interrupted.
        let resumed = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(resumed.decide(scene: a), .skip)
        XCTAssertEqual(resumed.decide(scene: b), .run(reason: "failed in attempt 1: b.tif: not a TIFF file", parts: []))
        XCTAssertEqual(resumed.decide(scene: c), .run(reason: "interrupted during attempt 1", parts: []))
        XCTAssertEqual(try resumed.sceneStarted(try SceneIdentity.current(path: b)), 2)
        XCTAssertEqual(resumed.state.lastBatch?.arguments, ["run", "--input", directory.path])
        XCTAssertEqual(resumed.state.scenes[SceneIdentity.key(for: a)]?.timings, ["total": 1.5])
        resumed.close()
    }

    func testChangedInputRunsAgainButTouchedInputDoesNot() throws {
        let a = try scene("a.tif", "first")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        _ = try complete(manifest, a)
        // Same content, new modification time: the content hash says it is the same scene.
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, a, &times, 0), 0)
        XCTAssertEqual(manifest.decide(scene: a), .skip)
        // New content of the same size.
        try Data("other".utf8).write(to: URL(fileURLWithPath: a))
        XCTAssertEqual(manifest.decide(scene: a), .run(reason: "input changed since it was done", parts: []))
        manifest.close()
    }

    func testAPairIsTrackedByBothFiles() throws {
        let pre = try scene("a-pre.tif", "pre"), post = try scene("a-post.tif", "post")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        let input = try SceneIdentity.current(path: pre, partners: [post])
        XCTAssertEqual(input.partners?.map(\.path), [SceneIdentity.key(for: post)])
        try manifest.sceneStarted(input)
        try manifest.sceneDone(input: try input.hashed(), outputs: [], timings: [:])
        XCTAssertEqual(manifest.decide(scene: pre, partners: [post]), .skip)
        // The post-event file touched: its content says it is the same.
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, post, &times, 0), 0)
        XCTAssertEqual(manifest.decide(scene: pre, partners: [post]), .skip)
        // Its content changed (same size): the pair runs again.
        try Data("POST".utf8).write(to: URL(fileURLWithPath: post))
        XCTAssertEqual(manifest.decide(scene: pre, partners: [post]), .run(reason: "input changed since it was done", parts: []))
        manifest.close()
    }

    func testAlteredOrMissingOutputMakesTheScenePendingAgain() throws {
        let a = try scene("a.tif"), b = try scene("b.tif"), c = try scene("c.tif")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        let classesA = try complete(manifest, a), classesB = try complete(manifest, b), classesC = try complete(manifest, c)
        XCTAssertEqual(manifest.decide(scene: a), .skip)

        // Same size, one byte different.
        var data = try Data(contentsOf: URL(fileURLWithPath: classesA))
        data[0] ^= 1
        try data.write(to: URL(fileURLWithPath: classesA))
        XCTAssertEqual(manifest.decide(scene: a), .run(reason: "output a-classes.tif has changed since it was written (SHA-256 differs)", parts: []))
        try Data("short".utf8).write(to: URL(fileURLWithPath: classesB))
        XCTAssertEqual(manifest.decide(scene: b), .run(reason: "output b-classes.tif has 5 bytes, the manifest recorded 12", parts: []))
        unlink(classesC)
        XCTAssertEqual(manifest.decide(scene: c), .run(reason: "output c-classes.tif is missing", parts: []))
        manifest.close()
    }

    func testFingerprintMismatchSaysWhatChangedAndTheWaysOn() throws {
        try Manifest.open(outputFolder: output, fingerprint: try fingerprint()).close()
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: try fingerprint(tileSize: 512, model: "model-2", version: "0.2.0"))) { error in
            guard let mismatch = error as? FingerprintMismatchError else { return XCTFail("\(error)") }
            let old = SHA256.hash(Data("model-1".utf8)).hex.prefix(12), new = SHA256.hash(Data("model-2".utf8)).hex.prefix(12)
            XCTAssertEqual(mismatch.changes, ["model file SHA-256 \(new)… (was \(old)…)", "pipeline tileSize 512 (was 256)",
                                              "tilerun version 0.2.0 (was 0.1.0)"])
            let message = mismatch.description
            XCTAssertTrue(message.hasPrefix("\(self.output): its scenes were made with another configuration: model file SHA-256"), message)
            XCTAssertTrue(message.contains("--restart"), message)
            XCTAssertTrue(message.contains("new output folder"), message)
            XCTAssertFalse(message.contains("\n"))
        }
        // A field that appears or disappears is named too.
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: RunFingerprint(
            pipeline: .object(["tileSize": .number(256)]), modelSHA256: SHA256.hash(Data("model-1".utf8))))) { error in
            let changes = (error as? FingerprintMismatchError)?.changes ?? []
            XCTAssertTrue(changes.contains("pipeline bands unset (was [3,2,1])"), "\(changes)")
        }
        // The lock was released on the way out, and --restart starts afresh with the new fingerprint.
        let restarted = try Manifest.open(outputFolder: output, fingerprint: try fingerprint(tileSize: 512), restart: true)
        XCTAssertEqual(restarted.state.header?.fingerprint, try fingerprint(tileSize: 512))
        XCTAssertEqual(restarted.state.scenes, [:])
        restarted.close()
    }

    func testTornJournalTailIsReportedAndRepairedOnOpen() throws {
        let a = try scene("a.tif")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        _ = try complete(manifest, a)
        manifest.close()
        let journal = ManifestLayout(outputFolder: output).journal
        let size = (try FileManager.default.attributesOfItem(atPath: journal)[.size] as! NSNumber).intValue
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: journal))
        handle.seekToEndOfFile()
        handle.write(Data("0badc0de {\"type\":\"sta".utf8))
        handle.closeFile()

        let resumed = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(resumed.notes, ["journal: ignored a torn last record at byte \(size)"])
        XCTAssertEqual(resumed.decide(scene: a), .skip)
        resumed.close()
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: journal)[.size] as! NSNumber).intValue, size)
    }

    func testDamagedHeaderIsRefused() throws {
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        _ = try complete(manifest, try scene("a.tif"))
        manifest.close()
        let journal = ManifestLayout(outputFolder: output).journal
        var data = try Data(contentsOf: URL(fileURLWithPath: journal))
        data[20] ^= 0x01
        try data.write(to: URL(fileURLWithPath: journal))
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: try fingerprint())) { error in
            XCTAssertEqual("\(error)", "\(journal): the journal's header is damaged; run with --restart to discard the manifest")
        }
    }

    func testJournalTornDuringCreationStartsAfresh() throws {
        // A crash while the header was being written leaves a journal with no whole record.
        let layout = ManifestLayout(outputFolder: output)
        try FileManager.default.createDirectory(atPath: layout.folder, withIntermediateDirectories: true)
        try Data("5e1f0a2b {\"type\":\"head".utf8).write(to: URL(fileURLWithPath: layout.journal))
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(manifest.notes, ["journal: ignored a torn last record at byte 0"])
        XCTAssertEqual(manifest.state.header?.fingerprint, try fingerprint())
        manifest.close()
        XCTAssertEqual(try JournalContents.read(path: layout.journal).records.count, 1)
    }

    func testPartsResumeOnlyWhileVerifiedAndTheInputIsUnchanged() throws {
        let a = try scene("a.tif")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        try manifest.sceneStarted(try SceneIdentity.current(path: a), rows: 300)
        let p0 = try manifest.savePart(scene: a, stem: "a", index: 0, firstRow: 0, rows: 100, data: Data(repeating: 1, count: 100))
        let p1 = try manifest.savePart(scene: a, stem: "a", index: 1, firstRow: 100, rows: 100, data: Data(repeating: 2, count: 100))
        let p2 = try manifest.savePart(scene: a, stem: "a", index: 2, firstRow: 200, rows: 50, data: Data(repeating: 3, count: 50))
        XCTAssertEqual(p1.file.name, ".tilerun/parts/a.part-1")
        XCTAssertEqual(manifest.state.scenes[SceneIdentity.key(for: a)]?.rowsInParts, 250)
        manifest.close()

        let resumed = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(resumed.decide(scene: a), .run(reason: "interrupted during attempt 1", parts: [p0, p1, p2]))
        XCTAssertEqual(try resumed.loadPart(p1), Data(repeating: 2, count: 100))
        // A damaged part ends the usable ones there.
        try Data(repeating: 9, count: 100).write(to: URL(fileURLWithPath: resumed.layout.path(p1.file.name)))
        XCTAssertEqual(resumed.decide(scene: a), .run(reason: "interrupted during attempt 1", parts: [p0]))
        XCTAssertThrowsError(try resumed.loadPart(p1))
        // A new attempt that redoes part 1 drops part 2; the scene done removes every part file.
        try resumed.sceneStarted(try SceneIdentity.current(path: a), rows: 300)
        let redone = try resumed.savePart(scene: a, stem: "a", index: 1, firstRow: 100, rows: 100, data: Data(repeating: 4, count: 100))
        XCTAssertEqual(resumed.state.scenes[SceneIdentity.key(for: a)]?.parts, [p0, redone])
        try resumed.sceneDone(input: try SceneIdentity.current(path: a), outputs: [], timings: [:])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: resumed.layout.partsFolder).filter { $0.hasPrefix("a.") }, ["a.part-2"],
                       "part 2 is no longer referenced, so the next run removes it")
        resumed.close()
        let next = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: next.layout.partsFolder), [])
        next.close()
    }

    func testPartsAreDroppedWhenTheInputChanged() throws {
        let a = try scene("a.tif", "one")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        try manifest.sceneStarted(try SceneIdentity.current(path: a))
        try manifest.savePart(scene: a, stem: "a", index: 0, firstRow: 0, rows: 10, data: Data(count: 10))
        try Data("one more".utf8).write(to: URL(fileURLWithPath: a))
        XCTAssertEqual(manifest.decide(scene: a), .run(reason: "interrupted during attempt 1", parts: []))
        try manifest.sceneStarted(try SceneIdentity.current(path: a))
        XCTAssertEqual(manifest.state.scenes[SceneIdentity.key(for: a)]?.parts, [])
        manifest.close()
    }

    func testStrayTemporaryFilesAreRemovedOnOpen() throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let strays = [".a-classes.tif.tmp-4242-3", ".a-classes.tif.tmp-4242-3.level1", ".a-statistics.json.tmp-17"]
        for name in strays + ["a-classes.tif", ".hidden"] {
            try Data("x".utf8).write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent(name)))
        }
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(manifest.notes, strays.sorted().map { "removed \((output as NSString).appendingPathComponent($0)), left by an interrupted run" })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output).sorted(), [".hidden", ".tilerun", "a-classes.tif"])
        manifest.close()
    }

    func testOutputsOutsideTheFolderAreRefused() throws {
        let a = try scene("a.tif")
        let manifest = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertThrowsError(try manifest.sceneDone(input: try SceneIdentity.current(path: a), outputs: [a], timings: [:])) { error in
            XCTAssertTrue("\(error)".contains("outside the output folder"), "\(error)")
        }
        manifest.close()
    }

    func testShardsKeepTheirOwnJournalsAndReadMergesThem() throws {
        let a = try scene("a.tif"), b = try scene("b.tif")
        let shard0 = try Manifest.open(outputFolder: output, fingerprint: try fingerprint(), shard: Shard(index: 0, count: 2))
        let shard1 = try Manifest.open(outputFolder: output, fingerprint: try fingerprint(), shard: Shard(index: 1, count: 2))
        XCTAssertTrue(shard1.layout.journal.hasSuffix(".tilerun/journal-shard-1-of-2"))
        XCTAssertTrue(shard1.layout.lock.hasSuffix(".tilerun/lock-shard-1-of-2"))
        _ = try complete(shard0, a)
        try shard1.sceneStarted(try SceneIdentity.current(path: b))
        try shard1.sceneFailed(scene: b, reason: "broken")
        shard0.close()
        shard1.close()

        // A later unsharded run did b again.
        let single = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        _ = try complete(single, b)
        single.close()
        let (state, notes) = try Manifest.read(outputFolder: output)
        XCTAssertEqual(notes, [])
        XCTAssertEqual(state.scenes[SceneIdentity.key(for: a)]?.status, .done)
        XCTAssertEqual(state.scenes[SceneIdentity.key(for: b)]?.status, .done, "done in one journal beats failed in another")
    }

    /// A run decides from every journal: it skips what a shard did, and goes on from a killed shard's saved
    /// bands, recording them in its own journal so that its next bands follow them.
    func testARunDecidesFromEveryJournalAndGoesOnFromAShardsBands() throws {
        let a = try scene("a.tif"), b = try scene("b.tif")
        let shard = try Manifest.open(outputFolder: output, fingerprint: try fingerprint(), shard: Shard(index: 0, count: 2))
        _ = try complete(shard, a)
        try shard.sceneStarted(try SceneIdentity.current(path: b), rows: 200)
        let p0 = try shard.savePart(scene: b, stem: "b", index: 0, firstRow: 0, rows: 100, data: Data(repeating: 7, count: 100))
        shard.close()

        let single = try Manifest.open(outputFolder: output, fingerprint: try fingerprint())
        XCTAssertEqual(single.notes, [], "a shard's parts are not leftovers")
        XCTAssertEqual(single.decide(scene: a), .skip)
        XCTAssertEqual(single.decide(scene: b), .run(reason: "interrupted during attempt 1", parts: [p0]))
        XCTAssertEqual(try single.sceneStarted(try SceneIdentity.current(path: b), rows: 200), 2)
        let checkpoints = try single.bandCheckpoints(scene: b, stem: "b", parts: [p0])
        XCTAssertEqual(checkpoints.saved, 1)
        XCTAssertEqual(try checkpoints.load(0), Data(repeating: 7, count: 100))
        try checkpoints.save(1, 100, 100, Data(repeating: 8, count: 100))
        single.close()
        let own = try JournalContents.read(path: ManifestLayout(outputFolder: output).journal).records
        XCTAssertEqual(ManifestState(records: own).scenes[b]?.parts.map(\.index), [0, 1])
        XCTAssertEqual(try Manifest.read(outputFolder: output).state.scenes[SceneIdentity.key(for: b)]?.rowsInParts, 200)
    }

    /// --restart on a shard discards its own journal and parts only; on an unsharded run, the whole manifest.
    func testRestartOfAShardLeavesTheOtherShardsAlone() throws {
        let a = try scene("a.tif"), b = try scene("b.tif")
        let shard0 = try Manifest.open(outputFolder: output, fingerprint: try fingerprint(), shard: Shard(index: 0, count: 2))
        let shard1 = try Manifest.open(outputFolder: output, fingerprint: try fingerprint(), shard: Shard(index: 1, count: 2))
        try shard0.sceneStarted(try SceneIdentity.current(path: a))
        let partA = try shard0.savePart(scene: a, stem: "a", index: 0, firstRow: 0, rows: 10, data: Data(count: 10))
        try shard1.sceneStarted(try SceneIdentity.current(path: b))
        let partB = try shard1.savePart(scene: b, stem: "b", index: 0, firstRow: 0, rows: 10, data: Data(count: 10))
        shard0.close()

        let restarted = try Manifest.open(outputFolder: output, fingerprint: try fingerprint(tileSize: 512), restart: true,
                                          shard: Shard(index: 0, count: 2))
        restarted.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: ManifestLayout(outputFolder: output).path(partA.file.name)))
        XCTAssertTrue(FileManager.default.fileExists(atPath: ManifestLayout(outputFolder: output).path(partB.file.name)))
        XCTAssertEqual(try Manifest.read(outputFolder: output).state.scenes[SceneIdentity.key(for: b)]?.parts, [partB])
        shard1.close()

        // An unsharded run refuses a folder whose shards were made with another configuration, until --restart.
        XCTAssertThrowsError(try Manifest.open(outputFolder: output, fingerprint: try fingerprint(tileSize: 512))) { error in
            XCTAssertTrue(error is FingerprintMismatchError, "\(error)")
        }
        try Manifest.open(outputFolder: output, fingerprint: try fingerprint(tileSize: 512), restart: true).close()
        XCTAssertEqual(ManifestLayout(outputFolder: output).allJournals().map { ($0 as NSString).lastPathComponent }, ["journal"])
        XCTAssertEqual(try Manifest.read(outputFolder: output).state.scenes, [:])
    }
}
