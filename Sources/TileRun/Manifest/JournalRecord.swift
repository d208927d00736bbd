import Foundation

/// The first record of every journal.
public struct JournalHeader: Codable, Equatable, Sendable {
    /// The journal format; a reader refuses a newer one.
    public var format: Int
    public var fingerprint: RunFingerprint
    /// Seconds since 1970.
    public var created: Double

    public static let currentFormat = 1
}

/// A run began: the scenes it found and how it was started, so `tilerun resume DIR` can repeat it and
/// `tilerun status DIR` can count the scenes not yet started.
public struct BatchStarted: Codable, Equatable, Sendable {
    /// Scene keys (`SceneIdentity.key(for:)`), in processing order.
    public var scenes: [String]
    /// The command-line words after `tilerun`, and the folder they were given in.
    public var arguments: [String]
    public var workingDirectory: String
    public var at: Double
}

/// Work on a scene began.
public struct SceneStarted: Codable, Equatable, Sendable {
    public var input: SceneIdentity
    /// 1 for the first try since the scene was last done (or ever), counting failures and interruptions.
    public var attempt: Int
    /// The scene's height in rows, when known, for progress through its parts.
    public var rows: Int?
    /// Where its tiles run (`ComputeDevice.description`), when the run said: saved bands are reused only on
    /// the same device, since another one's arithmetic differs in the last bits.
    public var device: String? = nil
    public var at: Double
}

/// A band of a scene in flight is durable: rows `firstRow ..< firstRow + rows` are in `file`.
public struct ScenePart: Codable, Equatable, Sendable {
    /// The scene key.
    public var scene: String
    /// 0-based; parts of one attempt follow each other without gaps.
    public var index: Int
    public var firstRow: Int
    public var rows: Int
    /// The part file, relative to the output folder, with its size and hash.
    public var file: OutputFile
    public var at: Double
}

/// A scene is finished: every output is in place under its final name and synced.
public struct SceneDone: Codable, Equatable, Sendable {
    /// The input as read, with its content hash when the pipeline computed one.
    public var input: SceneIdentity
    public var outputs: [OutputFile]
    /// Seconds per stage; `total` at least.
    public var timings: [String: Double]
    /// Tiles in the scene's grid and those left out as all nodata, for the batch summary of a later run
    /// that skips the scene; absent in records of runs that did not say.
    public var tiles: Int?
    public var skippedTiles: Int?
    public var at: Double
}

/// A scene failed; it runs again in the next run.
public struct SceneFailed: Codable, Equatable, Sendable {
    public var scene: String
    /// One line.
    public var reason: String
    public var attempt: Int
    public var at: Double
}

/// The compute device failed during a run, which finished the batch in flight and the rest on the CPU.
public struct DeviceFailed: Codable, Equatable, Sendable {
    /// The device that failed (`ComputeDevice.description`).
    public var device: String
    /// The failure, in one line.
    public var reason: String
    /// The key of the scene in flight, whose remaining bands were computed on the CPU.
    public var scene: String?
    public var at: Double
}

/// A run ended (normally or on a signal).
public struct BatchFinished: Codable, Equatable, Sendable {
    public var done: Int
    public var failed: Int
    public var interrupted: Bool
    public var seconds: Double
    public var at: Double

    /// Every scene done, none failed, not interrupted.
    public var succeeded: Bool { failed == 0 && !interrupted }
}

/// One record of the journal, written as one line of JSON with a `type` field.
public enum JournalRecord: Equatable, Sendable {
    case header(JournalHeader)
    case batchStarted(BatchStarted)
    case sceneStarted(SceneStarted)
    case partDone(ScenePart)
    case sceneDone(SceneDone)
    case sceneFailed(SceneFailed)
    case deviceFailed(DeviceFailed)
    case batchFinished(BatchFinished)
}

extension JournalRecord: Codable {
    private enum Kind: String, Codable {
        case header, batch, start, part, done, failed, device, finished
    }

    private enum Key: String, CodingKey { case type }

    public init(from decoder: Decoder) throws {
        // The payload's fields sit beside `type` in the same object.
        switch try decoder.container(keyedBy: Key.self).decode(Kind.self, forKey: .type) {
        case .header: self = .header(try JournalHeader(from: decoder))
        case .batch: self = .batchStarted(try BatchStarted(from: decoder))
        case .start: self = .sceneStarted(try SceneStarted(from: decoder))
        case .part: self = .partDone(try ScenePart(from: decoder))
        case .done: self = .sceneDone(try SceneDone(from: decoder))
        case .failed: self = .sceneFailed(try SceneFailed(from: decoder))
        case .device: self = .deviceFailed(try DeviceFailed(from: decoder))
        case .finished: self = .batchFinished(try BatchFinished(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        switch self {
        case .header(let r): try container.encode(Kind.header, forKey: .type); try r.encode(to: encoder)
        case .batchStarted(let r): try container.encode(Kind.batch, forKey: .type); try r.encode(to: encoder)
        case .sceneStarted(let r): try container.encode(Kind.start, forKey: .type); try r.encode(to: encoder)
        case .partDone(let r): try container.encode(Kind.part, forKey: .type); try r.encode(to: encoder)
        case .sceneDone(let r): try container.encode(Kind.done, forKey: .type); try r.encode(to: encoder)
        case .sceneFailed(let r): try container.encode(Kind.failed, forKey: .type); try r.encode(to: encoder)
        case .deviceFailed(let r): try container.encode(Kind.device, forKey: .type); try r.encode(to: encoder)
        case .batchFinished(let r): try container.encode(Kind.finished, forKey: .type); try r.encode(to: encoder)
        }
    }
}
