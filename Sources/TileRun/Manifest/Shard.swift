import Foundation

/// One shard of a batch split across machines (`--shard I/N`): the scenes whose name hashes to `index`
/// modulo `count`. Each shard keeps its own journal and lock in the output folder.
public struct Shard: Hashable, Sendable, CustomStringConvertible {
    /// 0-based.
    public let index: Int
    public let count: Int

    public init?(index: Int, count: Int) {
        guard count > 0, (0..<count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// `I/N`.
    public var description: String { "\(index)/\(count)" }
    /// The file name suffix, `-shard-I-of-N`.
    var suffix: String { "-shard-\(index)-of-\(count)" }

    /// Whether the scene whose outputs are named `name` belongs to this shard. The name, not the path,
    /// decides: it is unique within an output folder and stays the same however each machine mounts the
    /// shared storage or lists the inputs, so a rerun of shard I does the same scenes.
    public func owns(sceneNamed name: String) -> Bool {
        Int(Shard.fnv1a(name) % UInt64(count)) == index
    }

    /// 64-bit FNV-1a of the UTF-8 bytes: stable across processes and platforms (unlike `hashValue`).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// A shard that cannot be determined from the command line and environment; one line, exit 2.
public struct ShardError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

extension Shard {
    /// The shard a run is, from `--shard I/N` (`option`), `--shards N` (`count`) and the job engine's
    /// variables in `environment`, or nil for an unsharded run. An explicit `--shard` wins; otherwise a
    /// Slurm array task is shard `(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP` of
    /// `SLURM_ARRAY_TASK_COUNT` (or of `--shards N`), and a Kubernetes Indexed Job's pod is shard
    /// `JOB_COMPLETION_INDEX` of `--shards N` (a pod does not know the Job's completions).
    public static func resolve(option: String?, count: String?, environment: [String: String]) throws -> Shard? {
        let total = try count.map { try positive($0, "--shards") }
        if let option {
            let parts = option.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, let index = Int(parts[0]), let n = Int(parts[1]), n > 0 else {
                throw ShardError(description: "--shard \(option): expected I/N, a 0-based shard index and the number of shards (e.g. 0/4)")
            }
            guard let shard = Shard(index: index, count: n) else {
                throw ShardError(description: "--shard \(option): the index must be from 0 to \(n - 1)")
            }
            if let total, total != n { throw ShardError(description: "--shard \(option) and --shards \(total) disagree") }
            return shard
        }
        if let id = environment["SLURM_ARRAY_TASK_ID"] {
            return try slurm(id: id, total: total, environment: environment)
        }
        if let index = environment["JOB_COMPLETION_INDEX"] {
            guard let total else {
                throw ShardError(description: "JOB_COMPLETION_INDEX is \(index): give the Job's completions as --shards N")
            }
            guard let i = Int(index), let shard = Shard(index: i, count: total) else {
                throw ShardError(description: "JOB_COMPLETION_INDEX \(index) is not a shard of --shards \(total) (0 to \(total - 1))")
            }
            return shard
        }
        if let total {
            throw ShardError(description: "--shards \(total) needs this run's shard: --shard I/\(total), SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX")
        }
        return nil
    }

    /// A Slurm array task's shard. Arrays must be regular ranges (`--array=0-N`, `1-N`, `0-N:S`): a list
    /// such as `1,5,9` would leave shards without a task, so it is refused rather than guessed.
    private static func slurm(id: String, total: Int?, environment: [String: String]) throws -> Shard {
        func number(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text) else { throw ShardError(description: "\(name) '\(text)' is not a number") }
            return value
        }
        guard let task = Int(id) else { throw ShardError(description: "SLURM_ARRAY_TASK_ID '\(id)' is not a number") }
        let first = try number("SLURM_ARRAY_TASK_MIN") ?? 0
        let step = try number("SLURM_ARRAY_TASK_STEP") ?? 1
        let tasks = try number("SLURM_ARRAY_TASK_COUNT")
        guard let count = total ?? tasks else {
            throw ShardError(description: "SLURM_ARRAY_TASK_ID is \(task) but SLURM_ARRAY_TASK_COUNT is not set: give the number of shards as --shards N")
        }
        if let tasks, let last = try number("SLURM_ARRAY_TASK_MAX"), step > 0, last != first + (tasks - 1) * step {
            throw ShardError(description: "the Slurm array \(first)-\(last) is not \(tasks) evenly spaced tasks: submit it as --array=0-\(tasks - 1) or pass --shard I/N")
        }
        guard step > 0, task >= first, (task - first) % step == 0, let shard = Shard(index: (task - first) / step, count: count) else {
            throw ShardError(description: "SLURM_ARRAY_TASK_ID \(task) is not one of \(count) tasks from \(first) in steps of \(step)")
        }
        return shard
    }

    private static func positive(_ text: String, _ name: String) throws -> Int {
        guard let n = Int(text), n > 0 else { throw ShardError(description: "\(name) \(text): expected a positive number of shards") }
        return n
    }
}
