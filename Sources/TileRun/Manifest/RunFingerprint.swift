import Foundation

/// What a batch's outputs depend on besides its inputs: tilerun's version, the pipeline's
/// output-deciding fields (canonical JSON) and the model file's content. A resumed run must match the
/// fingerprint in the journal's header, or finished and new scenes would disagree.
public struct RunFingerprint: Codable, Equatable, Sendable {
    public var tilerunVersion: String
    /// The pipeline fields that decide the outputs, e.g. from `RunSettings.fingerprintFields`.
    public var pipeline: JSONValue
    /// SHA-256 of `pipeline`'s canonical text.
    public var pipelineSHA256: SHA256Digest
    public var modelSHA256: SHA256Digest

    public init(pipeline: JSONValue, modelSHA256: SHA256Digest, tilerunVersion: String = TileRunVersion.string) {
        self.tilerunVersion = tilerunVersion
        self.pipeline = pipeline
        pipelineSHA256 = pipeline.fingerprint
        self.modelSHA256 = modelSHA256
    }

    /// A fingerprint for `settings`, hashing the model file they name.
    public init(settings: RunSettings) throws {
        try self.init(pipeline: settings.fingerprintFields, modelSHA256: SHA256.hash(fileAt: settings.modelPath).digest)
    }

    /// What differs from `recorded`, one phrase per change ("model file SHA-256 1a2b3c4d… (was 5e6f…)",
    /// "pipeline tileSize 512 (was 256)"); empty when they match.
    public func changes(from recorded: RunFingerprint) -> [String] {
        var changes: [String] = []
        if modelSHA256 != recorded.modelSHA256 {
            changes.append("model file SHA-256 \(modelSHA256.hex.prefix(12))… (was \(recorded.modelSHA256.hex.prefix(12))…)")
        }
        if pipelineSHA256 != recorded.pipelineSHA256 {
            let now = pipeline.leaves, then = recorded.pipeline.leaves
            let fields = Set(now.keys).union(then.keys).filter { now[$0] != then[$0] }.sorted()
            for field in fields {
                changes.append("pipeline \(field.isEmpty ? "fields" : field) \(now[field] ?? "unset") (was \(then[field] ?? "unset"))")
            }
        }
        if tilerunVersion != recorded.tilerunVersion {
            changes.append("tilerun version \(tilerunVersion) (was \(recorded.tilerunVersion))")
        }
        return changes
    }
}

/// A run's fingerprint differs from the one its output folder's manifest was made with. Configuration
/// error (exit 2): nothing was run.
public struct FingerprintMismatchError: Error, CustomStringConvertible, Equatable {
    /// The output folder.
    public let folder: String
    /// One phrase per change, from `RunFingerprint.changes(from:)`.
    public let changes: [String]

    public var description: String {
        "\(folder): its scenes were made with another configuration: \(changes.joined(separator: "; ")); "
            + "to redo every scene run again with --restart (discards the manifest), or keep them by writing to a new output folder or going back to the old model and pipeline"
    }
}

extension RunSettings {
    /// The settings that decide the outputs, as JSON: bands, normalization, tile size, overlap, blending
    /// and which outputs are written. Inputs, output folder, model path (its content is fingerprinted
    /// instead), batch size and threads are left out: they change where or how fast, not what.
    public var fingerprintFields: JSONValue {
        get throws {
            struct Fields: Encodable {
                var bands: [Int]?
                var normalization: PipelineFile.Normalization?
                var tileSize: Int?
                var overlap: Int?
                var blending: String
                var probabilities: Bool
                var quicklook: Bool
            }
            return try JSONValue(encoding: Fields(bands: bands, normalization: normalization, tileSize: tileSize, overlap: overlap,
                                                  blending: blending.rawValue, probabilities: writeProbabilities,
                                                  quicklook: writeQuicklook))
        }
    }
}
