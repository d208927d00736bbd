import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A run as asked for: a pipeline file's fields with paths resolved and command-line overrides applied.
/// Values left nil are taken from the model's metadata when the model is loaded (`ScenePlan`).
public struct RunSettings: Equatable, Sendable {
    /// Files, folders and globs, as absolute or working-directory-relative paths.
    public var inputs: [String]
    public var modelPath: String
    public var outputFolder: String
    /// 1-based source band per model channel.
    public var bands: [Int]?
    public var normalization: PipelineFile.Normalization?
    public var tileSize: Int?
    public var overlap: Int?
    public var blending: Blending
    public var batch: Int
    public var threads: Int
    public var writeProbabilities: Bool

    public init(inputs: [String], modelPath: String, outputFolder: String, bands: [Int]? = nil,
                normalization: PipelineFile.Normalization? = nil, tileSize: Int? = nil, overlap: Int? = nil,
                blending: Blending = .hann, batch: Int = 1,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, writeProbabilities: Bool = false) {
        self.inputs = inputs
        self.modelPath = modelPath
        self.outputFolder = outputFolder
        self.bands = bands
        self.normalization = normalization
        self.tileSize = tileSize
        self.overlap = overlap
        self.blending = blending
        self.batch = batch
        self.threads = threads
        self.writeProbabilities = writeProbabilities
    }

    /// Settings from a checked pipeline file at `path` (its relative paths resolved against its folder),
    /// with `inputs`, `model`, `output` and `threads` replaced by the overrides that are given.
    /// Throws a `PipelineError` when a required field is missing from both.
    public init(file: PipelineFile, path: String?, inputs overrideInputs: [String] = [], model overrideModel: String? = nil,
                output overrideOutput: String? = nil, threads overrideThreads: Int? = nil) throws {
        // Absolute first: standardizing a URL relative to the working directory would drop its "..".
        let base = path.map { URL(fileURLWithPath: $0).absoluteURL.deletingLastPathComponent() }
        func resolve(_ p: String) -> String {
            guard let base, !p.hasPrefix("/") else { return p }
            return base.appendingPathComponent(p).standardized.path
        }
        var problems: [PipelineProblem] = []
        let inputs = overrideInputs.isEmpty ? (file.inputs ?? []).map(resolve) : overrideInputs
        if inputs.isEmpty { problems.append(PipelineProblem(field: "inputs", problem: "no inputs (give them in the file or with --input)")) }
        let model = overrideModel ?? file.model.map(resolve)
        if model == nil { problems.append(PipelineProblem(field: "model", problem: "no model (give it in the file or with --model)")) }
        let output = overrideOutput ?? file.output.map(resolve)
        if output == nil { problems.append(PipelineProblem(field: "output", problem: "no output folder (give it in the file or with --output)")) }
        guard problems.isEmpty, let model, let output else {
            throw PipelineError(path: path ?? "command line", problems: problems)
        }
        self.init(inputs: inputs, modelPath: model, outputFolder: output, bands: file.bands,
                  normalization: file.normalization, tileSize: file.tileSize, overlap: file.overlap,
                  blending: file.blending.flatMap(Blending.init(rawValue:)) ?? .hann, batch: file.batch ?? 1,
                  threads: overrideThreads ?? file.threads ?? ProcessInfo.processInfo.activeProcessorCount,
                  writeProbabilities: file.outputs?.probabilities ?? false)
    }
}

/// Finds the scene files named by inputs: files as given, folders' `.tif`/`.tiff` files (not recursive),
/// glob patterns' matches; sorted within each input, duplicates dropped, in input order.
public enum InputDiscovery {
    /// The scene paths, and one problem line for each input that names nothing.
    public static func scenes(_ inputs: [String]) -> (paths: [String], problems: [String]) {
        var paths: [String] = []
        var seen = Set<String>()
        var problems: [String] = []
        func add(_ path: String) {
            if seen.insert(URL(fileURLWithPath: path).standardized.path).inserted { paths.append(path) }
        }
        let fm = FileManager.default
        for input in inputs {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: input, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    let names = ((try? fm.contentsOfDirectory(atPath: input)) ?? []).filter(isTIFFName).sorted()
                    if names.isEmpty { problems.append("\(input): folder holds no .tif or .tiff files") }
                    for name in names { add((input as NSString).appendingPathComponent(name)) }
                } else {
                    add(input)
                }
            } else if input.contains(where: { "*?[".contains($0) }) {
                let matches = glob(input)
                if matches.isEmpty { problems.append("\(input): pattern matches no files") }
                matches.forEach(add)
            } else {
                // Kept so the scene fails with the reader's one-line reason, like any unreadable scene.
                add(input)
            }
        }
        return (paths, problems)
    }

    static func isTIFFName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return !name.hasPrefix(".") && (lower.hasSuffix(".tif") || lower.hasSuffix(".tiff"))
    }

    /// The regular files matching a shell pattern, sorted.
    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        var paths: [String] = []
        for i in 0..<Int(result.gl_pathc) {
            guard let p = result.gl_pathv[i] else { continue }
            let path = String(cString: p)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                paths.append(path)
            }
        }
        return paths.sorted()
    }
}
