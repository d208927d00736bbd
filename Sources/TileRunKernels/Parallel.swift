import Dispatch
import Foundation

/// Hands out work items 0..<count, in order, to whichever worker asks first. Which worker computes an
/// item never changes the item's arithmetic, so results do not depend on scheduling.
final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    let count: Int

    init(count: Int) { self.count = count }

    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}

/// Runs `worker` on `threads` workers (inline when 1) that share a queue of `items` work items.
/// Items should be coarse (tens of microseconds or more): claiming one takes a lock.
func runWorkers(items: Int, threads: Int, _ worker: (WorkQueue) -> Void) {
    let queue = WorkQueue(count: items)
    let workers = max(1, min(threads, items))
    if workers == 1 {
        worker(queue)
    } else {
        DispatchQueue.concurrentPerform(iterations: workers) { _ in worker(queue) }
    }
}

/// Float scratch memory, 64-byte aligned, uninitialized.
struct Scratch {
    let pointer: UnsafeMutablePointer<Float>

    init(count: Int) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }

    func free() { UnsafeMutableRawPointer(pointer).deallocate() }
}
