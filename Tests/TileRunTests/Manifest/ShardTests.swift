import Foundation
@testable import TileRun
import XCTest

/// Which scenes a shard runs, which shard a run is, and how shards share an output folder's manifest.
final class ShardTests: XCTestCase {
    func testAssignmentIsAStableHashOfTheNameAndSplitsEveryBatchExactly() {
        // FNV-1a 64's published test vectors: the same on every machine and in every process.
        XCTAssertEqual(Shard.fnv1a(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(Shard.fnv1a("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(Shard.fnv1a("foobar"), 0x8594_4171_f739_67e8)
        let names = (0..<1000).map { "scene-\($0)" }
        for count in [1, 2, 3, 7, 16] {
            let shards = (0..<count).map { Shard(index: $0, count: count)! }
            let shares = shards.map { shard in names.filter(shard.owns(sceneNamed:)) }
            XCTAssertTrue(names.allSatisfy { name in shards.filter { $0.owns(sceneNamed: name) }.count == 1 })
            // Roughly even: no shard gets more than twice its share.
            XCTAssertLessThan(shares.map(\.count).max()!, 2 * names.count / count + 10)
        }
        XCTAssertNil(Shard(index: 4, count: 4))
        XCTAssertNil(Shard(index: 0, count: 0))
    }

    func testExplicitShardWinsOverTheEngineVariables() throws {
        let slurm = ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"]
        XCTAssertEqual(try Shard.resolve(option: "2/3", count: nil, environment: slurm), Shard(index: 2, count: 3))
        XCTAssertEqual(try Shard.resolve(option: "2/3", count: "3", environment: [:]), Shard(index: 2, count: 3))
        XCTAssertNil(try Shard.resolve(option: nil, count: nil, environment: ["PATH": "/bin"]))
    }

    func testSlurmArrayTasksAreShardsFromTheArraysFirstTaskInItsSteps() throws {
        func shard(_ variables: [String: String], count: String? = nil) throws -> Shard? {
            try Shard.resolve(option: nil, count: count, environment: variables)
        }
        XCTAssertEqual(try shard(["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"]), Shard(index: 0, count: 4))
        // --array=1-4
        XCTAssertEqual(try shard(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4",
                                  "SLURM_ARRAY_TASK_COUNT": "4"]), Shard(index: 3, count: 4))
        // --array=0-20:10
        XCTAssertEqual(try shard(["SLURM_ARRAY_TASK_ID": "10", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "20",
                                  "SLURM_ARRAY_TASK_STEP": "10", "SLURM_ARRAY_TASK_COUNT": "3"]), Shard(index: 1, count: 3))
        XCTAssertEqual(try shard(["SLURM_ARRAY_TASK_ID": "2"], count: "5"), Shard(index: 2, count: 5))
        XCTAssertThrowsError(try shard(["SLURM_ARRAY_TASK_ID": "2"])) { error in
            XCTAssertEqual("\(error)", "SLURM_ARRAY_TASK_ID is 2 but SLURM_ARRAY_TASK_COUNT is not set: give the number of shards as --shards N")
        }
        XCTAssertThrowsError(try shard(["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"])) { error in
            XCTAssertEqual("\(error)", "SLURM_ARRAY_TASK_ID 'x' is not a number")
        }
        XCTAssertThrowsError(try shard(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"])) { error in
            XCTAssertEqual("\(error)", "SLURM_ARRAY_TASK_ID 4 is not one of 4 tasks from 0 in steps of 1")
        }
    }

    func testIndexedJobPodsNeedTheCountAndBadValuesAreOneLine() throws {
        XCTAssertEqual(try Shard.resolve(option: nil, count: "3", environment: ["JOB_COMPLETION_INDEX": "2"]), Shard(index: 2, count: 3))
        let cases: [(String?, String?, [String: String], String)] = [
            (nil, nil, ["JOB_COMPLETION_INDEX": "2"], "JOB_COMPLETION_INDEX is 2: give the Job's completions as --shards N"),
            (nil, "2", ["JOB_COMPLETION_INDEX": "2"], "JOB_COMPLETION_INDEX 2 is not a shard of --shards 2 (0 to 1)"),
            (nil, "4", [:], "--shards 4 needs this run's shard: --shard I/4, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX"),
            (nil, "0", [:], "--shards 0: expected a positive number of shards"),
            ("1/2", "3", [:], "--shard 1/2 and --shards 3 disagree"),
            ("3/3", nil, [:], "--shard 3/3: the index must be from 0 to 2"),
            ("1-4", nil, [:], "--shard 1-4: expected I/N, a 0-based shard index and the number of shards (e.g. 0/4)"),
        ]
        for (option, count, environment, message) in cases {
            XCTAssertThrowsError(try Shard.resolve(option: option, count: count, environment: environment)) { error in
                XCTAssertEqual("\(error)", message)
            }
        }
    }

    func testShardFileNames() {
        XCTAssertEqual(ManifestLayout.shard(ofFile: "journal-shard-2-of-4"), Shard(index: 2, count: 4))
        XCTAssertEqual(ManifestLayout.shard(ofFile: "lock-shard-0-of-1"), Shard(index: 0, count: 1))
        XCTAssertNil(ManifestLayout.shard(ofFile: "journal"))
        XCTAssertNil(ManifestLayout.shard(ofFile: "journal-shard-4-of-4"))
    }
}
