import Foundation

/// A pipeline file (JSON): what to run on which scenes, where to write (docs/pipeline-files.md).
/// Paths in the file are relative to the file's own folder. Every field but `inputs`, `model` and
/// `output` is optional, with defaults from the model's metadata where it has them.
public struct PipelineFile: Codable, Equatable, Sendable {
    /// Per-band input normalization, `(pixel × scale − mean) / std`; missing parts default to 1, 0, 1.
    /// With `percentiles`, each band of each scene is first stretched so that its low and high
    /// percentiles map to 0 and 1 (instead of multiplying by `scale`).
    public struct Normalization: Codable, Equatable, Sendable {
        public var scale: Double?
        public var mean: [Double]?
        public var std: [Double]?
        /// `[low, high]` percentiles, e.g. `[2, 98]`.
        public var percentiles: [Double]?

        public init(scale: Double? = nil, mean: [Double]? = nil, std: [Double]? = nil, percentiles: [Double]? = nil) {
            self.scale = scale
            self.mean = mean
            self.std = std
            self.percentiles = percentiles
        }
    }

    /// Optional extra outputs.
    public struct Outputs: Codable, Equatable, Sendable {
        /// Also write a float32 GeoTIFF with one blended probability band per class.
        public var probabilities: Bool?
        /// Write a quicklook PNG per scene (default true).
        public var quicklook: Bool?

        public init(probabilities: Bool? = nil, quicklook: Bool? = nil) {
            self.probabilities = probabilities
            self.quicklook = quicklook
        }
    }

    /// One pre/post-event pair for a pre-post (damage) model.
    public struct Pair: Codable, Equatable, Sendable {
        public var pre: String
        public var post: String

        public init(pre: String, post: String) {
            self.pre = pre
            self.post = post
        }
    }

    /// The words that tell a pre-event file from its post-event partner (`a-pre.tif` / `a-post.tif`).
    public struct PairPattern: Codable, Equatable, Sendable {
        public var pre: String
        public var post: String

        public init(pre: String = "pre", post: String = "post") {
            self.pre = pre
            self.post = post
        }
    }

    /// Files, folders (their .tif/.tiff files), glob patterns and list files (`.txt`/`.list`, one path a line).
    public var inputs: [String]?
    /// Explicit pre/post pairs for pre-post models (in addition to pairs matched by name among `inputs`).
    public var pairs: [Pair]?
    /// How pre and post files are matched by name among `inputs`.
    public var pairPattern: PairPattern?
    /// `auto`, `cpu`, `opencl` or `opencl:P.D`.
    public var device: String?
    /// The ONNX model.
    public var model: String?
    /// 1-based source band per model channel.
    public var bands: [Int]?
    public var normalization: Normalization?
    public var tileSize: Int?
    public var overlap: Int?
    /// "hann" (default) or "center".
    public var blending: String?
    /// Tiles per inference call.
    public var batch: Int?
    public var threads: Int?
    /// The output folder (created when missing).
    public var output: String?
    public var outputs: Outputs?

    public init(inputs: [String]? = nil, pairs: [Pair]? = nil, pairPattern: PairPattern? = nil, model: String? = nil,
                device: String? = nil, bands: [Int]? = nil, normalization: Normalization? = nil,
                tileSize: Int? = nil, overlap: Int? = nil, blending: String? = nil, batch: Int? = nil,
                threads: Int? = nil, output: String? = nil, outputs: Outputs? = nil) {
        self.inputs = inputs
        self.pairs = pairs
        self.pairPattern = pairPattern
        self.device = device
        self.model = model
        self.bands = bands
        self.normalization = normalization
        self.tileSize = tileSize
        self.overlap = overlap
        self.blending = blending
        self.batch = batch
        self.threads = threads
        self.output = output
        self.outputs = outputs
    }

    static let knownFields: [String: Set<String>] = [
        "": ["inputs", "pairs", "pairPattern", "model", "device", "bands", "normalization", "tileSize", "overlap",
             "blending", "batch", "threads", "output", "outputs"],
        "normalization": ["scale", "mean", "std", "percentiles"],
        "outputs": ["probabilities", "quicklook"],
        "pairPattern": ["pre", "post"],
    ]

