import Foundation

/// What a resumed run should do with a scene.
public enum SceneDecision: Equatable, Sendable {
    /// Done before, input unchanged, every output verified.
    case skip
    /// Run it; `reason` says why in a few words ("new scene", "interrupted", "output a-classes.tif is
    /// missing", …). `parts` are durable bands to reuse, verified, contiguous from part 0.
    case run(reason: String, parts: [ScenePart])
}

/// The checkpoint manifest of one output folder, open for a run: holds the folder's lock, replays the
/// journal, and appends a synced record at each checkpoint. Safe to call from several threads.
///
/// A run calls, in order: `open`, `batchStarted`, then per scene `decide` and, when it runs the scene,
/// `sceneStarted`, any number of `savePart`, and `sceneDone` or `sceneFailed`; finally `batchFinished`
/// and `close`. Outputs must be in place and synced before `sceneDone`; `AtomicFile` and `RasterWriter`
/// both do that.
public final class Manifest: @unchecked Sendable {
    public let layout: ManifestLayout
    public let fingerprint: RunFingerprint
    /// What opening found and did, one line each: torn or damaged records, stray files removed.
    public let notes: [String]

    private let folderLock: FolderLock
    private let writer: JournalWriter
    private let mutex = NSLock()
    private var current: ManifestState

    private init(layout: ManifestLayout, fingerprint: RunFingerprint, notes: [String], folderLock: FolderLock,
                 writer: JournalWriter, state: ManifestState) {
        self.layout = layout
        self.fingerprint = fingerprint
        self.notes = notes
        self.folderLock = folderLock
        self.writer = writer
        current = state
    }

    /// The state so far, this run's records included.
    public var state: ManifestState { mutex.withLock { current } }

    /// Opens the manifest of `outputFolder` for a run, creating the folder and the journal as needed.
    /// Throws `FolderLockedError` when another run holds the folder (or this shard), at once;
    /// `FingerprintMismatchError` when the journal was made with another model, pipeline or tilerun;
    /// a `ManifestError` for anything unreadable or unwritable. `restart` discards the journal and
    /// parts first (outputs stay until they are rewritten). Unsharded runs also delete the stray
    /// temporary files and unreferenced parts an interrupted run left; a shard cannot tell those from
    /// another shard's work in progress.
    public static func open(outputFolder: String, fingerprint: RunFingerprint, restart: Bool = false,
                            shard: Shard? = nil) throws -> Manifest {
        let layout = ManifestLayout(outputFolder: outputFolder, shard: shard)
        try createFolder(outputFolder)
        try createFolder(layout.folder)
        let lock = try FolderLock.acquire(path: layout.lock, folder: outputFolder)
        if restart { try discard(layout) }

        var contents = try JournalContents.read(path: layout.journal)
        if let first = contents.records.first {
            guard case .header(let header) = first else {
                throw ManifestError(path: layout.journal, problem: "the journal's header is damaged; run with --restart to discard the manifest")
            }
            guard header.format <= JournalHeader.currentFormat else {
                throw ManifestError(path: layout.journal, problem: "the journal has format \(header.format), written by a newer tilerun than \(TileRunVersion.string)")
            }
            let changes = fingerprint.changes(from: header.fingerprint)
            guard changes.isEmpty else { throw FingerprintMismatchError(folder: outputFolder, changes: changes) }
        }
        let writer = try JournalWriter(path: layout.journal, validLength: contents.validLength)
        if contents.records.isEmpty {
            let header = JournalHeader(format: JournalHeader.currentFormat, fingerprint: fingerprint, created: now())
            try writer.append(.header(header))
            contents.records = [.header(header)]
        }
        let state = ManifestState(records: contents.records)
        var notes = contents.notes
        if shard == nil { notes += removeLeftovers(layout, state: state) }
        return Manifest(layout: layout, fingerprint: fingerprint, notes: notes, folderLock: lock, writer: writer, state: state)
    }

    /// Every journal of `outputFolder` (all shards) replayed and merged, without locking: for
    /// `tilerun status` and `tilerun resume`. A folder without a manifest reads as an empty state.
    public static func read(outputFolder: String) throws -> (state: ManifestState, notes: [String]) {
        var states: [ManifestState] = []
        var notes: [String] = []
        for journal in ManifestLayout(outputFolder: outputFolder).allJournals() {
            let contents = try JournalContents.read(path: journal)
            states.append(ManifestState(records: contents.records))
            notes += contents.notes
        }
        return (ManifestState.merged(states), notes)
    }

    // MARK: Decisions

