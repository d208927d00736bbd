import COpenCL
import Foundation

/// One device's context, in-order command queue and built kernel program, shared by every session on
/// that device in the process (the program is built, or loaded from the cache, once).
///
/// Kernel objects hold their arguments, so enqueueing is serialized: callers hold `lock` from the first
/// `enqueue` of a run to its last read.
final class OpenCLContext: @unchecked Sendable {
    let device: OpenCLDevice
    let tiling: KernelSource.GEMMTiling
    /// Whether the program came from the on-disk cache rather than a source build.
    let programCacheHit: Bool
    /// Serializes runs on this device: kernel arguments and the queue are shared state.
    let lock = NSLock()

    private let context: cl_context
    private let queue: cl_command_queue
    private let program: cl_program
    private var kernels: [String: cl_kernel] = [:]
    private let pool = BufferPool()

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
        guard let queue = clCreateCommandQueue(context, id, 0, &status), status == CL_SUCCESS else {
            clReleaseContext(context)
            throw OpenCLError(status, "clCreateCommandQueue for \(device.name)")
        }
        self.queue = queue
        do {
            (program, programCacheHit) = try cache.build(source: source, options: self.tiling.buildOptions, context: context, device: device)
        } catch {
            clReleaseCommandQueue(queue)
            clReleaseContext(context)
            throw error
        }
    }

    deinit {
        pool.drain()
        for kernel in kernels.values { clReleaseKernel(kernel) }
        clReleaseProgram(program)
        clReleaseCommandQueue(queue)
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

    /// A buffer holding a copy of `values` (copied before this returns). `pooled: false` for weights,
    /// which live as long as their session.
    func upload<T>(_ values: [T], pooled: Bool = true) throws -> DeviceBuffer {
        let bytes = max(values.count, 1) * MemoryLayout<T>.stride
        if pooled, !values.isEmpty, let recycled = pool.take(bytes) {
            let buffer = DeviceBuffer(memory: recycled, bytes: bytes, pool: pool)
            try values.withUnsafeBytes { raw in
                try OpenCLError.check(clEnqueueWriteBuffer(queue, recycled, cl_bool(CL_TRUE), 0, raw.count, raw.baseAddress, 0, nil, nil),
                                      "writing \(raw.count) bytes to \(device.name)")
            }
            return buffer
        }
        var status: cl_int = 0
        let memory: cl_mem? = values.withUnsafeBytes { raw in
            raw.count == 0
                ? clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
                : clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR), bytes,
                                 UnsafeMutableRawPointer(mutating: raw.baseAddress), &status)
        }
        guard let memory, status == CL_SUCCESS else { throw OpenCLError(status, "allocating \(bytes) bytes on \(device.name)") }
        return DeviceBuffer(memory: memory, bytes: bytes, pool: pooled ? pool : nil)
    }

    /// Reads the first `count` elements of `buffer`, waiting for the queue to reach it.
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

    /// Frees every idle pooled buffer (after running out of device memory).
    func releaseIdleBuffers() { pool.drain() }

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
    private let pool: BufferPool?

    fileprivate init(memory: cl_mem, bytes: Int, pool: BufferPool?) {
        self.memory = memory
        self.bytes = bytes
        self.pool = pool
    }

    deinit {
        if let pool { pool.give(memory, bytes: bytes) } else { clReleaseMemObject(memory) }
    }
}

/// Idle device buffers by exact byte size.
private final class BufferPool: @unchecked Sendable {
    private var idle: [Int: [cl_mem]] = [:]
    private let lock = NSLock()

    func take(_ bytes: Int) -> cl_mem? {
        lock.lock()
        defer { lock.unlock() }
        return idle[bytes]?.popLast()
    }

    func give(_ memory: cl_mem, bytes: Int) {
        lock.lock()
        idle[bytes, default: []].append(memory)
        lock.unlock()
    }

    func drain() {
        lock.lock()
        let all = idle.values.flatMap { $0 }
        idle = [:]
        lock.unlock()
        for memory in all { clReleaseMemObject(memory) }
    }
}
