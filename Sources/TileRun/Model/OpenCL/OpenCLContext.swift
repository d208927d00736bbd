import COpenCL
import Foundation

/// One device's context, command queues and built kernel program, shared by every session on that
/// device in the process (the program is built, or loaded from the cache, once).
///
/// Three in-order queues: kernels run on the compute queue; run-time values go up on the upload queue
/// and outputs come back on the download queue, so that a batch's transfers overlap another batch's
/// kernels. Kernel objects hold their arguments, so enqueueing is serialized: callers hold `lock` while
/// they enqueue a batch.
final class OpenCLContext: @unchecked Sendable {
    let device: OpenCLDevice
    let tiling: KernelSource.GEMMTiling
    /// Whether the program came from the on-disk cache rather than a source build.
    let programCacheHit: Bool
    /// Serializes enqueueing on this device: kernel arguments and the queues are shared state.
    let lock = NSLock()

    private let context: cl_context
    private let queue: cl_command_queue
    private let uploads: cl_command_queue
    private let downloads: cl_command_queue
    private let program: cl_program
    private var kernels: [String: cl_kernel] = [:]
    /// Buffers the compute queue alone writes and reads: reused in queue order, so as soon as released.
    private let pool = ResourcePool<cl_mem> { clReleaseMemObject($0) }
    /// Upload targets: written on the upload queue, so reused only once the batch holding them is over.
    private let transferPool = ResourcePool<cl_mem> { clReleaseMemObject($0) }
    private let stagingPool: ResourcePool<HostStaging.Memory>

    nonisolated(unsafe) private static var shared: [String: OpenCLContext] = [:]
    private static let sharedLock = NSLock()

    /// The process-wide context of `device` (and GEMM kernel choice), created on first use.
    static func shared(for device: OpenCLDevice) throws -> OpenCLContext {
        let tiling = KernelSource.GEMMTiling.forDevice(device.kind)
        let key = "\(device.selector) \(tiling.kernel)"
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let existing = shared[key] { return existing }
        let made = try OpenCLContext(device: device, cache: ProgramCache(directory: ProgramCache.defaultDirectory), tiling: tiling)
        shared[key] = made
        return made
    }

    /// A fresh context whose program is built from `source` (the backend's kernels by default).
    init(device: OpenCLDevice, cache: ProgramCache, source: String = KernelSource.source,
         tiling: KernelSource.GEMMTiling? = nil) throws {
        self.device = device
        self.tiling = tiling ?? KernelSource.GEMMTiling.forDevice(device.kind)
        var status: cl_int = 0
        var id = device.id.handle
        guard let context = clCreateContext(nil, 1, &id, nil, nil, &status), status == CL_SUCCESS else {
            throw OpenCLError(status, "clCreateContext for \(device.name)")
        }
        self.context = context
        var queues: [cl_command_queue] = []
        for _ in 0..<3 {
            guard let queue = clCreateCommandQueue(context, id, 0, &status), status == CL_SUCCESS else {
                queues.forEach { clReleaseCommandQueue($0) }
                clReleaseContext(context)
                throw OpenCLError(status, "clCreateCommandQueue for \(device.name)")
            }
            queues.append(queue)
        }
        (queue, uploads, downloads) = (queues[0], queues[1], queues[2])
        stagingPool = HostStaging.pool(unmappingOn: queues[1])
        do {
            (program, programCacheHit) = try cache.build(source: source, options: self.tiling.buildOptions, context: context, device: device)
        } catch {
            queues.forEach { clReleaseCommandQueue($0) }
            clReleaseContext(context)
            throw error
        }
    }

    deinit {
        releaseIdleBuffers()
        for kernel in kernels.values { clReleaseKernel(kernel) }
        clReleaseProgram(program)
        for q in [queue, uploads, downloads] { clReleaseCommandQueue(q) }
        clReleaseContext(context)
    }

    // MARK: Buffers

