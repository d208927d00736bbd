import Foundation

/// What a batch reports while it runs, in order.
public enum RunEvent: Sendable {
    /// The batch's scenes are known: how many, and their tiles in all (for progress and ETA).
    case planned(scenes: Int, tiles: Int)
    /// A scene starts (0-based `index` of `planned.scenes`).
    case sceneStarted(index: Int, scene: SceneInput, tiles: Int)
    /// More tiles of the running scene are done.
    case tilesDone(Int)
    case sceneFinished(SceneResult)
    /// A scene, or an input that names nothing, failed: one line naming the file and the reason.
    case sceneFailed(String)
}

/// Runs every scene of a batch; a scene that fails costs only that scene.
///
/// Scenes stream one after another, and each scene's last step (building its Cloud-Optimized files and
/// statistics) runs while the next scene's tiles are inferred, so small scenes keep the model busy.
public struct BatchRunner: Sendable {
    public let plan: ModelPlan

    /// A runner for the scenes `plan.settings` names.
    public init(plan: ModelPlan) { self.plan = plan }

    /// The outcome of a batch.
    public struct Outcome: Sendable {
        public var results: [SceneResult] = []
        /// One line per failed scene or unmatched input, naming the file and the reason.
        public var failures: [String] = []
        /// Every scene and failure in the order they happened: `summary.json` and `report.html`.
        public var summary: BatchSummary
        /// Where the summary was written, when the batch writes one.
        public var summaryPaths: (json: String, html: String)?
        /// 0 when every scene succeeded, 1 when any failed.
        public var exitCode: Int32 { failures.isEmpty ? 0 : 1 }
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

    /// Processes the scenes, in order, reporting each step to `events` (on the calling thread), then writes
    /// the batch summary (`summary.json`, `report.html`) into the output folder.
    public func run(events: (RunEvent) -> Void = { _ in }) throws -> Outcome {
        try FileManager.default.createDirectory(atPath: plan.settings.outputFolder, withIntermediateDirectories: true)
        var outcome = Outcome(summary: BatchSummary(classes: plan.legend, scenes: []))
        var summaries: [SceneSummary] = []
        func fail(_ line: String, scene: SceneInput? = nil) {
            outcome.failures.append(line)
            summaries.append(.failed(scene: scene?.description ?? line.components(separatedBy: ": ").first ?? line, reason: line))
            events(.sceneFailed(line))
        }
        let found = scenes()
        for problem in found.problems { fail(problem) }
        let processor = SceneProcessor(plan: plan)
        let tiles = found.scenes.map { processor.tileCount($0) ?? 0 }
        events(.planned(scenes: found.scenes.count, tiles: tiles.reduce(0, +)))

        var finishing: (scene: SceneInput, work: Prefetch<Result<SceneResult, Error>>)?
        func collect() {
            guard let (scene, work) = finishing else { return }
            finishing = nil
            switch work.value {
            case .success(let result):
                outcome.results.append(result)
                summaries.append(.succeeded(
                    scene: scene.description, statistics: result.statistics,
                    outputs: SceneOutputs(classMap: result.classMap, probabilities: result.probabilities,
                                          statisticsJSON: result.statisticsJSON, statisticsCSV: result.statisticsCSV,
                                          quicklook: result.quicklook),
                    tiles: result.tiles, skippedTiles: result.skippedTiles))
                events(.sceneFinished(result))
            case .failure(let error):
                fail(Self.line(error, scene: scene), scene: scene)
            }
        }
        var outputOwners: [String: SceneInput] = [:]
        for (index, scene) in found.scenes.enumerated() {
            // Outputs are named after the scene, so two folders' a.tif would overwrite each other.
            let classMap = processor.outputPaths(scene).classes
            if let owner = outputOwners[classMap] {
                collect()
                fail("\(scene): its outputs would overwrite those of \(owner) (same name '\(scene.name)')", scene: scene)
                continue
            }
            outputOwners[classMap] = scene
            events(.sceneStarted(index: index, scene: scene, tiles: tiles[index]))
            do {
                let streamed = try processor.stream(scene) { events(.tilesDone($0)) }
                collect()
                finishing = (scene, Prefetch { Result { try streamed.complete() } })
            } catch {
                collect()
                fail(Self.line(error, scene: scene), scene: scene)
            }
        }
        collect()
        outcome.summary = BatchSummary(classes: plan.legend, scenes: summaries)
        outcome.summaryPaths = try outcome.summary.write(to: plan.settings.outputFolder)
        return outcome
    }

    /// One line naming the file and the reason.
    static func line(_ error: Error, scene: SceneInput) -> String {
        error is RasterError || error is ModelError || error is ManifestError ? "\(error)" : "\(scene): \(error)"
    }
}
