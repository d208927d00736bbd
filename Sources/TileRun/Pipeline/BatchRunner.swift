import Foundation
import Synchronization

/// What a batch reports while it runs, in order.
public enum RunEvent: Sendable {
    /// The batch's scenes are known: how many, how many of them were done before and are skipped, and the
    /// tiles of those that run (for progress and ETA).
    case planned(scenes: Int, skipping: Int, tiles: Int)
    /// A scene done before (its input unchanged, its outputs verified) is not run again.
    case sceneSkipped(index: Int, scene: SceneInput)
    /// A scene starts (0-based `index` of `planned.scenes`); with a manifest, `reason` says why it runs
    /// ("new scene", "interrupted during attempt 1; 3 bands saved", …).
    case sceneStarted(index: Int, scene: SceneInput, tiles: Int, reason: String?)
    /// More tiles of the running scene are done (or, for bands saved by an earlier attempt, reused).
    case tilesDone(Int)
    case sceneFinished(SceneResult)
    /// A scene, or an input that names nothing, failed: one line naming the file and the reason.
    case sceneFailed(String)
    /// The compute device failed (one line); the batch in flight and the rest of the run use the CPU.
    case deviceFailed(String)
}

/// Asks a running batch to stop at the next safe point: between batches of tiles and between scenes.
/// Set from a signal handler's queue, read by the batch.
public final class StopRequest: Sendable {
    private let signalNumber = Atomic<Int32>(0)

    public init() {}

    /// Asks the batch to stop because of `signal`; the first request's signal is kept.
    public func request(signal: Int32) {
        _ = signalNumber.compareExchange(expected: 0, desired: signal, ordering: .relaxed)
    }

    /// The signal that asked the batch to stop, or nil.
    public var signal: Int32? {
        let value = signalNumber.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    public var isRequested: Bool { signal != nil }
}

/// Thrown by `SceneProcessor.stream` when a `StopRequest` stops a scene part way: its outputs are discarded,
/// its saved bands stay for the next attempt.
public struct SceneInterrupted: Error {}

/// Runs every scene of a batch; a scene that fails costs only that scene.
///
/// Scenes stream one after another, and each scene's last step (building its Cloud-Optimized files and
/// statistics) runs while the next scene's tiles are inferred, so small scenes keep the model busy.
///
/// With a `Manifest` the batch checkpoints into its output folder: scenes done before are verified and
/// skipped, each scene's start, finished bands, and completion or failure are journaled, and a scene cut
/// short resumes from its saved bands in the next run. A manifest opened for a shard runs only the
/// shard's scenes; the batch summary then comes from whichever shard finds the whole batch done.
public struct BatchRunner: Sendable {
    public let plan: ModelPlan

    /// A runner for the scenes `plan.settings` names.
    public init(plan: ModelPlan) { self.plan = plan }

    /// The outcome of a batch.
    public struct Outcome: Sendable {
        /// The scenes processed in this run.
        public var results: [SceneResult] = []
        /// Scenes done before and skipped.
        public var skipped = 0
        /// One line per failed scene or unmatched input, naming the file and the reason.
        public var failures: [String] = []
        /// Every scene and failure in the order they happened: `summary.json` and `report.html`.
        public var summary: BatchSummary
        /// Where the summary was written, when the batch writes one (not when it was stopped).
        public var summaryPaths: (json: String, html: String)?
        /// For a shard: the batch's scenes not done (by any shard) when it finished; when there are any, it
        /// left the batch summary to the run that finishes the batch.
        public var notDone = 0
        /// The signal that stopped the batch early, if one did.
        public var stoppedBy: Int32?
        /// 128 + the signal when stopped early, else 0 when every scene succeeded and 1 when any failed.
        public var exitCode: Int32 { stoppedBy.map { 128 + $0 } ?? (failures.isEmpty ? 0 : 1) }
    }

    /// The scenes the settings name (pairs matched for pre-post models), and one line per input that
    /// gives no scene.
    public func scenes() -> (scenes: [SceneInput], problems: [String]) {
        let settings = plan.settings
        let discovered = InputDiscovery.scenes(settings.inputs)
        guard plan.isPrePost else {
            return (discovered.paths.map(SceneInput.init(file:)), discovered.problems)
        }
        let paired = ScenePairing.pairs(discovered.paths, explicit: settings.pairs, pattern: settings.pairPattern)
        return (paired.scenes, discovered.problems + paired.problems)
    }