    /// A device buffer of `count` elements of `elementSize` bytes, reused from earlier runs when one of
    /// the same size is free. Its contents are undefined.
    func buffer(count: Int, elementSize: Int = 4) throws -> DeviceBuffer {
        let bytes = max(count, 1) * elementSize
        if let recycled = pool.take(bytes) { return DeviceBuffer(memory: recycled, bytes: bytes, pool: pool) }
        var status: cl_int = 0
        guard let memory = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status), status == CL_SUCCESS else {
            throw OpenCLError(status, "allocating \(bytes) bytes on \(device.name)")
        }
        return DeviceBuffer(memory: memory, bytes: bytes, pool: pool)
    }

    /// A buffer holding a copy of `values` (copied before this returns), for weights and other values
    /// kept as long as their owner: it is not pooled.
    func upload<T>(_ values: [T]) throws -> DeviceBuffer {
        let bytes = max(values.count, 1) * MemoryLayout<T>.stride
        var status: cl_int = 0
        let memory: cl_mem? = values.withUnsafeBytes { raw in
            raw.count == 0
                ? clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
                : clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR), bytes,
                                 UnsafeMutableRawPointer(mutating: raw.baseAddress), &status)
        }
        guard let memory, status == CL_SUCCESS else { throw OpenCLError(status, "allocating \(bytes) bytes on \(device.name)") }
        return DeviceBuffer(memory: memory, bytes: bytes, pool: nil)
    }

    /// A buffer that will hold a copy of `values`: they are copied into pinned host memory now and sent on
    /// the upload queue, and the compute queue's next commands wait for them. The buffer and the staging
    /// memory must stay referenced until the commands using them have completed (`DeviceBatch` holds them).
    func uploadAsync<T>(_ values: [T]) throws -> (buffer: DeviceBuffer, staging: HostStaging) {
        let bytes = max(values.count, 1) * MemoryLayout<T>.stride
        let buffer: DeviceBuffer
        if let recycled = transferPool.take(bytes) {
            buffer = DeviceBuffer(memory: recycled, bytes: bytes, pool: transferPool)
        } else {
            var status: cl_int = 0
            guard let memory = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status), status == CL_SUCCESS else {
                throw OpenCLError(status, "allocating \(bytes) bytes on \(device.name)")
            }
            buffer = DeviceBuffer(memory: memory, bytes: bytes, pool: transferPool)
        }
        let staging = try self.staging(bytes)
        guard !values.isEmpty else { return (buffer, staging) }
        values.withUnsafeBytes { staging.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        var written: cl_event?
        try OpenCLError.check(clEnqueueWriteBuffer(uploads, buffer.memory, cl_bool(CL_FALSE), 0, values.count * MemoryLayout<T>.stride,
                                                   staging.pointer, 0, nil, &written), "writing \(bytes) bytes to \(device.name)")
        defer { clReleaseEvent(written) }
        try OpenCLError.check(clFlush(uploads), "starting an upload to \(device.name)")
        try OpenCLError.check(clEnqueueBarrierWithWaitList(queue, 1, &written, nil), "ordering an upload to \(device.name)")
        return (buffer, staging)
    }

    /// Starts reading the first `count` floats of `buffer` into pinned host memory on the download queue,
    /// after `after` (the batch's last compute command). `buffer` must stay referenced until `event` completes.
    func downloadAsync(_ buffer: DeviceBuffer, count: Int, after: DeviceEvent) throws -> (staging: HostStaging, event: DeviceEvent) {
        let bytes = max(count, 1) * 4
        let staging = try self.staging(bytes)
        var wait: cl_event? = after.event
        var read: cl_event?
        try OpenCLError.check(clEnqueueReadBuffer(downloads, buffer.memory, cl_bool(CL_FALSE), 0, count * 4, staging.pointer, 1, &wait, &read),
                              "reading \(count * 4) bytes from \(device.name)")
        try OpenCLError.check(clFlush(downloads), "starting a download from \(device.name)")
        return (staging, DeviceEvent(read!))
    }

    /// An event that completes when every command enqueued on the compute queue so far has; starts them.
    func marker() throws -> DeviceEvent {
        var event: cl_event?
        try OpenCLError.check(clEnqueueMarkerWithWaitList(queue, 0, nil, &event), "marking the queue of \(device.name)")
        try OpenCLError.check(clFlush(queue), "starting the queue of \(device.name)")
        return DeviceEvent(event!)
    }

    /// Waits for every queue to run dry, ignoring failures (the device may be the reason for the wait).
    func waitForQueues() {
        for q in [uploads, queue, downloads] { clFinish(q) }
    }

    /// Pinned host memory of `bytes`, from the pool when a block of that size is free.
    private func staging(_ bytes: Int) throws -> HostStaging {
        if let recycled = stagingPool.take(bytes) { return HostStaging(recycled, pool: stagingPool) }
        var status: cl_int = 0
        guard let memory = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR), bytes, nil, &status),
              status == CL_SUCCESS else {
            throw OpenCLError(status, "allocating \(bytes) bytes of host memory for \(device.name)")
        }
        let flags = cl_map_flags(CL_MAP_READ | CL_MAP_WRITE)
        guard let pointer = clEnqueueMapBuffer(uploads, memory, cl_bool(CL_TRUE), flags, 0, bytes, 0, nil, nil, &status), status == CL_SUCCESS else {
            clReleaseMemObject(memory)
            throw OpenCLError(status, "mapping \(bytes) bytes of host memory for \(device.name)")
        }
        return HostStaging(HostStaging.Memory(buffer: memory, pointer: pointer, bytes: bytes), pool: stagingPool)
    }

    /// Reads the first `count` elements of `buffer`, waiting for the compute queue to reach it.
    func download<T>(_ buffer: DeviceBuffer, count: Int, as type: T.Type) throws -> [T] {
        guard count > 0 else { return [] }
        var failure: cl_int = CL_SUCCESS
        let values = [T](unsafeUninitializedCapacity: count) { out, initialized in
            failure = clEnqueueReadBuffer(queue, buffer.memory, cl_bool(CL_TRUE), 0, count * MemoryLayout<T>.stride,
                                          out.baseAddress, 0, nil, nil)
            initialized = count
        }
        try OpenCLError.check(failure, "reading \(count * MemoryLayout<T>.stride) bytes from \(device.name)")
        return values
    }

    /// Frees every idle pooled buffer and staging block (after running out of device memory).
    func releaseIdleBuffers() {
        pool.drain()
        transferPool.drain()
        stagingPool.drain()
    }

    // MARK: Kernels

    /// An argument of a kernel call.
    enum Argument {
        case buffer(DeviceBuffer?)
        case int(Int)
        case float(Float)
        /// An OpenCL `int8`: up to eight values, the rest zero.
        case int8([Int])
    }

    /// Enqueues kernel `name` over `global` work-items (rounded up to whole work-groups of `local`).
    func enqueue(_ name: String, _ arguments: [Argument], global: [Int], local: [Int]? = nil) throws {
        guard global.allSatisfy({ $0 > 0 }) else { return }
        let kernel = try self.kernel(name)
        for (i, argument) in arguments.enumerated() {
            let index = cl_uint(i)
            let status: cl_int
            switch argument {
            case .buffer(let b):
                var memory: cl_mem? = b?.memory
                status = clSetKernelArg(kernel, index, MemoryLayout<cl_mem?>.size, &memory)
            case .int(let v):
                guard let narrow = Int32(exactly: v) else { throw OpenCLError(0, "\(name): argument \(i) = \(v) exceeds 32 bits") }
                var value = narrow
                status = clSetKernelArg(kernel, index, 4, &value)
            case .float(let v):
                var value = v
                status = clSetKernelArg(kernel, index, 4, &value)
            case .int8(let values):
                var lanes = [Int32](repeating: 0, count: 8)
                for (lane, v) in values.enumerated() {
                    guard let narrow = Int32(exactly: v) else { throw OpenCLError(0, "\(name): argument \(i) = \(v) exceeds 32 bits") }
                    lanes[lane] = narrow
                }
                status = clSetKernelArg(kernel, index, 32, &lanes)
            }
            try OpenCLError.check(status, "setting argument \(i) of kernel \(name)")
        }
        var globalSize = global
        if let local {
            for d in globalSize.indices { globalSize[d] = (globalSize[d] + local[d] - 1) / local[d] * local[d] }
        }
        let status: cl_int = globalSize.withUnsafeBufferPointer { g in
            if let local {
                return local.withUnsafeBufferPointer { l in
                    clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, g.baseAddress, l.baseAddress, 0, nil, nil)
                }
            }
            return clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, g.baseAddress, nil, 0, nil, nil)
        }
        try OpenCLError.check(status, "running kernel \(name) on \(device.name)")
    }

    /// Waits until every enqueued command has completed; reports a failure of any of them.
    func finish() throws {
        try OpenCLError.check(clFinish(queue), "waiting for \(device.name)")
    }

    private func kernel(_ name: String) throws -> cl_kernel {
        if let k = kernels[name] { return k }
        var status: cl_int = 0
        guard let k = clCreateKernel(program, name, &status), status == CL_SUCCESS else {
            throw OpenCLError(status, "clCreateKernel(\(name))")
        }
        kernels[name] = k
        return k
    }
}

