import Foundation

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

    /// The shard whose journal (or lock) has the file name `name`, e.g. `journal-shard-2-of-4`; nil for
    /// the unsharded journal and for names of anything else.
    public static func shard(ofFile name: String) -> Shard? {
        guard let range = name.range(of: "-shard-") else { return nil }
        let numbers = name[range.upperBound...].components(separatedBy: "-of-")
        guard numbers.count == 2, let index = Int(numbers[0]), let count = Int(numbers[1]) else { return nil }
        return Shard(index: index, count: count)
    }

    /// Every journal in the folder, unsharded and sharded, sorted by name.
    public func allJournals() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0 == ManifestLayout.journalName || $0.hasPrefix(ManifestLayout.journalName + "-shard-") }
            .sorted().map { (folder as NSString).appendingPathComponent($0) }
    }
}