    /// Processes the scenes (a shard's share of them, when `manifest` is a shard's), in order, reporting
    /// each step to `events` (on the calling thread), then writes the batch summary (`summary.json`,
    /// `report.html`) into the output folder; a shard writes it only when every scene of the batch is done.
    ///
    /// - Parameters:
    ///   - manifest: the output folder's manifest, open for this run; nil runs every scene without checkpoints.
    ///   - arguments: the command line to record for `tilerun resume`.
    ///   - stop: checked between batches of tiles and between scenes; a batch stopped early writes no summary.
    ///   - warnings: lines about what a shard found and did before its scenes (leftovers removed).
    /// Throws when the output folder cannot be made, the batch's start journaled or its summary written.
    public func run(manifest: Manifest? = nil, arguments: [String] = [], stop: StopRequest = StopRequest(),
                    warnings: (String) -> Void = { _ in }, events: (RunEvent) -> Void = { _ in }) throws -> Outcome {
        let started = Date()
        try FileManager.default.createDirectory(atPath: plan.settings.outputFolder, withIntermediateDirectories: true)
        var outcome = Outcome(summary: BatchSummary(classes: plan.legend, scenes: []))
        var summaries: [SceneSummary] = []
        func fail(_ line: String, scene: SceneInput? = nil) {
            outcome.failures.append(line)
            summaries.append(.failed(scene: scene?.description ?? line.components(separatedBy: ": ").first ?? line, reason: line))
            events(.sceneFailed(line))
            // A failure that cannot be journaled leaves the scene running there, which the next run redoes all the same.
            if let scene { try? manifest?.sceneFailed(scene: scene.manifestPath, reason: line) }
        }
        let everyScene = scenes()
        let shard = manifest?.layout.shard
        let found = (scenes: everyScene.scenes.filter { shard?.owns(sceneNamed: $0.name) ?? true }, problems: everyScene.problems)
        for problem in found.problems { fail(problem) }
        let processor = SceneProcessor(plan: plan)
        if let manifest, shard != nil {
            // An unsharded run cleared the whole folder when it opened the manifest; a shard clears its own scenes'.
            let outputs = found.scenes.map(processor.outputPaths).flatMap { [$0.classes, $0.probabilities, $0.quicklook, $0.json, $0.csv] }
            manifest.removeLeftovers(outputs: outputs, stems: found.scenes.map(\.name)).forEach(warnings)
        }
        try manifest?.batchStarted(scenes: found.scenes.map(\.manifestPath), arguments: arguments,
                                   workingDirectory: FileManager.default.currentDirectoryPath)
        // Done scenes are verified up front, so that progress counts only the tiles that will run.
        let actions = found.scenes.map { action(for: $0, manifest: manifest, processor: processor) }
        let tiles = found.scenes.map { processor.tileCount($0) ?? 0 }
        let tilesToRun = zip(actions, tiles).filter { !$0.0.skips }.map(\.1).reduce(0, +)
        events(.planned(scenes: found.scenes.count, skipping: actions.filter(\.skips).count, tiles: tilesToRun))

        var finishing: (scene: SceneInput, work: Prefetch<Result<SceneResult, Error>>)?
        func collect() {
            guard let (scene, work) = finishing else { return }
            finishing = nil
            switch work.value {
            case .success(let result):
                outcome.results.append(result)
                summaries.append(.succeeded(scene: scene.description, statistics: result.statistics, outputs: result.outputs,
                                            tiles: result.tiles, skippedTiles: result.skippedTiles))
                events(.sceneFinished(result))
            case .failure(let error):
                fail(Self.line(error, scene: scene), scene: scene)
            }
        }
        // A device failure is journaled once, with the scene in flight, and reported.
        var deviceFailureNoted = false
        func noteDeviceFailure(during scene: SceneInput) {
            guard !deviceFailureNoted, let failure = plan.session.deviceFailure else { return }
            deviceFailureNoted = true
            try? manifest?.deviceFailed(device: plan.device.description, reason: failure, scene: scene.manifestPath)
            events(.deviceFailed(failure))
        }
        var outputOwners: [String: SceneInput] = [:]
        scenes: for (index, scene) in found.scenes.enumerated() {
            if let signal = stop.signal {
                outcome.stoppedBy = signal
                break
            }
            // Outputs are named after the scene, so two folders' a.tif would overwrite each other.
            let classMap = processor.outputPaths(scene).classes
            if let owner = outputOwners[classMap] {
                collect()
                fail("\(scene): its outputs would overwrite those of \(owner) (same name '\(scene.name)')", scene: scene)
                continue
            }
            outputOwners[classMap] = scene
            switch actions[index] {
            case .skip(let summary):
                collect()
                summaries.append(summary)
                outcome.skipped += 1
                events(.sceneSkipped(index: index, scene: scene))
            case .run(let reason, let parts):
                events(.sceneStarted(index: index, scene: scene, tiles: tiles[index], reason: reason))
                let began = Date()
                do {
                    let input = try manifest.map { manifest in
                        let input = try SceneIdentity.current(path: scene.manifestPath, partners: scene.partners)
                        try manifest.sceneStarted(input, rows: try? RasterReader(path: scene.files[0]).info.height,
                                                  device: activeDevice)
                        return input
                    }
                    let checkpoints = try manifest?.bandCheckpoints(scene: scene.manifestPath, stem: scene.name, parts: parts)
                    let streamed: StreamedScene
                    do {
                        streamed = try processor.stream(scene, checkpoints: checkpoints, stop: stop) { events(.tilesDone($0)) }
                    } catch {
                        noteDeviceFailure(during: scene)
                        throw error
                    }
                    noteDeviceFailure(during: scene)
                    let streamSeconds = Date().timeIntervalSince(began)
                    collect()
                    // Below inference's priority, as the stages of a scene are (see SceneProcessor.stream).
                    finishing = (scene, Prefetch(on: .global(qos: .background)) {
                        Result {
                            let result = try streamed.complete()
                            if let manifest, let input {
                                try manifest.sceneDone(input: input.hashed(), outputs: result.outputFiles,
                                                       timings: ["stream": streamSeconds, "total": Date().timeIntervalSince(began)],
                                                       tiles: result.tiles, skippedTiles: result.skippedTiles)
                            }
                            return result
                        }
                    })
                } catch is SceneInterrupted {
                    // The scene stays running in the journal; the next run resumes it from its saved bands.
                    outcome.stoppedBy = stop.signal
                    break scenes
                } catch {
                    collect()
                    fail(Self.line(error, scene: scene), scene: scene)
                }
            }
        }
        collect()
        outcome.summary = BatchSummary(classes: plan.legend, scenes: summaries)
        // Best effort: the record only feeds `tilerun status` and the metrics; every scene is journaled already.
        try? manifest?.batchFinished(done: outcome.results.count + outcome.skipped, failed: outcome.failures.count,
                                     interrupted: outcome.stoppedBy != nil, seconds: Date().timeIntervalSince(started))
        guard outcome.stoppedBy == nil else { return outcome }
        if let manifest, shard != nil {
            let batch = try batchSummary(everyScene.scenes, problems: everyScene.problems.count, own: summaries,
                                         manifest: manifest, processor: processor)
            outcome.notDone = batch.notDone
            guard let summary = batch.summary else { return outcome }
            outcome.summary = summary
        }
        outcome.summaryPaths = try outcome.summary.write(to: plan.settings.outputFolder)
        return outcome
    }

