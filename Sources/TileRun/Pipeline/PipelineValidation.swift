import Foundation

/// What `tilerun validate` checks: the file's fields and values, then that the model exists and each
/// input names at least one scene.
public enum PipelineValidation {
    /// `problems`: one line each, naming the file and the field; empty when the pipeline can run.
    /// `notes`: what the inputs resolve to.
    public static func check(path: String) -> (problems: [String], notes: [String]) {
        let file: PipelineFile
        do {
            file = try PipelineFile.load(path: path)
        } catch let error as PipelineError {
            return (error.lines, [])
        } catch {
            return (["\(path): \(error)"], [])
        }
        let required = file.problems(requireAll: true)
        guard required.isEmpty else { return (PipelineError(path: path, problems: required).lines, []) }
        let settings: RunSettings
        do {
            settings = try RunSettings(file: file, path: path)
        } catch let error as PipelineError {
            return (error.lines, [])
        } catch {
            return (["\(path): \(error)"], [])
        }
        var problems: [String] = []
        if !FileManager.default.fileExists(atPath: settings.modelPath) {
            problems.append("\(path): field 'model': \(settings.modelPath) does not exist")
        }
        var notes: [String] = []
        for (i, input) in settings.inputs.enumerated() {
            let found = InputDiscovery.scenes([input])
            let existing = found.paths.filter { FileManager.default.fileExists(atPath: $0) }
            if existing.isEmpty {
                problems.append("\(path): field 'inputs[\(i)]': \(input) names no scene file")
            } else {
                notes.append("inputs[\(i)]: \(existing.count) scene\(existing.count == 1 ? "" : "s")")
            }
        }
        return (problems, notes)
    }
}
