import Foundation

/// Everything fixed for a whole batch once the model is loaded: settings merged with the model's
/// metadata (pipeline values win), the prepared session, and the output classes.
public final class ModelPlan: @unchecked Sendable {
    /// The run as asked for.
    public let settings: RunSettings
    /// The prepared model, shared by every scene.
    public let session: InferenceSession
    /// Where the model runs (the pipeline's `device`, `auto` resolved).
    public let device: ComputeDevice
    /// A line worth telling the user about the device choice (e.g. `auto` found no GPU), once per run.
    public let deviceNote: String?
    public let metadata: ModelMetadata
    /// The model's image input, `[N, C, H, W]`.
    public let inputName: String
    /// The model's first output, `[N, classes, H, W]` logits or probabilities.
    public let outputName: String
    /// Model input channels.
    public let channels: Int
    /// True for models fed a pre-event and a post-event scene stacked on the channel axis.
    public let isPrePost: Bool
    /// Zero-based source band per channel of one scene (half the channels for pre-post models).
    public let bands: [Int]
    /// Per-channel `pixel × multiply + add`.
    public let affine: [(multiply: Float, add: Float)]
    /// Per-channel mean and standard deviation applied after a percentile stretch.
    public let standardization: [(mean: Float, std: Float)]
    /// When set, each scene's bands are stretched so these percentiles map to 0 and 1 (before `standardization`).
    public let percentiles: (low: Double, high: Double)?
    /// Tile side in pixels.
    public let tileSize: Int
    /// Overlap between neighbouring tiles in pixels.
    public let overlap: Int
    /// The batch size the model's input fixes, if it fixes one; shorter batches are padded with blank tiles.
    public let fixedBatch: Int?
    /// Output channels (classes), found by running the model once on a blank tile.
    public let outputChannels: Int
    /// True when the model's output is already probabilities (metadata `tilerun.output`), not logits.
    public let outputIsProbabilities: Bool
    /// The metadata key that says whether the output is "logits" (default) or "probabilities".
    public static let outputKindKey = "tilerun.output"

