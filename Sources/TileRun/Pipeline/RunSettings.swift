import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A run as asked for: a pipeline file's fields with paths resolved and command-line overrides applied.
/// Values left nil are taken from the model's metadata when the model is loaded (`ScenePlan`).
public struct RunSettings: Equatable, Sendable {
    /// Files, folders, globs and list files, as absolute or working-directory-relative paths.
    public var inputs: [String]
    /// Explicit pre/post pairs (for pre-post models), paths resolved like `inputs`.
    public var pairs: [PipelineFile.Pair]
    /// The words that tell pre from post files among `inputs`.
    public var pairPattern: PipelineFile.PairPattern
    public var modelPath: String
    /// `auto`, `cpu`, `opencl` or `opencl:P.D`.
    public var device: String
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
    public var writeQuicklook: Bool

    public init(inputs: [String], pairs: [PipelineFile.Pair] = [], pairPattern: PipelineFile.PairPattern = .init(),
                modelPath: String, device: String = "auto", outputFolder: String, bands: [Int]? = nil,
                normalization: PipelineFile.Normalization? = nil, tileSize: Int? = nil, overlap: Int? = nil,
                blending: Blending = .hann, batch: Int = 1,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, writeProbabilities: Bool = false,
                writeQuicklook: Bool = true) {
        self.inputs = inputs
        self.pairs = pairs
        self.pairPattern = pairPattern
        self.modelPath = modelPath
        self.device = device
        self.outputFolder = outputFolder
        self.bands = bands
        self.normalization = normalization
        self.tileSize = tileSize
        self.overlap = overlap
        self.blending = blending
        self.batch = batch
        self.threads = threads
        self.writeProbabilities = writeProbabilities
        self.writeQuicklook = writeQuicklook
    }

    /// Settings from a checked pipeline file at `path` (its relative paths resolved against its folder),
    /// with `inputs`, `model`, `output`, `device` and `threads` replaced by the overrides that are given.
    /// Throws a `PipelineError` when a required field is missing from both.
    public init(file: PipelineFile, path: String?, inputs overrideInputs: [String] = [], model overrideModel: String? = nil,
                output overrideOutput: String? = nil, device overrideDevice: String? = nil,
                threads overrideThreads: Int? = nil) throws {
        // Absolute first: standardizing a URL relative to the working directory would drop its "..".
        let base = path.map { URL(fileURLWithPath: $0).absoluteURL.deletingLastPathComponent() }
        func resolve(_ p: String) -> String {
            guard let base, !p.hasPrefix("/") else { return p }
            return base.appendingPathComponent(p).standardized.path
        }
        var problems: [PipelineProblem] = []
        let inputs = overrideInputs.isEmpty ? (file.inputs ?? []).map(resolve) : overrideInputs
        let pairs = overrideInputs.isEmpty ? (file.pairs ?? []).map { PipelineFile.Pair(pre: resolve($0.pre), post: resolve($0.post)) } : []
        if inputs.isEmpty && pairs.isEmpty { problems.append(PipelineProblem(field: "inputs", problem: "no inputs (give them in the file or with --input)")) }
        let model = overrideModel ?? file.model.map(resolve)
        if model == nil { problems.append(PipelineProblem(field: "model", problem: "no model (give it in the file or with --model)")) }
        let output = overrideOutput ?? file.output.map(resolve)
        if output == nil { problems.append(PipelineProblem(field: "output", problem: "no output folder (give it in the file or with --output)")) }
        let device = overrideDevice ?? file.device ?? "auto"
        if (try? DeviceChoice(parsing: device)) == nil {
            problems.append(PipelineProblem(field: "device", problem: "'\(device)' is not one of auto, cpu, opencl, opencl:P.D"))
        }
        guard problems.isEmpty, let model, let output else {
            throw PipelineError(path: path ?? "command line", problems: problems)
        }
        self.init(inputs: inputs, pairs: pairs, pairPattern: file.pairPattern ?? .init(), modelPath: model, device: device,
                  outputFolder: output, bands: file.bands,
                  normalization: file.normalization, tileSize: file.tileSize, overlap: file.overlap,
                  blending: file.blending.flatMap(Blending.init(rawValue:)) ?? .hann, batch: file.batch ?? 1,
                  threads: overrideThreads ?? file.threads ?? ProcessInfo.processInfo.activeProcessorCount,
                  writeProbabilities: file.outputs?.probabilities ?? false, writeQuicklook: file.outputs?.quicklook ?? true)
    }
}

/// Finds the scene files named by inputs: files as given, folders' `.tif`/`.tiff` files (not recursive),
/// glob patterns' matches, and the entries of list files (`.txt`, `.list` or `.lst`: one file, folder or
/// glob a line, relative to the list's folder; blank lines and `#` comments skipped); sorted within each
/// input, duplicates dropped, in input order.
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
        var pending = inputs[...]
        var listsRead = Set<String>()
        while let input = pending.popFirst() {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: input, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    let names = ((try? fm.contentsOfDirectory(atPath: input)) ?? []).filter(isTIFFName).sorted()
                    if names.isEmpty { problems.append("\(input): folder holds no .tif or .tiff files") }
                    for name in names { add((input as NSString).appendingPathComponent(name)) }
                } else if isListName(input) {
                    guard listsRead.insert(URL(fileURLWithPath: input).standardized.path).inserted else { continue }
                    do {
                        pending.insert(contentsOf: try listEntries(input), at: pending.startIndex)
                    } catch {
                        problems.append("\(input): cannot read the list file (\(error.localizedDescription))")
                    }
                } else {
                    add(input)
                }
            } else if input.contains(where: { "*?[".contains($0) }) {
                let matches = glob(input)
                if matches.isEmpty { problems.append("\(input): pattern matches no files") }
                matches.forEach(add)
            } else if isListName(input) {
                problems.append("\(input): no such list file")
            } else {
                // Kept so the scene fails with the reader's one-line reason, like any unreadable scene.
                add(input)
            }
        }
        return (paths, problems)
    }

    static func isListName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix(".txt") || lower.hasSuffix(".list") || lower.hasSuffix(".lst")
    }

    /// A list file's entries, relative paths resolved against the list's folder.
    static func listEntries(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let folder = URL(fileURLWithPath: path).absoluteURL.deletingLastPathComponent()
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let entry = line.trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty, !entry.hasPrefix("#") else { return nil }
            return entry.hasPrefix("/") ? entry : folder.appendingPathComponent(entry).standardized.path
        }
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
