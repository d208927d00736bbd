import CMalloc

/// How the process's allocator treats activation buffers.
///
/// Every inference allocates the same large activations again (tens of MB each for a 512² tile). glibc
/// serves allocations over 32 MiB at most (its dynamic mmap threshold) with fresh `mmap`s and returns them
/// with `munmap`, so each tile faulted its activations in page by page again: ~24 000 page faults and a
/// fifth of the time of a U-Net tile on a 2-core VM. Keeping them in the heap lets the next tile reuse
/// the same pages.
enum ActivationMemory {
    /// Largest block still served by `mmap`, and free memory kept at the top of the heap.
    static let heapLimit: Int32 = 1 << 30

    /// Applies the setting once per process.
    static let keepInHeap: Void = {
        _ = mallopt(M_MMAP_THRESHOLD, heapLimit)
        _ = mallopt(M_TRIM_THRESHOLD, heapLimit)
    }()
}