    /// Whether the scene at `path` (with `partners`, its other files) must run, checked against the journal
    /// and the files as they are now: a done scene is skipped only when its input is the same files (or,
    /// touched, the same content) and every output is present with the recorded size and SHA-256.
    public func decide(scene path: String, partners: [String] = []) -> SceneDecision {
        guard let scene = state.scenes[SceneIdentity.key(for: path)] else { return .run(reason: "new scene", parts: []) }
        guard let now = try? SceneIdentity.current(path: path, partners: partners) else {
            return .run(reason: "input cannot be examined", parts: [])
        }
        switch scene.status {
        case .done:
            guard let recorded = scene.input, Manifest.sameContent(recorded, now) else {
                return .run(reason: "input changed since it was done", parts: [])
            }
            for output in scene.outputs {
                if let problem = output.problem(at: layout.path(output.name)) { return .run(reason: problem, parts: []) }
            }
            return .skip
        case .running:
            return .run(reason: "interrupted during attempt \(scene.attempts)", parts: usableParts(scene, input: now))
        case .failed(let reason):
            return .run(reason: "failed in attempt \(scene.attempts): \(reason)", parts: usableParts(scene, input: now))
        case .pending:
            return .run(reason: "new scene", parts: [])
        }
    }

    /// The bytes of `part`, checked against its recorded size and hash; throws a `ManifestError` naming
    /// the part file when they differ.
    public func loadPart(_ part: ScenePart) throws -> Data {
        let path = layout.path(part.file.name)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManifestError(path: path, problem: "cannot read the part file")
        }
        guard Int64(data.count) == part.file.size, SHA256.hash(data) == part.file.sha256 else {
            throw ManifestError(path: path, problem: "the part file differs from the one the journal recorded")
        }
        return data
    }

    // MARK: Checkpoints

    /// Records a run's start: the scenes it found (paths or keys) and its command line.
    public func batchStarted(scenes: [String], arguments: [String], workingDirectory: String) throws {
        try append(.batchStarted(BatchStarted(scenes: scenes.map(SceneIdentity.key(for:)), arguments: arguments,
                                              workingDirectory: workingDirectory, at: Manifest.now())))
    }

    /// Records that work on the scene `input` identifies begins (`rows`: its height, for progress) and
    /// returns the attempt number.
    @discardableResult
    public func sceneStarted(_ input: SceneIdentity, rows: Int? = nil) throws -> Int {
        try mutex.withLock {
            let attempt = nextAttempt(input.path)
            try appendLocked(.sceneStarted(SceneStarted(input: input, attempt: attempt, rows: rows, at: Manifest.now())))
            return attempt
        }
    }

    /// Makes rows `firstRow ..< firstRow + rows` of a running scene durable: writes `data` atomically as
    /// part `index` of the scene whose outputs are named `stem`, then records it. `scene` is its path.
    @discardableResult
    public func savePart(scene: String, stem: String, index: Int, firstRow: Int, rows: Int, data: Data) throws -> ScenePart {
        let name = layout.partName(stem: stem, index: index)
        try Manifest.createFolder(layout.partsFolder)
        try AtomicFile.write(data, to: layout.path(name))
        let part = ScenePart(scene: SceneIdentity.key(for: scene), index: index, firstRow: firstRow, rows: rows,
                             file: OutputFile(name: name, size: Int64(data.count), sha256: SHA256.hash(data)), at: Manifest.now())
        try append(.partDone(part))
        return part
    }

    /// Records a scene as done: hashes each output (paths inside the output folder, already in place and
    /// synced), appends the record, then deletes the scene's part files. `tiles` and `skippedTiles` (its
    /// grid's tiles and those left out as all nodata) let a later run that skips the scene summarize it.
    public func sceneDone(input: SceneIdentity, outputs: [String], timings: [String: Double], tiles: Int? = nil,
                          skippedTiles: Int? = nil) throws {
        let folder = URL(fileURLWithPath: layout.outputFolder).standardized.path + "/"
        let files = try outputs.map { path -> OutputFile in
            let absolute = SceneIdentity.key(for: path)
            guard absolute.hasPrefix(folder) else {
                throw ManifestError(path: path, problem: "an output outside the output folder \(layout.outputFolder) cannot be recorded")
            }
            return try OutputFile(hashing: absolute, name: String(absolute.dropFirst(folder.count)))
        }
        let parts = state.scenes[input.path]?.parts ?? []
        try append(.sceneDone(SceneDone(input: input, outputs: files, timings: timings, tiles: tiles, skippedTiles: skippedTiles,
                                        at: Manifest.now())))
        // Only now are the parts unneeded; one left behind by a crash here is removed by the next run.
        for part in parts { unlink(layout.path(part.file.name)) }
    }

    /// Records a scene's failure; `reason` is one line.
    public func sceneFailed(scene path: String, reason: String) throws {
        try mutex.withLock {
            let key = SceneIdentity.key(for: path)
            let attempt = current.scenes[key]?.status == .running ? current.scenes[key]!.attempts : nextAttempt(key)
            try appendLocked(.sceneFailed(SceneFailed(scene: key, reason: reason, attempt: attempt, at: Manifest.now())))
        }
    }

    /// Records the end of the run.
    public func batchFinished(done: Int, failed: Int, interrupted: Bool, seconds: Double) throws {
        try append(.batchFinished(BatchFinished(done: done, failed: failed, interrupted: interrupted, seconds: seconds, at: Manifest.now())))
    }

    /// Releases the folder's lock; later checkpoints still append, but another run may then start.
    public func close() { folderLock.release() }

    // MARK: Internals

    private func append(_ record: JournalRecord) throws {
        try mutex.withLock { try appendLocked(record) }
    }

    /// Appends and applies `record`; the caller holds `mutex`.
    private func appendLocked(_ record: JournalRecord) throws {
        try writer.append(record)
        current.apply(record)
    }

    private func nextAttempt(_ key: String) -> Int {
        guard let scene = current.scenes[key], scene.status != .done else { return 1 }
        return scene.attempts + 1
    }

    /// The scene's parts whose input is still the same file, as far as they verify.
    private func usableParts(_ scene: SceneState, input: SceneIdentity) -> [ScenePart] {
        guard scene.input?.sameFile(as: input) == true else { return [] }
        return Array(scene.parts.prefix { $0.file.problem(at: layout.path($0.file.name)) == nil })
    }

    /// The same files by path, size and time, or, where only the time differs, by content hash.
    private static func sameContent(_ recorded: SceneIdentity, _ now: SceneIdentity) -> Bool {
        let recordedPartners = recorded.partners ?? [], nowPartners = now.partners ?? []
        guard recordedPartners.count == nowPartners.count, zip(recordedPartners, nowPartners).allSatisfy(sameContent) else { return false }
        if recorded.path == now.path, recorded.size == now.size, recorded.modifiedNanoseconds == now.modifiedNanoseconds { return true }
        guard recorded.path == now.path, recorded.size == now.size, let digest = recorded.sha256 else { return false }
        return (try? SHA256.hash(fileAt: now.path).digest) == digest
    }

    private static func now() -> Double { Date().timeIntervalSince1970 }

    /// Creates `path` when missing and syncs its parent, so the new folder survives a power cut.
    private static func createFolder(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ManifestError(path: path, problem: "exists and is not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ManifestError(path: path, problem: "cannot create the folder (\(error.localizedDescription))")
        }
        try AtomicFile.syncFolder(containing: path)
    }

    /// Deletes this run's journal and every part file.
    private static func discard(_ layout: ManifestLayout) throws {
        guard unlink(layout.journal) == 0 || errno == ENOENT else {
            throw ManifestError(path: layout.journal, problem: "cannot delete the journal: \(errnoText())")
        }
        try? FileManager.default.removeItem(atPath: layout.partsFolder)
        try AtomicFile.syncFolder(containing: layout.journal)
    }

    /// Removes temporary files in the output and parts folders and part files no scene refers to.
    private static func removeLeftovers(_ layout: ManifestLayout, state: ManifestState) -> [String] {
        var removed = AtomicFile.removeStrayTemporaryFiles(in: layout.outputFolder)
        removed += AtomicFile.removeStrayTemporaryFiles(in: layout.partsFolder)
        // Parts of every journal count: a shard's interrupted scene may still resume from its own.
        let journals = layout.allJournals().compactMap { try? JournalContents.read(path: $0).records }
        let referenced = Set(([state] + journals.map(ManifestState.init(records:)))
            .flatMap { $0.scenes.values.flatMap(\.parts) }.map { layout.path($0.file.name) })
        let parts = (try? FileManager.default.contentsOfDirectory(atPath: layout.partsFolder)) ?? []
        for name in parts.sorted() {
            let path = (layout.partsFolder as NSString).appendingPathComponent(name)
            if !referenced.contains(path), unlink(path) == 0 { removed.append(path) }
        }
        return removed.map { "removed \($0), left by an interrupted run" }
    }
}
