import Foundation
@testable import TileRun
import XCTest

/// `tilerun run --shard I/N`: one batch split into shards that run at once on one output folder, as the
/// tasks of a Slurm array or a Kubernetes Indexed Job do, killed, rerun, and finished by an unsharded run.
final class ShardCommandTests: FolderTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        let pipeline: [String: Any] = ["model": try PipelineFixtures.model(), "tileSize": 64, "overlap": 16, "batch": 2,
                                       "threads": 1, "outputs": ["probabilities": true]]
        try JSONSerialization.data(withJSONObject: pipeline).write(to: directory.appendingPathComponent("pipeline.json"))
    }

    /// Writes scenes `s0` … `s{count-1}` into `inbox`, each a few bands tall.
    private func writeScenes(_ count: Int) throws {
        try FileManager.default.createDirectory(atPath: path("inbox"), withIntermediateDirectories: true)
        for i in 0..<count {
            try PipelineFixtures.writeScene(path("inbox/s\(i).tif"), width: 96 + 16 * (i % 3), height: 150, noData: NoData(value: 0)) { b, x, y in
                max(1, PipelineFixtures.texture(b + i, x, y))
            }
        }
    }

    private func runArguments(output: String = "out", _ extra: [String] = []) -> [String] {
        ["run", "pipeline.json", "--input", "inbox", "--output", output, "--progress", "lines"] + extra
    }

    @discardableResult
    private func tilerun(_ arguments: [String], expect status: Int32? = 0, environment: [String: String] = [:],
                         file: StaticString = #filePath, line: UInt = #line) throws -> TileRunProcess.Result {
        let result = try TileRunProcess(arguments, in: directory, environment: environment).wait()
        if let status { XCTAssertEqual(result.status, status, "tilerun \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line) }
        return result
    }

    /// Asserts that `folder` holds the bytes of `reference`, file for file (the manifest aside).
    private func assertSameOutputs(_ folder: String, as reference: String, file: StaticString = #filePath, line: UInt = #line) throws {
        func outputs(_ folder: String) throws -> [String: Data] {
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: path(folder)) where name != ManifestLayout.folderName {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: path("\(folder)/\(name)")))
            }
            return files
        }
        let got = try outputs(folder), expected = try outputs(reference)
        XCTAssertEqual(got.keys.sorted(), expected.keys.sorted(), file: file, line: line)
        for (name, data) in expected where got[name] != data {
            XCTFail("\(folder)/\(name) differs from \(reference)/\(name)", file: file, line: line)
        }
    }

    private func status(_ folder: String) throws -> ManifestStatus {
        try JSONDecoder().decode(ManifestStatus.self, from: Data(try tilerun(["status", folder, "--json"]).stdout.utf8))
    }

    private func progressRecords(_ journal: String) -> Int {
        let text = (try? String(contentsOfFile: journal, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.contains("\"type\":\"part\"") || $0.contains("\"type\":\"done\"") }.count
    }

    // MARK: Acceptance

    /// Four shards started at once on one output folder, one killed with SIGKILL part way and rerun: the
    /// outputs, batch summary and report included, are the bytes of one unsharded run, and status says
    /// every scene is done, per shard too.
    func testFourShardsAtOnceOneKilledAndRerunGiveTheBytesOfASingleRun() throws {
        try writeScenes(10)
        try tilerun(runArguments(output: "reference"))
        let shares = (0..<4).map { k in (0..<10).filter { Shard(index: k, count: 4)!.owns(sceneNamed: "s\($0)") } }
        XCTAssertEqual(shares.map(\.count).reduce(0, +), 10)
        let victim = try XCTUnwrap(shares.indices.max { shares[$0].count < shares[$1].count })

        let processes = try (0..<4).map { try TileRunProcess(runArguments(["--shard", "\($0)/4"]), in: directory) }
        let journal = ManifestLayout(outputFolder: path("out"), shard: Shard(index: victim, count: 4)).journal
        while processes[victim].isRunning && progressRecords(journal) < 2 { usleep(5_000) }
        processes[victim].kill(SIGKILL)
        let results = processes.map { $0.wait() }
        XCTAssertEqual(results[victim].killed, SIGKILL, "the shard was killed before it finished")
        for (k, result) in results.enumerated() where k != victim {
            XCTAssertEqual(result.status, 0, "shard \(k): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("shard \(k)/4: the scenes whose names hash to \(k) of 4"), result.stderr)
            XCTAssertTrue(result.stdout.contains("\(shares[k].count) scene\(shares[k].count == 1 ? "" : "s") done, 0 failed"), result.stdout)
        }
        let interrupted = try status("out")
        XCTAssertLessThan(interrupted.counts.done, 10)
        XCTAssertFalse(interrupted.runInProgress)

        let rerun = try tilerun(runArguments(["--shard", "\(victim)/4"]))
        XCTAssertTrue(rerun.stdout.contains("\(shares[victim].count) scenes done"), rerun.stdout)
        try assertSameOutputs("out", as: "reference")
        let done = try status("out")
        XCTAssertEqual(done.counts.done, 10)
        XCTAssertEqual(done.counts.total, 10)
        XCTAssertEqual(done.shards.map(\.shard), ["0/4", "1/4", "2/4", "3/4"])
        XCTAssertEqual(done.shards.map(\.counts.done), shares.map(\.count))
        XCTAssertTrue(try tilerun(["status", "out"]).stdout.contains("shard \(victim)/4: \(shares[victim].count)/\(shares[victim].count) done, 0 failed"))
        // An unsharded run on the folder finds nothing left to do.
        XCTAssertTrue(try tilerun(runArguments()).stdout.contains("10 scenes done (10 before this run), 0 failed"))
        try assertSameOutputs("out", as: "reference")
    }

    /// Only shard 0 of 2 ran: it leaves the batch summary to whoever finishes the batch, and a run without
    /// `--shard` (or `tilerun resume`) picks up the rest, giving the bytes of one run.
    func testAnUnshardedRunPicksUpWhatTheShardsLeft() throws {
        try writeScenes(4)
        try tilerun(runArguments(output: "reference"))
        let first = try tilerun(runArguments(["--shard", "0/2"]))
        XCTAssertEqual((0..<4).filter { Shard(index: 0, count: 2)!.owns(sceneNamed: "s\($0)") }, [0, 2])
        XCTAssertTrue(first.stdout.contains("2 scenes done, 0 failed"), first.stdout)
        XCTAssertTrue(first.stderr.contains("2 scenes are not done yet (other shards' or failed): summary.json and report.html are left to the run that finishes the batch"), first.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out/summary.json")))
        let partial = try status("out")
        XCTAssertEqual(partial.shards.map(\.shard), ["0/2"])
        XCTAssertEqual(partial.counts.done, 2)

        // resume repeats the shard's command without the shard: the whole batch.
        let rest = try tilerun(["resume", "out"])
        XCTAssertTrue(rest.stdout.contains("4 scenes done (2 before this run), 0 failed"), rest.stdout)
        try assertSameOutputs("out", as: "reference")
        XCTAssertEqual(try status("out").counts.done, 4)
    }

    /// Shards come from the job engine's variables: a Slurm array task (offset by its first id) and an
    /// Indexed Job's pod with the count on the command line; bad values are one line and exit 2.
    func testShardFromEngineVariablesAndBadValues() throws {
        try writeScenes(2)
        let slurm = try tilerun(runArguments(), environment: ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "2",
                                                              "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "2"])
        XCTAssertTrue(slurm.stderr.contains("shard 1/2: "), slurm.stderr)
        let kubernetes = try tilerun(runArguments(["--shards", "2"]), environment: ["JOB_COMPLETION_INDEX": "0"])
        XCTAssertTrue(kubernetes.stderr.contains("shard 0/2: "), kubernetes.stderr)
        XCTAssertEqual(try status("out").counts.done, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("out/summary.json")), "the shard that finished the batch wrote the summary")

        for (arguments, environment, message) in [
            (["--shard", "4/4"], [:], "--shard 4/4: the index must be from 0 to 3"),
            (["--shard", "two"], [:], "--shard two: expected I/N"),
            ([], ["JOB_COMPLETION_INDEX": "1"], "JOB_COMPLETION_INDEX is 1: give the Job's completions as --shards N"),
            ([], ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9", "SLURM_ARRAY_TASK_COUNT": "3"],
             "the Slurm array 1-9 is not 3 evenly spaced tasks"),
        ] as [([String], [String: String], String)] {
            let refused = try tilerun(runArguments(arguments), expect: 2, environment: environment)
            XCTAssertTrue(refused.stderr.contains(message), refused.stderr)
            XCTAssertEqual(refused.stderr.split(separator: "\n").filter { $0.contains(" error ") || $0.hasPrefix("tilerun:") }.count, 1, refused.stderr)
        }
    }
}
