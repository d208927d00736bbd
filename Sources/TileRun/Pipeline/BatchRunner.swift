import Foundation

/// Runs every scene of a batch; a scene that fails costs only that scene.
public struct BatchRunner: Sendable {
    public let plan: ModelPlan

    /// A runner for the scenes `plan.settings.inputs` name.
    public init(plan: ModelPlan) { self.plan = plan }

    /// The outcome of a batch.
    public struct Outcome: Sendable {
        public var results: [SceneResult] = []
        /// One line per failed scene or unmatched input, naming the file and the reason.
        public var failures: [String] = []
        /// 0 when every scene succeeded, 1 when any failed.
        public var exitCode: Int32 { failures.isEmpty ? 0 : 1 }
    }

    /// Processes the scenes `inputs` name, in order, calling `report` with each failure line as it happens
    /// and `finished` with each result.
    public func run(report: (String) -> Void = { _ in }, finished: (SceneResult) -> Void = { _ in }) throws -> Outcome {
        try FileManager.default.createDirectory(atPath: plan.settings.outputFolder, withIntermediateDirectories: true)
        var outcome = Outcome()
        let discovered = InputDiscovery.scenes(plan.settings.inputs)
        for problem in discovered.problems {
            outcome.failures.append(problem)
            report(problem)
        }
        let processor = SceneProcessor(plan: plan)
        var outputOwners: [String: String] = [:]
        for scene in discovered.paths {
            // Outputs are named after the scene's file name, so two folders' a.tif would overwrite each other.
            let classMap = processor.outputPaths(scene: scene).classes
            if let owner = outputOwners[classMap] {
                let line = "\(scene): its outputs would overwrite those of \(owner) (same file name)"
                outcome.failures.append(line)
                report(line)
                continue
            }
            outputOwners[classMap] = scene
            do {
                let result = try processor.process(scene: scene)
                outcome.results.append(result)
                finished(result)
            } catch {
                let line = error is RasterError || error is ModelError ? "\(error)" : "\(scene): \(error)"
                outcome.failures.append(line)
                report(line)
            }
        }
        return outcome
    }
}
