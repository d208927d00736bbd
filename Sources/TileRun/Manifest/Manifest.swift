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
/// A run writes only its own journal (a shard's, or the unsharded one) but decides from every journal in
/// the folder, so a scene done by any shard or run is skipped and one they left is picked up.
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

    private let locks: [FolderLock]
    private let writer: JournalWriter
    private let mutex = NSLock()
    /// This run's journal, its records so far included.
    private var current: ManifestState
    /// The folder's other journals (other shards, or the unsharded run's) as they were at `open`.
    private let others: ManifestState

    private init(layout: ManifestLayout, fingerprint: RunFingerprint, notes: [String], locks: [FolderLock],
                 writer: JournalWriter, state: ManifestState, others: ManifestState) {
        self.layout = layout
        self.fingerprint = fingerprint
        self.notes = notes
        self.locks = locks
        self.writer = writer
        current = state
        self.others = others
    }

    /// The folder's state: every journal merged, this run's records so far included.
    public var state: ManifestState { mutex.withLock { ManifestState.merged([others, current]) } }

    /// The scene at `path` (or key) as the folder's journals tell it, this run's records included.
    public func scene(_ path: String) -> SceneState? {
        let key = SceneIdentity.key(for: path)
        return mutex.withLock { sceneLocked(key) }
    }

    /// `scene` for a key; the caller holds `mutex`.
    private func sceneLocked(_ key: String) -> SceneState? {
        ManifestState.preferred(others.scenes[key], current.scenes[key])
    }

    /// Opens the manifest of `outputFolder` for a run, creating the folder and the journal as needed.
    /// A shard locks its own lock file and shares the folder's with the other shards, so shards run side by
    /// side while an unsharded run excludes them all (and they it).
    /// Throws `FolderLockedError` when another run holds the folder (or this shard), at once;
    /// `FingerprintMismatchError` when the journal (for an unsharded run, any journal of the folder) was
    /// made with another model, pipeline or tilerun; a shard leaves other shards' journals of another
    /// configuration out of its decisions instead, since they may be restarting this moment. A
    /// `ManifestError` for anything unreadable or unwritable. `restart` discards the journal and parts
    /// first (a shard's own, or for an unsharded run all of them; outputs stay until they are rewritten). Unsharded runs also delete the stray
    /// temporary files and unreferenced parts an interrupted run left; a shard cannot tell those from
    /// another shard's work in progress.
    public static func open(outputFolder: String, fingerprint: RunFingerprint, restart: Bool = false,
                            shard: Shard? = nil) throws -> Manifest {
        let layout = ManifestLayout(outputFolder: outputFolder, shard: shard)
        try createFolder(outputFolder)
        try createFolder(layout.folder)
        var locks = [try FolderLock.acquire(path: layout.lock, folder: outputFolder)]
        if shard != nil {
            locks.append(try FolderLock.acquire(path: ManifestLayout(outputFolder: outputFolder).lock, folder: outputFolder, shared: true))
        }
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
        var others: [ManifestState] = []
        for journal in layout.allJournals() where journal != layout.journal {
            // Another journal's torn tail is its own run's to repair; it is reported there and by status.
            let other = try JournalContents.read(path: journal)
            if case .header(let header)? = other.records.first, case let changes = fingerprint.changes(from: header.fingerprint),
               !changes.isEmpty {
                // A shard cannot tell a stale shard journal from one whose shard is restarting right now.
                if shard != nil { continue }
                throw FingerprintMismatchError(folder: outputFolder, changes: changes)
            }
            others.append(ManifestState(records: other.records))
        }
        if shard == nil { notes += removeLeftovers(layout, journals: [state] + others) }
        return Manifest(layout: layout, fingerprint: fingerprint, notes: notes, locks: locks, writer: writer, state: state,
                        others: ManifestState.merged(others))
    }

    /// Every journal of `outputFolder` (all shards) replayed and merged, without locking: for
    /// `tilerun status` and `tilerun resume`. A folder without a manifest reads as an empty state.
    public static func read(outputFolder: String) throws -> (state: ManifestState, notes: [String]) {
        let (journals, notes) = try readJournals(outputFolder: outputFolder)
        return (ManifestState.merged(journals.map(\.state)), notes)
    }

    /// Each journal of `outputFolder` replayed on its own, unsharded first then by shard name, without
    /// locking, with the notes about torn or damaged records.
    public static func readJournals(outputFolder: String) throws -> (journals: [(shard: Shard?, state: ManifestState)], notes: [String]) {
        var journals: [(shard: Shard?, state: ManifestState)] = []
        var notes: [String] = []
        for journal in ManifestLayout(outputFolder: outputFolder).allJournals() {
            let contents = try JournalContents.read(path: journal)
            journals.append((ManifestLayout.shard(ofFile: (journal as NSString).lastPathComponent), ManifestState(records: contents.records)))
            notes += contents.notes
        }
        return (journals, notes)
    }

    // MARK: Decisions

    /// Whether the scene at `path` (with `partners`, its other files) must run, checked against the journal
    /// and the files as they are now: a done scene is skipped only when its input is the same files (or,
    /// touched, the same content) and every output is present with the recorded size and SHA-256.
    public func decide(scene path: String, partners: [String] = [], device: String? = nil) -> SceneDecision {
        guard let scene = scene(path) else { return .run(reason: "new scene", parts: []) }
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
            return resumed("interrupted during attempt \(scene.attempts)", scene, input: now, device: device)
        case .failed(let reason):
            return resumed("failed in attempt \(scene.attempts): \(reason)", scene, input: now, device: device)
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

    /// Records that work on the scene `input` identifies begins (`rows`: its height, for progress; `device`:
    /// where its tiles run) and returns the attempt number.
    @discardableResult
    public func sceneStarted(_ input: SceneIdentity, rows: Int? = nil, device: String? = nil) throws -> Int {
        try mutex.withLock {
            let attempt = nextAttempt(input.path)
            try appendLocked(.sceneStarted(SceneStarted(input: input, attempt: attempt, rows: rows, device: device, at: Manifest.now())))
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
        let parts = scene(input.path)?.parts ?? []
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

    /// Records that `device` failed while `scene` (a path) was in flight; the run goes on on the CPU.
    public func deviceFailed(device: String, reason: String, scene path: String?) throws {
        try append(.deviceFailed(DeviceFailed(device: device, reason: reason, scene: path.map(SceneIdentity.key(for:)),
                                              at: Manifest.now())))
    }

    /// Records the end of the run.
    public func batchFinished(done: Int, failed: Int, interrupted: Bool, seconds: Double) throws {
        try append(.batchFinished(BatchFinished(done: done, failed: failed, interrupted: interrupted, seconds: seconds, at: Manifest.now())))
    }

    /// Releases the folder's lock; later checkpoints still append, but another run may then start.
    public func close() { locks.forEach { $0.release() } }

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
        guard let scene = sceneLocked(key), scene.status != .done else { return 1 }
        return scene.attempts + 1
    }

    /// Records in this run's journal the parts of `scene` another journal saved, that this attempt goes on
    /// from, so that its later parts follow them here and a crash resumes from all of them.
    func adopt(_ parts: [ScenePart], scene path: String) throws {
        try mutex.withLock {
            let key = SceneIdentity.key(for: path)
            let own = current.scenes[key]?.parts ?? []
            for part in parts where !own.contains(where: { $0.index == part.index && $0.file == part.file }) {
                var adopted = part
                adopted.at = Manifest.now()
                try appendLocked(.partDone(adopted))
            }
        }
    }

    /// The scene's parts whose input is still the same file, as far as they verify.
    /// Runs a scene again from its usable parts, or from the start when they come from another device.
    private func resumed(_ reason: String, _ scene: SceneState, input: SceneIdentity, device: String?) -> SceneDecision {
        let parts = usableParts(scene, input: input)
        if !parts.isEmpty, let device, let saved = scene.device, saved != device {
            return .run(reason: "\(reason); its saved bands were computed on \(saved), this run uses \(device)", parts: [])
        }
        return .run(reason: reason, parts: parts)
    }

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

    /// Deletes the manifest: for an unsharded run every journal and part file; for a shard its own
    /// journal and the parts it refers to, since the other shards may be at work.
    private static func discard(_ layout: ManifestLayout) throws {
        if layout.shard != nil {
            let records = (try? JournalContents.read(path: layout.journal).records) ?? []
            for part in ManifestState(records: records).scenes.values.flatMap(\.parts) { unlink(layout.path(part.file.name)) }
        } else {
            try? FileManager.default.removeItem(atPath: layout.partsFolder)
        }
        for journal in layout.shard == nil ? layout.allJournals() : [layout.journal] {
            guard unlink(journal) == 0 || errno == ENOENT else {
                throw ManifestError(path: journal, problem: "cannot delete the journal: \(errnoText())")
            }
        }
        try AtomicFile.syncFolder(containing: layout.journal)
    }

    /// For a shard: deletes the temporary files an interrupted run of this shard left for `outputs` (paths
    /// in the output folder) and for the parts of the scenes named `stems`, and returns one note per file.
    /// Only this shard writes those (its lock says no other run of it is at work), so they are strays.
    public func removeLeftovers(outputs: [String], stems: [String]) -> [String] {
        /// Deletes the temporary files in `folder` whose target (the name before `.tmp-`) `isOurs`.
        func remove(in folder: String, _ isOurs: (String) -> Bool) -> [String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.filter { name in
                guard AtomicFile.isTemporaryName(name), let marker = name.range(of: ".tmp-", options: .backwards) else { return false }
                return isOurs(String(name[name.index(after: name.startIndex)..<marker.lowerBound]))
            }.sorted().compactMap { name in
                let path = (folder as NSString).appendingPathComponent(name)
                return unlink(path) == 0 ? path : nil
            }
        }
        let outputNames = Set(outputs.map { ($0 as NSString).lastPathComponent })
        let stemSet = Set(stems)
        let removed = remove(in: layout.outputFolder) { outputNames.contains($0) }
            + remove(in: layout.partsFolder) { target in
                // `STEM.part-K`
                guard let marker = target.range(of: ".part-", options: .backwards) else { return false }
                return stemSet.contains(String(target[..<marker.lowerBound])) && Int(target[marker.upperBound...]) != nil
            }
        return removed.map { "removed \($0), left by an interrupted run" }
    }

    /// Removes temporary files in the output and parts folders and part files no scene of any journal
    /// refers to (a shard's interrupted scene may still resume from its own).
    private static func removeLeftovers(_ layout: ManifestLayout, journals: [ManifestState]) -> [String] {
        var removed = AtomicFile.removeStrayTemporaryFiles(in: layout.outputFolder)
        removed += AtomicFile.removeStrayTemporaryFiles(in: layout.partsFolder)
        let referenced = Set(journals.flatMap { $0.scenes.values.flatMap(\.parts) }.map { layout.path($0.file.name) })
        let parts = (try? FileManager.default.contentsOfDirectory(atPath: layout.partsFolder)) ?? []
        for name in parts.sorted() {
            let path = (layout.partsFolder as NSString).appendingPathComponent(name)
            if !referenced.contains(path), unlink(path) == 0 { removed.append(path) }
        }
        return removed.map { "removed \($0), left by an interrupted run" }
    }
}