    /// For a shard that has finished its scenes: the summary of the whole batch, the same as one
    /// unsharded run's, or nil and how many scenes are not done. `own` holds the shard's entries, the
    /// inputs' `problems` first (every shard sees those); other shards' scenes come from the journals, read
    /// again now, and their statistics files. Two shards finishing together may both write it, with the
    /// same bytes.
    private func batchSummary(_ scenes: [SceneInput], problems: Int, own: [SceneSummary], manifest: Manifest,
                              processor: SceneProcessor) throws -> (summary: BatchSummary?, notDone: Int) {
        let ownScenes = Dictionary(own.dropFirst(problems).map { ($0.scene, $0) }, uniquingKeysWith: { first, _ in first })
        let state = try Manifest.read(outputFolder: manifest.layout.outputFolder).state
        var entries = Array(own.prefix(problems))
        var notDone = 0
        for scene in scenes {
            let entry = ownScenes[scene.description]
                ?? state.scenes[SceneIdentity.key(for: scene.manifestPath)].flatMap { rebuiltSummary(scene, state: $0, processor: processor) }
            if let entry, entry.status == .succeeded { entries.append(entry) } else { notDone += 1 }
        }
        return (notDone == 0 ? BatchSummary(classes: plan.legend, scenes: entries) : nil, notDone)
    }