/// A device allocation. Pooled buffers go back to their context's pool when the last reference goes,
/// so the intermediate values of one run are reused by the next.
final class DeviceBuffer: @unchecked Sendable {
    let memory: cl_mem
    let bytes: Int
    private let pool: ResourcePool<cl_mem>?

    fileprivate init(memory: cl_mem, bytes: Int, pool: ResourcePool<cl_mem>?) {
        self.memory = memory
        self.bytes = bytes
        self.pool = pool
    }

    deinit {
        if let pool { pool.give(memory, bytes: bytes) } else { clReleaseMemObject(memory) }
    }
}

/// Pinned host memory that transfers copy from and to directly: a CL_MEM_ALLOC_HOST_PTR buffer, mapped
/// once (page-locked on NVIDIA, which copies pageable memory through a staging buffer of its own).
/// Goes back to its context's pool when the last reference goes.
final class HostStaging: @unchecked Sendable {
    struct Memory {
        let buffer: cl_mem
        let pointer: UnsafeMutableRawPointer
        let bytes: Int
    }

    private let memory: Memory
    private let pool: ResourcePool<Memory>
    var pointer: UnsafeMutableRawPointer { memory.pointer }

    fileprivate init(_ memory: Memory, pool: ResourcePool<Memory>) {
        self.memory = memory
        self.pool = pool
    }

