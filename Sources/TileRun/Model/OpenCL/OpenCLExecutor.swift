import Foundation

/// A float32 tensor in device memory (contiguous, row-major).
struct DeviceTensor {
    var shape: [Int]
    let buffer: DeviceBuffer
    var count: Int { shape.reduce(1, *) }
}

/// A value between steps on the device backend: where it currently lives.
enum StepValue {
    case host(Tensor)
    case device(DeviceTensor)

    var shape: [Int] {
        switch self {
        case .host(let t): return t.shape
        case .device(let d): return d.shape
        }
    }

    var element: TensorElement {
        if case .host(let t) = self { return t.element }
        return .float32
    }
}

/// Where the steps of a device run went, for `tilerun bench` and logs.
public struct DeviceExecutionReport: Sendable, CustomStringConvertible {
    /// The device, as `ComputeDevice.description` names it.
    public var device: String
    /// Steps run by device kernels (or needing no data movement), by op type.
    public var onDevice: [String: Int] = [:]
    /// Steps run by the CPU operator, by op type.
    public var onCPU: [String: Int] = [:]
    public var uploads = 0, uploadBytes = 0
    public var downloads = 0, downloadBytes = 0

    public var description: String {
        func list(_ counts: [String: Int]) -> String {
            counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        let cpu = onCPU.isEmpty ? "none on the CPU" : "\(onCPU.values.reduce(0, +)) on the CPU (\(list(onCPU)))"
        return "\(device): \(onDevice.values.reduce(0, +)) steps on the device (\(list(onDevice))), \(cpu); "
            + "\(uploads) uploads (\(uploadBytes) bytes), \(downloads) downloads (\(downloadBytes) bytes)"
    }
}

/// Runs a session's prepared steps on an OpenCL device: each step through its device operator when
/// there is one for the op and its inputs, else through its CPU operator with the inputs copied back.
/// Weights and other constants are uploaded once; intermediate values stay on the device.
///
/// A batch is submitted (its input sent, its kernels queued, its outputs' reads queued) and waited for
/// separately, so the caller can submit the next batch first: that batch's upload and the previous one's
/// download then run while the device computes.
///
/// Out of device memory, a batch is split in two and each half retried; any other device failure
/// finishes the batch on the CPU, and the session stays on the CPU from then on (`failure`, `onFailure`).
/// Either may show when the batch is submitted or when it is waited for.
final class OpenCLExecutor: @unchecked Sendable {
    unowned let session: InferenceSession
    let cl: OpenCLContext
    private let operators: [DeviceOperator?]
    /// Float constants already in device memory, by value name (guarded by `cl.lock`).
    private var uploadedConstants: [String: DeviceTensor] = [:]

    private let stateLock = NSLock()
    private var latestReport: DeviceExecutionReport?
    private var failureMessage: String?
    private var failureHandler: (@Sendable (String) -> Void)?
    /// Test hook: the next device batch throws `error` when it reaches step `step`, or, with
    /// `step == session.steps.count`, when it is waited for (as a device reports a failed command).
    /// Taken (read and cleared) under `stateLock`.
    var injectedFault: (step: Int, error: OpenCLError)?

    init(session: InferenceSession, device: OpenCLDevice) throws {
        self.session = session
        let cl = try OpenCLContext.shared(for: device)
        let constants = session.constants
        operators = try session.steps.map { try DeviceOperators.make(for: $0, opset: session.opset, constants: constants, cl: cl) }
        self.cl = cl
    }

    var report: DeviceExecutionReport? { locked { latestReport } }
    var failure: String? { locked { failureMessage } }
    var onFailure: (@Sendable (String) -> Void)? {
        get { locked { failureHandler } }
        set { locked { failureHandler = newValue } }
    }

    private func locked<T>(_ body: () -> T) -> T {
        stateLock.lock()
        defer { stateLock.unlock() }
        return body()
    }

