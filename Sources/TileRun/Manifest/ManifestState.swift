import Foundation

/// Where a scene stands.
public enum SceneStatus: Equatable, Sendable {
    /// Listed by the latest batch, not started yet.
    case pending
    /// Started and neither done nor failed: in progress, or interrupted if no run holds the lock.
    case running
    case done
    case failed(reason: String)
}

/// One scene as the journal tells it.
public struct SceneState: Equatable, Sendable {
    /// The scene key.
    public let scene: String
    public internal(set) var status: SceneStatus = .pending
    /// Tries since the scene was last done; the number of the try in progress while running.
    public internal(set) var attempts = 0
    /// The input as last started or, once done, as read.
    public internal(set) var input: SceneIdentity?
    /// The scene's height, when the run that started it said.
    public internal(set) var rows: Int?
    /// Where its saved bands were computed, when the run that started it said ("cpu" after a device failure).
    public internal(set) var device: String?
    /// Outputs of a done scene.
    public internal(set) var outputs: [OutputFile] = []
    /// Durable parts of a scene in flight or failed, contiguous from part 0.
    public internal(set) var parts: [ScenePart] = []
    /// Seconds per stage of a done scene.
    public internal(set) var timings: [String: Double] = [:]
    /// A done scene's tiles, and those left out as all nodata, when its run recorded them.
    public internal(set) var tiles: Int?
    public internal(set) var skippedTiles: Int?
    /// When the last record about the scene was written (seconds since 1970).
    public internal(set) var updated: Double = 0

    /// Rows held in durable parts.
    public var rowsInParts: Int { parts.reduce(0) { $0 + $1.rows } }
}

/// The state the journal's records add up to: replay them in order with `apply`.
public struct ManifestState: Equatable, Sendable {
    public internal(set) var header: JournalHeader?
    /// Scenes by key.
    public internal(set) var scenes: [String: SceneState] = [:]
    /// The most recent run's start, and the most recent end and successful end.
    public internal(set) var lastBatch: BatchStarted?
    public internal(set) var lastFinished: BatchFinished?
    public internal(set) var lastSuccess: BatchFinished?
    /// Device failures, oldest first.
    public internal(set) var deviceFailures: [DeviceFailed] = []

    public init() {}

    /// The state `records` add up to.
    public init(records: [JournalRecord]) {
        for record in records { apply(record) }
    }

    /// Adds one record.
    public mutating func apply(_ record: JournalRecord) {
        switch record {
        case .header(let header):
            if self.header == nil { self.header = header }
        case .batchStarted(let batch):
            lastBatch = batch
            // Pending means "listed by the latest batch, no record yet"; earlier batches' lists no longer count.
            scenes = scenes.filter { $0.value.status != .pending }
            for key in batch.scenes where scenes[key] == nil {
                var scene = SceneState(scene: key)
                scene.updated = batch.at
                scenes[key] = scene
            }
        case .sceneStarted(let start):
            var scene = scenes[start.input.path] ?? SceneState(scene: start.input.path)
            // Parts carry over to a new attempt only while the input is the same file.
            if scene.input.map({ !$0.sameFile(as: start.input) }) ?? true { scene.parts = [] }
            scene.status = .running
            scene.attempts = start.attempt
            scene.input = start.input
            scene.rows = start.rows
            scene.device = start.device
            scene.outputs = []
            scene.timings = [:]
            scene.updated = start.at
            scenes[start.input.path] = scene
        case .partDone(let part):
            guard var scene = scenes[part.scene], scene.status == .running, part.index <= scene.parts.count else { return }
            // A part redone replaces that part and makes every later one stale.
            scene.parts = Array(scene.parts.prefix(part.index)) + [part]
            scene.updated = part.at
            scenes[part.scene] = scene
        case .sceneDone(let done):
            var scene = scenes[done.input.path] ?? SceneState(scene: done.input.path)
            scene.status = .done
            scene.input = done.input
            scene.outputs = done.outputs
            scene.timings = done.timings
            scene.tiles = done.tiles
            scene.skippedTiles = done.skippedTiles
            scene.parts = []
            scene.updated = done.at
            scenes[done.input.path] = scene
        case .sceneFailed(let failure):
            var scene = scenes[failure.scene] ?? SceneState(scene: failure.scene)
            scene.status = .failed(reason: failure.reason)
            scene.attempts = failure.attempt
            scene.updated = failure.at
            scenes[failure.scene] = scene
        case .deviceFailed(let failure):
            deviceFailures.append(failure)
            if let key = failure.scene, var scene = scenes[key], scene.status == .running {
                scene.device = ComputeDevice.cpu.description
                scenes[key] = scene
            }
        case .batchFinished(let finished):
            lastFinished = finished
            if finished.succeeded { lastSuccess = finished }
        }
    }

    /// The states of several journals (one per shard) as one: per scene the latest record wins (a scene
    /// done, then redone and failed, is failed), pending only where no journal has more, done on a tie;
    /// the latest batch records win. Records of different machines compare by their clocks, which is
    /// enough: the same scene is recorded by two runs seconds apart at the least.
    public static func merged(_ states: [ManifestState]) -> ManifestState {
        var merged = ManifestState()
        merged.header = states.lazy.compactMap(\.header).first
        for state in states {
            for (key, scene) in state.scenes {
                merged.scenes[key] = preferred(merged.scenes[key], scene)
            }
            if let batch = state.lastBatch, batch.at > merged.lastBatch?.at ?? -.infinity { merged.lastBatch = batch }
            if let finished = state.lastFinished, finished.at > merged.lastFinished?.at ?? -.infinity { merged.lastFinished = finished }
            if let success = state.lastSuccess, success.at > merged.lastSuccess?.at ?? -.infinity { merged.lastSuccess = success }
            merged.deviceFailures += state.deviceFailures
        }
        merged.deviceFailures.sort { $0.at < $1.at }
        return merged
    }

    /// Of two journals' states of one scene, the one that tells where it stands (see `merged`).
    static func preferred(_ a: SceneState?, _ b: SceneState?) -> SceneState? {
        guard let a, let b else { return a ?? b }
        let rank = { (s: SceneState) in (s.status == .pending ? 0 : 1, s.updated, s.status == .done ? 1 : 0) }
        return rank(b) > rank(a) ? b : a
    }
}