    deinit { pool.give(memory, bytes: memory.bytes) }

    /// A pool whose blocks are unmapped on `queue` (retained) and freed when drained.
    fileprivate static func pool(unmappingOn queue: cl_command_queue) -> ResourcePool<Memory> {
        clRetainCommandQueue(queue)
        let handle = QueueHandle(queue)
        return ResourcePool<Memory>(onDeinit: { clReleaseCommandQueue(handle.queue) }) { m in
            clEnqueueUnmapMemObject(handle.queue, m.buffer, m.pointer, 0, nil, nil)
            clReleaseMemObject(m.buffer)
        }
    }

    private struct QueueHandle: @unchecked Sendable {
        let queue: cl_command_queue
        init(_ queue: cl_command_queue) { self.queue = queue }
    }
}

/// A command's completion (`cl_event`), released with the last reference.
final class DeviceEvent: @unchecked Sendable {
    let event: cl_event

    init(_ event: cl_event) { self.event = event }

    deinit { clReleaseEvent(event) }

    /// Waits for the command; a failed command throws its own status (out of memory, for instance).
    func wait(_ device: String) throws {
        var event: cl_event? = self.event
        let status = clWaitForEvents(1, &event)
        guard status != CL_SUCCESS else { return }
        var execution: cl_int = 0
        if clGetEventInfo(self.event, cl_event_info(CL_EVENT_COMMAND_EXECUTION_STATUS), 4, &execution, nil) == CL_SUCCESS, execution < 0 {
            throw OpenCLError(execution, "running a batch on \(device)")
        }
        throw OpenCLError(status, "waiting for \(device)")
    }
}

/// Idle resources by exact byte size.
final class ResourcePool<Entry>: @unchecked Sendable {
    private var idle: [Int: [Entry]] = [:]
    private let lock = NSLock()
    private let release: (Entry) -> Void
    private let onDeinit: () -> Void

    init(onDeinit: @escaping () -> Void = {}, release: @escaping (Entry) -> Void) {
        self.release = release
        self.onDeinit = onDeinit
    }

    deinit {
        drain()
        onDeinit()
    }

    func take(_ bytes: Int) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        return idle[bytes]?.popLast()
    }

    func give(_ entry: Entry, bytes: Int) {
        lock.lock()
        idle[bytes, default: []].append(entry)
        lock.unlock()
    }

    func drain() {
        lock.lock()
        let all = idle.values.flatMap { $0 }
        idle = [:]
        lock.unlock()
        all.forEach(release)
    }
}
