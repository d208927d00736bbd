/// Decoded blocks of one file, kept so that windows read one after another decode the blocks they share
/// once.
///
/// Holds at most `maxBlocks` blocks and `maxBytes` bytes, evicting the least recently used block first;
/// a block larger than `maxBytes` is held alone, so a window inside one large strip still decodes it once.
/// Not thread-safe: its reader uses it under its lock.
final class BlockCache {
    /// The most blocks kept; the reader raises it to fit the windows it is asked for.
    var maxBlocks: Int
    let maxBytes: Int
    /// The bytes of the blocks held.
    private(set) var bytes = 0
    var count: Int { slotOfBlock.count }

    /// One held block, linked to its neighbours in the order of use.
    private struct Entry {
        var block: Int
        var memory: UnsafeMutableRawPointer
        var bytes: Int
        /// The slots of the entries used just before and just after this one, -1 at the ends.
        var older: Int
        var newer: Int
    }
    private var entries: [Entry] = []
    private var freeSlots: [Int] = []
    private var slotOfBlock: [Int: Int] = [:]
    private var newest = -1, oldest = -1
    /// The memory of the block evicted last, reused for the next block of the same size.
    private var spare: (memory: UnsafeMutableRawPointer, bytes: Int)?

    init(maxBlocks: Int, maxBytes: Int) {
        self.maxBlocks = maxBlocks
        self.maxBytes = maxBytes
    }

    deinit {
        for slot in slotOfBlock.values { entries[slot].memory.deallocate() }
        spare?.memory.deallocate()
    }

    /// Block `block`'s decoded bytes, when held; it becomes the most recently used.
    func lookup(_ block: Int) -> UnsafeRawPointer? {
        guard let slot = slotOfBlock[block] else { return nil }
        unlink(slot)
        linkNewest(slot)
        return UnsafeRawPointer(entries[slot].memory)
    }

    /// Makes block `block`, when held, the first to go, e.g. when no window read next is expected to need it.
    func demote(_ block: Int) {
        guard let slot = slotOfBlock[block], slot != oldest else { return }
        unlink(slot)
        entries[slot].newer = oldest
        entries[slot].older = -1
        entries[oldest].older = slot
        oldest = slot
    }

    /// Memory for a block about to be decoded: hand it to `insert` once decoded, or to `recycle` if decoding
    /// fails. Evicts the least recently used blocks first until the new one fits the limits (or none is left),
    /// so that a new block reuses an evicted one's memory rather than adding to it.
    func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        while oldest >= 0 && (slotOfBlock.count >= maxBlocks || self.bytes + bytes > maxBytes) { evictOldest() }
        if let spare {
            self.spare = nil
            if spare.bytes == bytes { return spare.memory }
            spare.memory.deallocate()
        }
        return .allocate(byteCount: max(bytes, 1), alignment: 64)
    }

    /// Takes back memory from `allocate` that holds no block.
    func recycle(_ memory: UnsafeMutableRawPointer, bytes: Int) {
        spare?.memory.deallocate()
        spare = (memory, bytes)
    }

    /// Holds `memory` (`bytes` long, from `allocate`) as block `block`, the most recently used.
    func insert(_ block: Int, memory: UnsafeMutableRawPointer, bytes: Int) {
        precondition(slotOfBlock[block] == nil, "block \(block) is cached already")
        let entry = Entry(block: block, memory: memory, bytes: bytes, older: -1, newer: -1)
        let slot: Int
        if let free = freeSlots.popLast() {
            entries[free] = entry
            slot = free
        } else {
            entries.append(entry)
            slot = entries.count - 1
        }
        linkNewest(slot)
        slotOfBlock[block] = slot
        self.bytes += bytes
    }

    private func evictOldest() {
        let slot = oldest, evicted = entries[slot]
        unlink(slot)
        freeSlots.append(slot)
        slotOfBlock[evicted.block] = nil
        bytes -= evicted.bytes
        recycle(evicted.memory, bytes: evicted.bytes)
    }

    private func unlink(_ slot: Int) {
        let (older, newer) = (entries[slot].older, entries[slot].newer)
        if older >= 0 { entries[older].newer = newer } else { oldest = newer }
        if newer >= 0 { entries[newer].older = older } else { newest = older }
    }

    private func linkNewest(_ slot: Int) {
        entries[slot].older = newest
        entries[slot].newer = -1
        if newest >= 0 { entries[newest].newer = slot } else { oldest = slot }
        newest = slot
    }
}
