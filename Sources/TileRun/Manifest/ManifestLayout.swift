import Foundation

/// One shard of a batch split across machines (`--shard I/N`, issue 9); each has its own journal and lock.
public struct Shard: Hashable, Sendable, CustomStringConvertible {
    /// 0-based.
    public let index: Int
    public let count: Int

    public init?(index: Int, count: Int) {
        guard count > 0, (0..<count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// `I/N`.
    public var description: String { "\(index)/\(count)" }
    /// The file name suffix, `-shard-I-of-N`.
    var suffix: String { "-shard-\(index)-of-\(count)" }
}

/// Where the manifest lives in an output folder:
///
///     OUT/.tilerun/lock                      held while a run writes into OUT (flock)
///     OUT/.tilerun/journal                   the append-only journal of unsharded runs
///     OUT/.tilerun/journal-shard-I-of-N      a shard's journal, beside it (with lock-shard-I-of-N)
///     OUT/.tilerun/parts/STEM.part-K         durable bands of scenes in flight
///
/// The folder's leading dot keeps it out of input discovery and casual listings.
public struct ManifestLayout: Sendable {
    public let outputFolder: String
    public let shard: Shard?

    public init(outputFolder: String, shard: Shard? = nil) {
        self.outputFolder = outputFolder
        self.shard = shard
    }

    static let folderName = ".tilerun"
    static let journalName = "journal"

    /// `OUT/.tilerun`.
    public var folder: String { (outputFolder as NSString).appendingPathComponent(ManifestLayout.folderName) }
    /// This run's journal.
    public var journal: String { (folder as NSString).appendingPathComponent(ManifestLayout.journalName + (shard?.suffix ?? "")) }
    /// This run's lock file.
    public var lock: String { (folder as NSString).appendingPathComponent("lock" + (shard?.suffix ?? "")) }
    /// The folder of part files.
    public var partsFolder: String { (folder as NSString).appendingPathComponent("parts") }

    /// The path, relative to the output folder, of part `index` of the scene whose outputs are named `stem`.
    public func partName(stem: String, index: Int) -> String {
        "\(ManifestLayout.folderName)/parts/\(stem).part-\(index)"
    }

    /// `relative` (as recorded in the journal) resolved against the output folder.
    public func path(_ relative: String) -> String { (outputFolder as NSString).appendingPathComponent(relative) }

    /// Every journal in the folder, unsharded and sharded, sorted by name.
    public func allJournals() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0 == ManifestLayout.journalName || $0.hasPrefix(ManifestLayout.journalName + "-shard-") }
            .sorted().map { (folder as NSString).appendingPathComponent($0) }
    }
}