    /// Runs one batch to the end.
    func run(_ feeds: [String: Tensor], threads: Int, observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> [String: Tensor] {
        try submit(feeds, threads: threads, observe: observe).outputs()
    }

    /// Queues a batch on the device; after a device failure, or when it cannot be queued, runs it now.
    func submit(_ feeds: [String: Tensor], threads: Int, observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> InferenceTicket {
        if failure != nil { return InferenceTicket(outputs: try session.runOnCPU(feeds, threads: threads, observe: observe)) }
        do {
            return InferenceTicket(batch: try enqueue(feeds, threads: threads, observe: observe), executor: self)
        } catch let error as OpenCLError {
            return InferenceTicket(outputs: try recover(from: error, feeds, threads: threads, observe: observe))
        }
    }

    /// The outputs of a queued batch, once its reads have completed.
    func wait(_ batch: DeviceBatch) throws -> [String: Tensor] {
        do {
            if let fault = takeInjectedFault(at: session.steps.count) {
                try batch.complete()
                throw fault
            }
            return try batch.outputs()
        } catch let error as OpenCLError {
            return try recover(from: error, batch.feeds, threads: batch.threads, observe: nil)
        }
    }

    private func takeInjectedFault(at step: Int) -> OpenCLError? {
        locked {
            guard let fault = injectedFault, fault.step == step else { return nil }
            injectedFault = nil
            return fault.error
        }
    }

    /// Out of memory: the batch again in halves (each split again as needed); otherwise on the CPU.
    private func recover(from error: OpenCLError, _ feeds: [String: Tensor], threads: Int,
                         observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> [String: Tensor] {
        if error.isOutOfMemory {
            cl.releaseIdleBuffers()
            if let (first, second) = Self.splitBatch(feeds) {
                let a = try run(first, threads: threads, observe: observe)
                let b = try run(second, threads: threads, observe: observe)
                if let joined = Self.joinBatch(a, b) { return joined }
            }
        }
        return try fallBack(error, feeds, threads: threads, observe: observe)
    }

    /// Records the failure, tells the handler once, and runs the batch on the CPU.
    private func fallBack(_ error: OpenCLError, _ feeds: [String: Tensor], threads: Int,
                          observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> [String: Tensor] {
        let message = "\(ComputeDevice.opencl(cl.device)) failed (\(error.description.split(separator: "\n").first ?? "")); continuing on the CPU"
        let handler: (@Sendable (String) -> Void)? = locked {
            guard failureMessage == nil else { return nil }
            failureMessage = message
            return failureHandler
        }
        handler?(message)
        return try session.runOnCPU(feeds, threads: threads, observe: observe)
    }

    /// Queues every step of a batch and the reads of its outputs. Values computed on the host go up on
    /// the upload queue; the batch holds them, and its outputs' device buffers, until it is over.
    private func enqueue(_ feeds: [String: Tensor], threads: Int,
                         observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> DeviceBatch {
        for input in session.inputs where feeds[input.name] == nil {
            throw ModelError(path: session.source, problem: "input '\(input.name)' was not given")
        }
        cl.lock.lock()
        defer { cl.lock.unlock() }
        let batch = DeviceBatch(feeds: feeds, threads: threads, device: cl.device.name)
        var queued = false
        defer {
            // A batch given up half-queued has no completion event yet: its commands are waited for
            // before what they use is released (and reused).
            if !queued {
                cl.waitForQueues()
                withExtendedLifetime(batch) {}
            }
        }
        var report = DeviceExecutionReport(device: ComputeDevice.opencl(cl.device).description)
        let context = ExecutionContext(threads: threads)
        var values = feeds.mapValues { StepValue.host($0) }
        let constants = session.constants
        for (index, step) in session.steps.enumerated() {
            if let fault = takeInjectedFault(at: index) { throw fault }
            let inputs = step.inputs.map { name -> StepValue? in
                name.isEmpty ? nil : values[name] ?? constants[name].map { .host($0) }
            }
            let deviceStep = DeviceStep(executor: self, batch: batch, names: step.inputs, values: inputs)
            var outputs: [StepValue]
            do {
                if let op = operators[index], let result = try op.run(deviceStep) {
                    outputs = result
                    report.onDevice[step.node.opType, default: 0] += 1
                } else {
                    let hostInputs = try inputs.map { try $0.map { try hostTensor($0, &deviceStep.transfers) } }
                    outputs = try step.op.run(hostInputs, context).map { .host($0) }
                    report.onCPU[step.node.opType, default: 0] += 1
                }
            } catch let error as GraphError {
                throw ModelError(path: session.source, problem: error.description)
            }
            report.add(deviceStep.transfers)
            if let observe {
                try cl.finish()
                observe(step.node, inputs.map { $0?.shape ?? [] }, outputs.map(\.shape))
            }
            for (name, value) in zip(step.outputs, outputs) where !name.isEmpty { values[name] = value }
            for name in step.releases { values[name] = nil }
        }
        let done = try cl.marker()
        batch.events.append(done)
        for name in session.outputNames {
            switch values[name] ?? constants[name].map({ .host($0) }) {
            case nil:
                throw ModelError(path: session.source, problem: "output '\(name)' was not computed")
            case .host(let t)?:
                batch.ready[name] = t
            case .device(let d)?:
                let (staging, read) = try cl.downloadAsync(d.buffer, count: d.count, after: done)
                batch.reads.append((name, d.shape, staging))
                batch.events.append(read)
                batch.held.append(d.buffer)
                report.downloads += 1
                report.downloadBytes += d.count * 4
            }
        }
        locked { latestReport = report }
        queued = true
        return batch
    }

    /// The value as a host tensor, reading it back from the device if it is there.
    func hostTensor(_ value: StepValue, _ transfers: inout Transfers) throws -> Tensor {
        switch value {
        case .host(let t): return t
        case .device(let d):
            transfers.downloads += 1
            transfers.downloadBytes += d.count * 4
            return Tensor(shape: d.shape, floats: try cl.download(d.buffer, count: d.count, as: Float.self))
        }
    }

    /// A float tensor in device memory: constants are uploaded on first use and kept; other host values
    /// go up with the batch.
    func deviceTensor(_ value: StepValue, name: String, batch: DeviceBatch, _ transfers: inout Transfers) throws -> DeviceTensor {
        switch value {
        case .device(let d): return d
        case .host(let t):
            guard let floats = t.floats else { throw OpenCLError(0, "uploading \(t.element.rawValue) value '\(name)'") }
            if let kept = uploadedConstants[name] { return kept }
            transfers.uploads += 1
            transfers.uploadBytes += floats.count * 4
            guard !name.isEmpty, session.constants[name] != nil else {
                return DeviceTensor(shape: t.shape, buffer: try batch.upload(floats, cl))
            }
            let tensor = DeviceTensor(shape: t.shape, buffer: try cl.upload(floats))
            uploadedConstants[name] = tensor
            return tensor
        }
    }

    /// Splits every feed in two along axis 0; nil unless all feeds share a leading dimension above 1.
    static func splitBatch(_ feeds: [String: Tensor]) -> ([String: Tensor], [String: Tensor])? {
        guard let n = feeds.first?.value.shape.first, n > 1,
              feeds.values.allSatisfy({ $0.shape.first == n && $0.floats != nil }) else { return nil }
        let half = n / 2
        var a: [String: Tensor] = [:], b: [String: Tensor] = [:]
        for (name, t) in feeds {
            let per = t.count / n
            var shape = t.shape
            shape[0] = half
            a[name] = Tensor(shape: shape, floats: Array(t.floats![..<(half * per)]))
            shape[0] = n - half
            b[name] = Tensor(shape: shape, floats: Array(t.floats![(half * per)...]))
        }
        return (a, b)
    }

    /// Joins two halves' outputs along axis 0; nil when an output is not batched that way.
    static func joinBatch(_ a: [String: Tensor], _ b: [String: Tensor]) -> [String: Tensor]? {
        var out: [String: Tensor] = [:]
        for (name, x) in a {
            guard let y = b[name], x.rank > 0, Array(x.shape.dropFirst()) == Array(y.shape.dropFirst()) else { return nil }
            let shape = [x.shape[0] + y.shape[0]] + x.shape.dropFirst()
            switch (x.storage, y.storage) {
            case let (.float(p), .float(q)): out[name] = Tensor(shape: shape, floats: p + q)
            case let (.int64(p), .int64(q)): out[name] = Tensor(shape: shape, int64s: p + q)
            case let (.bool(p), .bool(q)): out[name] = Tensor(shape: shape, bools: p + q)
            default: return nil
            }
        }
        return out
    }
}

/// Copies between host and device during one step.
struct Transfers {
    var uploads = 0, uploadBytes = 0, downloads = 0, downloadBytes = 0
}

extension DeviceExecutionReport {
    mutating func add(_ t: Transfers) {
        uploads += t.uploads
        uploadBytes += t.uploadBytes
        downloads += t.downloads
        downloadBytes += t.downloadBytes
    }
}

/// A batch queued on the device: what its commands use, kept until they are over, and its outputs.
final class DeviceBatch: @unchecked Sendable {
    /// The batch itself, to run again in halves or on the CPU after a failure.
    let feeds: [String: Tensor]
    let threads: Int
    private let device: String
    /// Outputs already on the host.
    var ready: [String: Tensor] = [:]
    /// Outputs on their way into pinned host memory.
    var reads: [(name: String, shape: [Int], staging: HostStaging)] = []
    /// The batch's last compute command, then its reads: once they are over, nothing uses `held`.
    var events: [DeviceEvent] = []
    /// Device buffers and host memory the queued commands use.
    var held: [AnyObject] = []

    init(feeds: [String: Tensor], threads: Int, device: String) {
        self.feeds = feeds
        self.threads = threads
        self.device = device
    }

    /// Dropped unfinished (the caller gave up), the batch still waits for its commands, so that the
    /// buffers they write are not reused meanwhile.
    deinit { try? complete() }

    /// A copy of `values` sent on the upload queue, held until the batch is over.
    func upload<T>(_ values: [T], _ cl: OpenCLContext) throws -> DeviceBuffer {
        let (buffer, staging) = try cl.uploadAsync(values)
        held += [buffer, staging]
        return buffer
    }

    /// Waits for every command of the batch (all of them, even after one failed); then releases what they used.
    func complete() throws {
        var failure: Error?
        for event in events {
            do { try event.wait(device) } catch { failure = failure ?? error }
        }
        events = []
        held = []
        if let failure { throw failure }
    }

    /// Waits for the batch and returns its outputs.
    func outputs() throws -> [String: Tensor] {
        try complete()
        var outputs = ready
        for read in reads {
            let count = read.shape.reduce(1, *)
            let pointer = read.staging.pointer.assumingMemoryBound(to: Float.self)
            outputs[read.name] = Tensor(shape: read.shape, floats: Array(UnsafeBufferPointer(start: pointer, count: count)))
        }
        return outputs
    }
}

/// What a device operator sees of its step: the inputs wherever they are, and the device.
final class DeviceStep {
    unowned let executor: OpenCLExecutor
    let batch: DeviceBatch
    let names: [String]
    let values: [StepValue?]
    var transfers = Transfers()

    init(executor: OpenCLExecutor, batch: DeviceBatch, names: [String], values: [StepValue?]) {
        self.executor = executor
        self.batch = batch
        self.names = names
        self.values = values
    }

    var cl: OpenCLContext { executor.cl }
    var count: Int { values.count }

    func shape(_ i: Int) -> [Int]? { i < values.count ? values[i]?.shape : nil }

    /// Input `i` is present and float32 (on the device or on the host).
    func isFloat(_ i: Int) -> Bool { i < values.count && values[i]?.element == .float32 }

    /// Input `i` is present and already in device memory.
    func isOnDevice(_ i: Int) -> Bool {
        if i < values.count, case .device? = values[i] { return true }
        return false
    }

    /// Input `i` in device memory (uploaded if needed); it must be float32.
    func device(_ i: Int) throws -> DeviceTensor {
        guard let value = values[i] else { throw OpenCLError(0, "input \(i + 1) is missing") }
        return try executor.deviceTensor(value, name: names[i], batch: batch, &transfers)
    }

    /// Input `i` on the host (read back if needed), or nil when it is omitted.
    func host(_ i: Int) throws -> Tensor? {
        guard i < values.count, let value = values[i] else { return nil }
        return try executor.hostTensor(value, &transfers)
    }

    /// A device copy of step parameters computed on the host (counted as an upload): sent with the
    /// batch, or, with `pooled: false`, copied now into a buffer the operator keeps across runs.
    func upload<T>(_ values: [T], pooled: Bool = true) throws -> DeviceBuffer {
        transfers.uploads += 1
        transfers.uploadBytes += values.count * MemoryLayout<T>.stride
        return pooled ? try batch.upload(values, cl) : try cl.upload(values)
    }

    /// A new device tensor of `shape`, contents undefined.
    func output(_ shape: [Int]) throws -> DeviceTensor {
        let count = shape.reduce(1, *)
        guard count < Int(Int32.max) else { throw OpenCLError(0, "a tensor of \(count) values exceeds the kernels' 32-bit indexing") }
        return DeviceTensor(shape: shape, buffer: try cl.buffer(count: count))
    }
}