    /// What to do with a scene: skip it, with its summary entry, or run it, saying why and with which bands.
    private enum SceneAction {
        case skip(SceneSummary)
        case run(reason: String?, parts: [ScenePart])

        var skips: Bool {
            if case .skip = self { return true }
            return false
        }
    }

    /// Without a manifest every scene runs. With one, a scene done before and verified is skipped, its
    /// summary entry rebuilt from the journal and its statistics file, so the batch summary stays the same.
    private func action(for scene: SceneInput, manifest: Manifest?, processor: SceneProcessor) -> SceneAction {
        guard let manifest else { return .run(reason: nil, parts: []) }
        switch manifest.decide(scene: scene.manifestPath, partners: scene.partners, device: activeDevice) {
        case .run(let reason, let parts):
            return .run(reason: parts.isEmpty ? reason : "\(reason); \(parts.count) band\(parts.count == 1 ? "" : "s") saved", parts: parts)
        case .skip:
            guard let state = manifest.scene(scene.manifestPath), let summary = rebuiltSummary(scene, state: state, processor: processor) else {
                return .run(reason: "done before, but its summary cannot be rebuilt", parts: [])
            }
            return .skip(summary)
        }
    }

    /// The summary entry of a scene done before, from its journal state and its statistics file; nil when
    /// it is not done or they do not tell.
    private func rebuiltSummary(_ scene: SceneInput, state: SceneState, processor: SceneProcessor) -> SceneSummary? {
        let paths = processor.outputPaths(scene)
        guard state.status == .done, let tiles = state.tiles, let skippedTiles = state.skippedTiles,
              let data = FileManager.default.contents(atPath: paths.json),
              let statistics = try? JSONDecoder().decode(SceneStatistics.self, from: data) else { return nil }
        let outputs = SceneOutputs(classMap: paths.classes, probabilities: plan.settings.writeProbabilities ? paths.probabilities : nil,
                                   statisticsJSON: paths.json, statisticsCSV: paths.csv,
                                   quicklook: plan.settings.writeQuicklook ? paths.quicklook : nil)
        return .succeeded(scene: scene.description, statistics: statistics, outputs: outputs, tiles: tiles, skippedTiles: skippedTiles)
    }

    /// Where tiles run now: the plan's device until it fails, then the CPU.
    private var activeDevice: String {
        plan.session.deviceFailure == nil ? plan.device.description : ComputeDevice.cpu.description
    }

    /// One line naming the file and the reason.
    static func line(_ error: Error, scene: SceneInput) -> String {
        error is RasterError || error is ModelError || error is ManifestError ? "\(error)" : "\(scene): \(error)"
    }
}

extension SceneInput {
    /// The file the manifest tracks the scene by: the scene's file, or a pair's pre-event file.
    var manifestPath: String { files[0] }
    /// The scene's other files, which the manifest tracks along: a pair's post-event file.
    var partners: [String] { Array(files.dropFirst()) }
}

extension SceneResult {
    /// The files written, as the batch summary lists them.
    var outputs: SceneOutputs {
        SceneOutputs(classMap: classMap, probabilities: probabilities, statisticsJSON: statisticsJSON,
                     statisticsCSV: statisticsCSV, quicklook: quicklook)
    }

    /// Every file written, for the manifest.
    var outputFiles: [String] {
        [classMap] + [probabilities, quicklook].compactMap { $0 } + [statisticsJSON, statisticsCSV]
    }
}