    /// Decodes `data`; on failure returns the problems found (unknown fields, wrong types, bad JSON).
    public static func decode(_ data: Data) -> (file: PipelineFile?, problems: [PipelineProblem]) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            return (nil, [PipelineProblem(field: "", problem: "not valid JSON (\(jsonErrorDetail(error)))")])
        }
        guard let top = object as? [String: Any] else {
            return (nil, [PipelineProblem(field: "", problem: "expected a JSON object at the top level")])
        }
        var problems: [PipelineProblem] = []
        for (parent, fields) in knownFields.sorted(by: { $0.key < $1.key }) {
            let dict = parent.isEmpty ? top : top[parent] as? [String: Any]
            for key in (dict?.keys.sorted() ?? []) where !fields.contains(key) {
                let field = parent.isEmpty ? key : "\(parent).\(key)"
                problems.append(PipelineProblem(field: field, problem: "unknown field (known: \(fields.sorted().joined(separator: ", ")))"))
            }
        }
        do {
            let file = try JSONDecoder().decode(PipelineFile.self, from: data)
            return (problems.isEmpty ? file : nil, problems)
        } catch let error as DecodingError {
            problems.append(problem(from: error))
            return (nil, problems)
        } catch {
            problems.append(PipelineProblem(field: "", problem: "\(error)"))
            return (nil, problems)
        }
    }

    /// Problems with values that decoded but make no sense (each names its field). `requireAll` asks for
    /// `inputs`, `model` and `output`, which the command line may supply instead.
    public func problems(requireAll: Bool = true) -> [PipelineProblem] {
        var problems: [PipelineProblem] = []
        func add(_ field: String, _ problem: String) { problems.append(PipelineProblem(field: field, problem: problem)) }
        if let inputs {
            if inputs.isEmpty && requireAll && (pairs ?? []).isEmpty { add("inputs", "must list at least one file, folder or glob") }
            for (i, input) in inputs.enumerated() where input.isEmpty { add("inputs[\(i)]", "is empty") }
        } else if requireAll && (pairs ?? []).isEmpty {
            add("inputs", "is required (files, folders or globs)")
        }
        for (i, pair) in (pairs ?? []).enumerated() {
            if pair.pre.isEmpty { add("pairs[\(i)].pre", "is empty") }
            if pair.post.isEmpty { add("pairs[\(i)].post", "is empty") }
            if !pair.pre.isEmpty && pair.pre == pair.post { add("pairs[\(i)]", "pre and post name the same file") }
        }
        if let p = pairPattern {
            for (field, word) in [("pre", p.pre), ("post", p.post)] where word.isEmpty || word.contains("/") {
                add("pairPattern.\(field)", "'\(word)' must be a non-empty word of a file name")
            }
            if p.pre == p.post { add("pairPattern", "pre and post are the same word '\(p.pre)'") }
        }
        if let device, (try? DeviceChoice(parsing: device)) == nil {
            add("device", "'\(device)' is not one of \"auto\", \"cpu\", \"opencl\", \"opencl:P.D\" (platform and device numbers)")
        }
        if model == nil && requireAll { add("model", "is required (an ONNX file, relative to the pipeline file)") }
        if model?.isEmpty == true { add("model", "is empty") }
        if output == nil && requireAll { add("output", "is required (the output folder)") }
        if output?.isEmpty == true { add("output", "is empty") }
        if let bands {
            if bands.isEmpty { add("bands", "must list at least one band") }
            for (i, b) in bands.enumerated() where b < 1 { add("bands[\(i)]", "\(b) is not a 1-based band number") }
        }
        if let n = normalization {
            if let scale = n.scale, !(scale > 0 && scale.isFinite) { add("normalization.scale", "\(scale) must be a positive number") }
            if n.mean?.isEmpty == true { add("normalization.mean", "must hold one value, or one per band") }
            for (i, m) in (n.mean ?? []).enumerated() where !m.isFinite { add("normalization.mean[\(i)]", "\(m) is not finite") }
            if n.std?.isEmpty == true { add("normalization.std", "must hold one value, or one per band") }
            for (i, s) in (n.std ?? []).enumerated() where !(s > 0 && s.isFinite) {
                add("normalization.std[\(i)]", "\(s) must be a positive number")
            }
            if let mean = n.mean, let std = n.std, mean.count > 1, std.count > 1, mean.count != std.count {
                add("normalization", "\(mean.count) means but \(std.count) standard deviations")
            }
            if let bands, let mean = n.mean, mean.count > 1, mean.count != bands.count {
                add("normalization.mean", "\(mean.count) values for \(bands.count) bands")
            }
            if let bands, let std = n.std, std.count > 1, std.count != bands.count {
                add("normalization.std", "\(std.count) values for \(bands.count) bands")
            }
            if let p = n.percentiles {
                if p.count != 2 || !(0 <= p[0] && p[0] < p[1] && p[1] <= 100) {
                    add("normalization.percentiles", "expected [low, high] with 0 ≤ low < high ≤ 100, e.g. [2, 98]")
                }
                if n.scale != nil { add("normalization", "give scale or percentiles, not both") }
            }
        }
        if let tileSize, !(16...8192).contains(tileSize) { add("tileSize", "\(tileSize) must be from 16 to 8192 pixels") }
        if let overlap {
            if overlap < 0 { add("overlap", "\(overlap) must be 0 or more pixels") }
            if let tileSize, overlap >= tileSize { add("overlap", "\(overlap) must be smaller than tileSize \(tileSize)") }
        }
        if let blending, Blending(rawValue: blending) == nil {
            add("blending", "'\(blending)' is not one of \(Blending.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        if let batch, !(1...256).contains(batch) { add("batch", "\(batch) must be from 1 to 256 tiles") }
        if let threads, !(1...1024).contains(threads) { add("threads", "\(threads) must be from 1 to 1024") }
        return problems
    }

    /// Reads and checks the pipeline file at `path`; throws a `PipelineError` listing every problem found.
    public static func load(path: String) throws -> PipelineFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PipelineError(path: path, problems: [PipelineProblem(field: "", problem: "cannot be read (\(error.localizedDescription))")])
        }
        let (file, problems) = decode(data)
        guard let file else { throw PipelineError(path: path, problems: problems) }
        let valueProblems = file.problems(requireAll: false)
        guard valueProblems.isEmpty else { throw PipelineError(path: path, problems: valueProblems) }
        return file
    }

    private static func problem(from error: DecodingError) -> PipelineProblem {
        func field(_ path: [CodingKey]) -> String {
            path.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            return PipelineProblem(field: field(context.codingPath), problem: "expected \(describe(type))")
        case .valueNotFound(let type, let context):
            return PipelineProblem(field: field(context.codingPath), problem: "expected \(describe(type)), got null")
        case .keyNotFound(let key, let context):
            return PipelineProblem(field: field(context.codingPath + [key]), problem: "is required")
        case .dataCorrupted(let context):
            return PipelineProblem(field: field(context.codingPath), problem: context.debugDescription)
        @unknown default:
            return PipelineProblem(field: "", problem: "\(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "a whole number"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is [String].Type: return "a list of strings"
        case is [Int].Type: return "a list of whole numbers"
        case is [Double].Type: return "a list of numbers"
        case is [Pair].Type: return "a list of {\"pre\": ..., \"post\": ...} objects"
        case is [Any].Type: return "a list"
        default: return "an object"
        }
    }

    private static func jsonErrorDetail(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }
}

/// One problem in a pipeline file: the field (dotted path, "" for the whole file) and what is wrong.
public struct PipelineProblem: Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { field.isEmpty ? problem : "field '\(field)': \(problem)" }
}

/// A pipeline file that cannot be used; `lines` gives one line per problem, each naming the file.
public struct PipelineError: Error, CustomStringConvertible {
    public let path: String
    public let problems: [PipelineProblem]

    public init(path: String, problems: [PipelineProblem]) {
        self.path = path
        self.problems = problems
    }

    public var lines: [String] { problems.map { "\(path): \($0)" } }
    public var description: String { lines.joined(separator: "\n") }
}
