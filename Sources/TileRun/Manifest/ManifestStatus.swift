import Foundation

/// A summary of an output folder's manifest for `tilerun status DIR [--json]`: counts per state, failed
/// scenes with reasons, running scenes with their progress through parts, and each shard's progress.
public struct ManifestStatus: Codable, Equatable, Sendable {
    public struct Counts: Codable, Equatable, Sendable {
        /// Scenes the latest batch listed that have no record yet.
        public var pending = 0
        public var running = 0
        public var done = 0
        public var failed = 0
        public var total: Int { pending + running + done + failed }

        private enum CodingKeys: String, CodingKey { case pending, running, done, failed, total }

        public init() {}

        /// The counts of `scenes`.
        init<S: Sequence>(_ scenes: S) where S.Element == SceneState {
            for scene in scenes {
                switch scene.status {
                case .pending: pending += 1
                case .running: running += 1
                case .done: done += 1
                case .failed: failed += 1
                }
            }
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            pending = try c.decode(Int.self, forKey: .pending)
            running = try c.decode(Int.self, forKey: .running)
            done = try c.decode(Int.self, forKey: .done)
            failed = try c.decode(Int.self, forKey: .failed)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(pending, forKey: .pending)
            try c.encode(running, forKey: .running)
            try c.encode(done, forKey: .done)
            try c.encode(failed, forKey: .failed)
            try c.encode(total, forKey: .total)
        }
    }

    public struct FailedScene: Codable, Equatable, Sendable {
        public var scene: String
        public var reason: String
        public var attempts: Int
    }

    public struct RunningScene: Codable, Equatable, Sendable {
        public var scene: String
        public var attempt: Int
        /// Durable parts so far, and the rows they hold out of `rows` (when known).
        public var parts: Int
        public var rowsDone: Int
        public var rows: Int?
    }

    /// One shard's scenes (those its journal lists) and where they stand now, by every journal.
    public struct ShardProgress: Codable, Equatable, Sendable {
        /// `I/N`.
        public var shard: String
        public var counts: Counts
        /// Whether the shard's run holds its lock now.
        public var runInProgress: Bool
    }

    public var outputFolder: String
    /// Whether a run holds the folder's lock now; when none does, running scenes were interrupted.
    public var runInProgress: Bool
    public var holder: FolderLock.Holder?
    public var counts: Counts
    /// Sorted by scene.
    public var failed: [FailedScene]
    public var running: [RunningScene]
    /// ISO 8601 UTC of the last run that finished with every scene done, if any.
    public var lastSuccess: String?
    /// Torn or damaged journal records found while reading.
    public var notes: [String]
    /// Per shard, when shards have worked in the folder; sorted by shard.
    public var shards: [ShardProgress] = []
    /// Compute devices that failed during runs (the runs went on on the CPU), oldest first.
    public var deviceFailures: [DeviceFailed]

    /// The summary of `state`.
    public init(outputFolder: String, state: ManifestState, lock: FolderLock.State, notes: [String] = []) {
        self.outputFolder = outputFolder
        if case .held(let holder) = lock {
            runInProgress = true
            self.holder = holder
        } else {
            runInProgress = false
        }
        var failed: [FailedScene] = []
        var running: [RunningScene] = []
        for scene in state.scenes.values {
            switch scene.status {
            case .pending, .done: break
            case .running:
                running.append(RunningScene(scene: scene.scene, attempt: scene.attempts, parts: scene.parts.count,
                                            rowsDone: scene.rowsInParts, rows: scene.rows))
            case .failed(let reason):
                failed.append(FailedScene(scene: scene.scene, reason: reason, attempts: scene.attempts))
            }
        }
        counts = Counts(state.scenes.values)
        self.failed = failed.sorted { $0.scene < $1.scene }
        self.running = running.sorted { $0.scene < $1.scene }
        lastSuccess = state.lastSuccess.map { RunLog.timestamp(Date(timeIntervalSince1970: $0.at)) }
        deviceFailures = state.deviceFailures
        self.notes = notes
    }

    /// The status of the folder as it is now: every journal merged, each shard's scenes counted, and
    /// whether a run (or a shard's) holds a lock.
    public static func read(outputFolder: String) throws -> ManifestStatus {
        let (journals, notes) = try Manifest.readJournals(outputFolder: outputFolder)
        let state = ManifestState.merged(journals.map(\.state))
        var shards: [(shard: Shard, progress: ShardProgress)] = []
        var lock = FolderLock.state(path: ManifestLayout(outputFolder: outputFolder).lock)
        for case let (shard?, journal) in journals {
            let shardLock = FolderLock.state(path: ManifestLayout(outputFolder: outputFolder, shard: shard).lock)
            if lock == .free { lock = shardLock }
            shards.append((shard, ShardProgress(shard: shard.description, counts: Counts(journal.scenes.keys.compactMap { state.scenes[$0] }),
                                                runInProgress: shardLock != .free)))
        }
        var status = ManifestStatus(outputFolder: outputFolder, state: state, lock: lock, notes: notes)
        status.shards = shards.sorted { ($0.shard.count, $0.shard.index) < ($1.shard.count, $1.shard.index) }.map(\.progress)
        return status
    }

    /// Pretty-printed JSON with sorted keys.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Lines for a terminal.
    public var lines: [String] {
        var lines = ["\(outputFolder): \(counts.done) done, \(counts.failed) failed, \(counts.running) running, \(counts.pending) pending"]
        if let holder {
            lines.append("a run is in progress: pid \(holder.pid) on \(holder.host), started \(holder.started)")
        } else if runInProgress {
            lines.append("a run is in progress")
        }
        for shard in shards {
            let c = shard.counts
            lines.append("shard \(shard.shard): \(c.done)/\(c.total) done, \(c.failed) failed, \(c.running) running, \(c.pending) pending\(shard.runInProgress ? " (running)" : "")")
        }
        for scene in running {
            let rows = scene.rows.map { "\(scene.rowsDone)/\($0) rows" } ?? "\(scene.rowsDone) rows"
            lines.append("\(runInProgress ? "running" : "interrupted"): \(scene.scene) (attempt \(scene.attempt), \(scene.parts) parts, \(rows))")
        }
        for scene in failed {
            lines.append("failed: \(scene.scene) (attempt \(scene.attempts)): \(scene.reason)")
        }
        for failure in deviceFailures {
            let when = RunLog.timestamp(Date(timeIntervalSince1970: failure.at))
            lines.append("device failed \(when): \(failure.device)\(failure.scene.map { " during \($0)" } ?? ""): \(failure.reason); finished on the CPU")
        }
        if let lastSuccess { lines.append("last complete run finished \(lastSuccess)") }
        return lines + notes
    }
}