    /// Loads the model and resolves every default; throws a `ModelError` naming the model file.
    public init(settings: RunSettings) throws {
        self.settings = settings
        let path = settings.modelPath
        func fail(_ problem: String) -> ModelError { ModelError(path: path, problem: problem) }
        let model = try ONNXModel.load(path: path)
        metadata = try model.modelMetadata()
        do {
            (device, deviceNote) = try ComputeDevice.resolve(try DeviceChoice(parsing: settings.device))
        } catch {
            throw fail("device '\(settings.device)': \(error)")
        }
        session = try InferenceSession(model: model, device: device)
        guard session.inputs.count == 1, let input = session.inputs.first, let shape = input.shape, shape.count == 4 else {
            throw fail("the model needs one image input of shape [N, C, H, W]")
        }
        guard let output = session.outputNames.first else { throw fail("the model has no output") }
        inputName = input.name
        outputName = output

        isPrePost = metadata.inputKind == .prePost
        let scenes = isPrePost ? 2 : 1
        var declaredChannels: Int?
        if case .value(let c) = shape[1] { declaredChannels = c }
        let chosenBands = settings.bands ?? metadata.bands
        guard let channels = declaredChannels ?? chosenBands.map({ $0.count * scenes }) else {
            throw fail("the input's channel count is not fixed; give bands in the pipeline")
        }
        self.channels = channels
        guard channels % scenes == 0 else { throw fail("a pre-post model needs an even channel count, not \(channels)") }
        let perScene = channels / scenes
        let bandNumbers = chosenBands ?? Array(1...perScene)
        guard bandNumbers.count == perScene else {
            let what = isPrePost ? "\(perScene) per scene (pre and post stacked)" : "\(channels) channels"
            throw fail("\(bandNumbers.count) bands are chosen (\(bandNumbers.map(String.init).joined(separator: ","))) but the model takes \(what)")
        }
        bands = bandNumbers.map { $0 - 1 }

        let normalization: ModelMetadata.Normalization
        if let n = settings.normalization {
            normalization = ModelMetadata.Normalization(scale: n.scale ?? 1, mean: n.mean ?? [0], std: n.std ?? [1])
        } else {
            normalization = metadata.normalization ?? ModelMetadata.Normalization()
        }
        for (name, values) in [("mean", normalization.mean), ("std", normalization.std)]
        where values.count != 1 && values.count != channels && values.count != perScene {
            throw fail("normalization \(name) has \(values.count) values for \(channels) channels")
        }
        // Lists may give one value, one per channel, or (pre-post) one per scene band, repeated for both scenes.
        func pick(_ values: [Double], _ c: Int) -> Double {
            values.count == 1 ? values[0] : values.count == channels ? values[c] : values[c % perScene]
        }
        standardization = (0..<channels).map { (Float(pick(normalization.mean, $0)), Float(pick(normalization.std, $0))) }
        affine = (0..<channels).map { c in
            let m = pick(normalization.mean, c), s = pick(normalization.std, c)
            return (Float(normalization.scale / s), Float(-m / s))
        }
        if let p = settings.normalization?.percentiles, p.count == 2 {
            percentiles = (p[0], p[1])
        } else {
            percentiles = nil
        }

        var fixedSize: Int?
        if case .value(let h) = shape[2], case .value(let w) = shape[3] {
            guard h == w else { throw fail("the input is \(w)x\(h); tiles are square") }
            fixedSize = h
        }
        let tile = settings.tileSize ?? metadata.tileSize ?? fixedSize ?? 512
        if let fixedSize, fixedSize != tile { throw fail("the input is fixed at \(fixedSize) pixels, not the tile size \(tile)") }
        if case .value(let n) = shape[0] {
            guard n == settings.batch else { throw fail("the input batch is fixed at \(n), not the pipeline's batch \(settings.batch)") }
            fixedBatch = n
        } else {
            fixedBatch = nil
        }
        let probeBatch = fixedBatch ?? 1
        tileSize = tile
        overlap = settings.overlap ?? metadata.tileOverlap?.pixels(tileSize: tile) ?? tile / 8
        guard overlap >= 0, overlap < tile else { throw fail("overlap \(overlap) must be from 0 to below the tile size \(tile)") }

        switch metadata.raw[ModelPlan.outputKindKey]?.trimmingCharacters(in: .whitespaces) {
        case nil, "logits": outputIsProbabilities = false
        case "probabilities": outputIsProbabilities = true
        case let other?: throw fail("metadata '\(ModelPlan.outputKindKey)': expected \"logits\" or \"probabilities\", got '\(other)'")
        }

        // The output's channel count is rarely declared, and an all-nodata scene never runs the model.
        let blank = Tensor(zeros: [probeBatch, channels, tile, tile])
        let probe = try session.run([inputName: blank], threads: settings.threads)[outputName]!
        guard probe.rank == 4, probe.shape[0] == probeBatch, probe.shape[2] == tile, probe.shape[3] == tile, probe.element == .float32 else {
            throw fail("the output '\(outputName)' has shape \(probe.shape) for a \(tile)x\(tile) tile; expected [\(probeBatch), classes, \(tile), \(tile)] float32")
        }
        outputChannels = probe.shape[1]
        guard outputChannels <= 255 else { throw fail("the model has \(outputChannels) output channels; at most 255 classes are supported") }
    }

    /// The value written to the class map for output channel `channel`: the metadata's class value when
    /// the metadata lists one class per channel, else the channel index.
    public func classValues(channels count: Int) -> [Int] {
        if let classes = metadata.classes, classes.count == count { return classes.map(\.value) }
        return Array(0..<count)
    }

    /// The output classes in channel order, as the quicklook legend and the batch report show them.
    public var legend: [LegendClass] {
        classValues(channels: outputChannels).map { value in
            LegendClass(value: value, name: className(value) ?? "class \(value)",
                        color: metadata.classes?.first { $0.value == value }?.color ?? ClassMapOutput.defaultColor(value))
        }
    }

    /// The name of the class with `value`, when the metadata names it.
    public func className(_ value: Int) -> String? {
        metadata.classes?.first { $0.value == value }?.name
    }
}
